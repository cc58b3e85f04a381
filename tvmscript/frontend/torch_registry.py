"""The converter table: ``_converts`` registers a converter under ATen operator names, with
the library operators it cannot do without.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..ir.graph_ops import get_op

if TYPE_CHECKING:
    from .torch_importer import _Importer


_CONVERTERS: dict[str, Callable[[_Importer, dict], Any]] = {}
_NEEDS: dict[str, tuple[str, ...]] = {}  # the library operators each converter cannot do without
# shape and view operators folded by the converters themselves, and those that must not run
_NO_FOLD = {"aten.sym_size", "aten._assert_tensor_metadata", "aten._assert_scalar",
            "aten.sym_constrain_range_for_size", "aten.sym_constrain_range"}


def _converts(*names: str, needs: tuple[str, ...] = ()) -> Callable:
    def register(fn: Callable) -> Callable:
        for name in names:
            key = name if "." in name else "aten." + name
            _CONVERTERS[key] = fn
            _NEEDS[key] = needs
        return fn

    return register


def _translatable(key: str) -> bool:
    return key in _CONVERTERS and all(get_op(op) is not None for op in _NEEDS[key])
