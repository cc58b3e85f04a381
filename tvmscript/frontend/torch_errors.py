"""Errors of the PyTorch importer, and where they point: the ATen operator, the graph node and
the user's source line.
"""

from __future__ import annotations

import os
from typing import Any


class TorchImportError(ValueError):
    """The exported program uses something the importer cannot translate; the message names
    the ATen operator, the graph node and the user's source line."""


class UnsupportedOperatorError(TorchImportError, NotImplementedError):
    """An ATen operator (or Python function) that no converter translates."""


def _key(target: Any) -> str:
    """``aten.conv2d`` for an ATen overload, ``operator.getitem`` for a Python function."""
    namespace = getattr(target, "namespace", None)
    if namespace is not None and hasattr(target, "_opname"):
        return f"{namespace}.{target._opname}"
    module = getattr(target, "__module__", None) or ""
    module = module.split(".")[0].lstrip("_") or "python"  # operator.add lives in _operator
    return f"{module}.{getattr(target, '__name__', repr(target))}"


def _describe_target(target: Any) -> str:
    name = getattr(target, "__name__", None) if not hasattr(target, "_schema") else None
    return f"the Python function {_key(target)}" if name else f"the ATen operator {target}"


def _location(node: Any) -> list[str]:
    """The user's frame of the node's stack trace (the deepest one outside torch)."""
    trace = node.meta.get("stack_trace") if hasattr(node, "meta") else None
    if not trace:
        return []
    frames: list[tuple[str, str]] = []
    lines = trace.strip("\n").splitlines()
    for i, line in enumerate(lines):
        text = line.strip()
        if text.startswith("File "):
            code = lines[i + 1].strip() if i + 1 < len(lines) and \
                not lines[i + 1].strip().startswith("File ") else ""
            frames.append((text, code))
    if not frames:
        return []
    import torch

    torch_dir = os.path.dirname(torch.__file__)
    user = [f for f in frames if torch_dir not in f[0]]
    where, code = (user or frames)[-1]
    parts = where[5:].split(", ")  # '"path", line N, in func'
    path = parts[0].strip('"')
    line = parts[1].replace("line ", "") if len(parts) > 1 else "?"
    func = parts[2].replace("in ", "") if len(parts) > 2 else "?"
    out = [f"  --> {path}:{line} (in {func})"]
    if code:
        out.append(f"   |     {code}")
    return out
