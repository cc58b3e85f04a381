"""``save`` / ``load``: a module as its script plus its weights beside it.

The script is the one ``mod.script()`` prints, with every large constant written as
``metadata["relax.expr.Constant"][i]``; the constants go to ``<path>.npz`` in that order. So a
model round-trips through text people can read and diff (Apache TVM prints its weights as
``metadata[...]`` too, but cannot read them back without its JSON section).
"""

from __future__ import annotations

import io
import os
import zipfile
from typing import Any

import numpy as np

from .ir import IRModule
from .ir.function import BaseFunc


def weights_path(path: "str | os.PathLike[str]") -> str:
    """Where ``save`` puts the weights of the script at ``path``."""
    return os.fspath(path) + ".npz"


def save(obj: "IRModule | BaseFunc", path: "str | os.PathLike[str]") -> None:
    """Write ``obj``'s script to ``path`` and its large constants to ``<path>.npz``.

    Both files are written next to their final names and renamed into place, so an
    interrupted save leaves the previous pair intact."""
    from .script.printer import print_with_metadata

    if not isinstance(obj, (IRModule, BaseFunc)):
        raise TypeError(f"save takes an IRModule or a function, got {type(obj).__name__}")
    text, constants = print_with_metadata(obj)
    path = os.fspath(path)
    arrays = {f"c{i}": c.data for i, c in enumerate(constants)}
    tmp_text, tmp_weights = path + ".tmp", weights_path(path) + ".tmp"
    with open(tmp_text, "w", encoding="utf-8") as f:
        f.write(text)
    with open(tmp_weights, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp_weights, weights_path(path))
    os.replace(tmp_text, path)


def load(path: "str | os.PathLike[str]") -> Any:
    """Read what ``save`` wrote (the script, and its weights when it has any)."""
    from .script.parser import from_source

    path = os.fspath(path)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    constants: list[np.ndarray] | None = None
    wpath = weights_path(path)
    if os.path.exists(wpath):
        try:
            with np.load(wpath, allow_pickle=False) as data:
                constants = [data[f"c{i}"] for i in range(len(data.files))]
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            raise ValueError(f"{wpath}: not the weights file tvmscript.save writes ({exc})") \
                from None
    return from_source(text, filename=path, metadata=constants)


def to_bytes(obj: "IRModule | BaseFunc") -> bytes:
    """``obj``'s script and weights in one zip archive (what a model's exported library embeds)."""
    from .script.printer import print_with_metadata

    text, constants = print_with_metadata(obj)
    weights = io.BytesIO()
    np.savez(weights, **{f"c{i}": c.data for i, c in enumerate(constants)})
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("module.py", text)
        archive.writestr("weights.npz", weights.getvalue())
    return out.getvalue()


def from_bytes(data: "bytes | memoryview", origin: str = "<bytes>") -> Any:
    """What ``to_bytes`` wrote; ``origin`` names it in errors. ``data`` may be a memoryview
    (a loaded library's read-only bytes): the weights are read out of it once, not copied
    whole first."""
    from .script.parser import from_source

    try:
        with zipfile.ZipFile(_ViewFile(memoryview(data).cast("B"))) as archive:
            text = archive.read("module.py").decode()
            with archive.open("weights.npz") as stream, \
                    np.load(stream, allow_pickle=False) as w:
                constants = [_frozen(w[f"c{i}"]) for i in range(len(w.files))]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{origin}: not a module archive written by tvmscript ({exc})") from None
    return from_source(text, filename=f"{origin}:module.py", metadata=constants)


def _frozen(array: np.ndarray) -> np.ndarray:
    """Read-only, so the constant made of it keeps it instead of copying it."""
    array.setflags(write=False)
    return array


class _ViewFile(io.RawIOBase):
    """A seekable read-only file over a memoryview (``io.BytesIO`` would copy it)."""

    def __init__(self, view: memoryview) -> None:
        self.view, self.pos = view, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.pos, 2: len(self.view)}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def readinto(self, buffer: Any) -> int:
        chunk = self.view[self.pos:self.pos + len(buffer)]
        n = len(chunk)
        memoryview(buffer).cast("B")[:n] = chunk
        self.pos += n
        return n


__all__ = ["from_bytes", "load", "save", "to_bytes", "weights_path"]
