"""Values between torch, numpy and the graph: dtype names, weights as arrays, and the
argument helpers the converters share.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..ir import graph as G
from .torch_errors import TorchImportError


class _Unavailable:
    """An output of an ATen operator that the translation does not compute (the indices of
    ``max_pool2d_with_indices``, the statistics of ``native_layer_norm``)."""

    def __init__(self, what: str) -> None:
        self.what = what


def _dtype(torch_dtype: Any) -> str:
    return str(torch_dtype).replace("torch.", "")


def _torch_dtype(name: str) -> Any:
    import torch

    return getattr(torch, name)


def _numpy(tensor: Any, what: str) -> np.ndarray:
    try:
        return tensor.cpu().contiguous().numpy().copy()
    except (TypeError, RuntimeError) as exc:
        raise TorchImportError(f"{what} has dtype {_dtype(tensor.dtype)}, which numpy cannot "
                               f"hold ({exc})") from None


def _scalar_dtype(value: Any) -> str:
    return "bool" if isinstance(value, bool) else "int64" if isinstance(value, int) else \
        "float32"


def _what(value: Any) -> str:
    if isinstance(value, _Unavailable):
        return value.what
    if isinstance(value, G.GraphExpr):
        return f"a value of struct info {type(value.struct_info).__name__}"
    return f"{type(value).__name__} {value!r}"


def _axis(dim: int, ndim: int) -> int:
    return dim + ndim if dim < 0 else dim


def _first(a: dict) -> Any:
    return next(iter(a.values()))


def _ints(value: Any, count: int) -> tuple:
    """A torch ``int[2]`` argument (one int, or a list of one or ``count``) as ``count`` ints."""
    if isinstance(value, (list, tuple)):
        value = tuple(value)
        return value * count if len(value) == 1 else value
    return (value,) * count
