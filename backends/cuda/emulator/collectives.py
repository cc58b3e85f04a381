"""Warp-collective operations of the emulator: what happens when all lanes of a warp meet.

Why a registry: a warp shuffle, a WMMA load/mma/store or a ``ptx_mma`` is one operation of the
whole warp, not of one thread. The emulator runs each thread as a Python generator; a call of a
registered op makes the thread *yield* with its evaluated arguments. When every lane of the warp
that is still running has arrived at the same call (the same IR node), the registered function
runs once with all their arguments, and each lane resumes with its result. The tensor-core
session registers the WMMA / ``ptx_*`` ops here; the warp shuffles are registered below.

Signature of a collective function::

    def fn(call: WarpCall) -> Sequence[Any] | None

``call.lanes`` holds one :class:`LaneCall` per arriving lane, in lane order; ``lane.args`` are
the call's arguments evaluated by that lane:

- integers are Python ``int``; floats numpy scalars of their dtype (``np.float16(...)``);
  vectors 1-D numpy arrays; ``StringImm`` (layouts such as ``"row_major"``, dtypes of ``ptx_mma``)
  ``str``; ``T.type_annotation(...)`` ``None``;
- a buffer's data variable (``tvm_load_matrix_sync(C_frag, ...)``), ``T.tvm_access_ptr(
  T.type_annotation("float16"), A_shared, off, extent, rw)`` and ``T.address_of(A[i])`` become
  a :class:`Ref`: ``ref.array`` is the flat numpy array of the storage as its allocation's dtype
  (global arrays are the kernel's arguments, shared ones the block's copy, local ones the lane's
  own, ``wmma.*`` fragments ONE array per warp: every lane's ``Ref`` points at the same array),
  ``ref.offset`` the element offset (0 for a bare data variable; the access_ptr's offset),
  ``ref.name``/``ref.scope`` the allocation's name and scope (``"global"``, ``"shared"``,
  ``"shared.dyn"``, ``"local"``, ``"wmma.matrix_a"``, ``"wmma.matrix_b"``,
  ``"wmma.accumulator"``, ...). ``ref.extent`` is the access_ptr's extent (None otherwise).

A fragment allocation (e.g. ``T.allocate([512], "float16", "wmma.matrix_a")`` holding two 16x16
fragments) is emulated as a flat array of that many elements per warp, uninitialised (NaN); the
natural layout for ``fn`` is fragment ``index`` as a row-major ``m x n`` (``m x k`` for
``matrix_a``, ``k x n`` for ``matrix_b``) tile at elements ``[index * tile, (index + 1) * tile)``
— the emulator itself never looks inside a fragment, so that choice is the registering session's.

Return either ``None`` (the op is a statement: it wrote arrays) or a sequence with one result
per entry of ``call.lanes`` (the value of the call expression in that lane, of ``call.dtype``).
Raise :class:`CollectiveError` (a ``ValueError``) for bad arguments: the emulator re-raises it
as an ``EmulatorError`` naming the kernel, the block, the warp and the statement.

Shared-memory race detection cannot see inside ``fn``; a collective that reads or writes shared
memory reports it with ``call.note_read(ref, offsets)`` / ``call.note_write(ref, offsets)``
(``offsets``: an iterable of element offsets into ``ref.array``, or a numpy array of them) so a
missing barrier around ``tvm_store_matrix_sync``/``ptx_ldmatrix`` is caught like any other; the
accesses count as made by the call's first lane.
The lanes are numbered 0..31 by linear thread id (``threadIdx.x`` fastest) within the block.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

WARP_SIZE = 32


class CollectiveError(ValueError):
    """A warp-collective op got arguments it cannot execute (the emulator adds where)."""


@dataclass(frozen=True, slots=True)
class Ref:
    """A pointer argument: flat storage, an element offset, and what the storage is."""

    array: np.ndarray
    offset: int = 0
    name: str = ""
    scope: str = "global"
    extent: int | None = None
    key: int = -1  # the emulator's number for the allocation (race detection)

    def view(self, count: int) -> np.ndarray:
        """``count`` elements from the offset on (a numpy view; writes go to the storage)."""
        if self.offset < 0 or self.offset + count > self.array.size:
            raise CollectiveError(
                f"{count} elements at offset {self.offset} of {self.scope} buffer {self.name!r} "
                f"are out of bounds (it holds {self.array.size})"
            )
        return self.array[self.offset:self.offset + count]


@dataclass(frozen=True, slots=True)
class LaneCall:
    """One lane's arrival at a collective: its lane id, threadIdx and evaluated arguments."""

    lane: int
    thread: tuple[int, int, int]
    args: tuple[Any, ...]


@dataclass(slots=True)
class WarpCall:
    """One execution of a collective op by the lanes of a warp that reached it together."""

    op: str  # "tir.tvm_warp_shuffle_down", "tir.tvm_mma_sync", ...
    dtype: str  # the call's result dtype ("handle" for statement-like ops)
    lanes: list[LaneCall]
    warp: int  # the warp's index within its block
    block: tuple[int, int, int]
    kernel: str
    statement: str  # the script text of the statement holding the call
    warp_size: int = WARP_SIZE
    _accesses: list[tuple[Ref, Any, bool]] = field(default_factory=list)

    def note_read(self, ref: Ref, offsets: Iterable[int] | np.ndarray) -> None:
        """Report that the op read these elements of ``ref.array`` (for race detection)."""
        self._accesses.append((ref, offsets, False))

    def note_write(self, ref: Ref, offsets: Iterable[int] | np.ndarray) -> None:
        """Report that the op wrote these elements of ``ref.array`` (for race detection)."""
        self._accesses.append((ref, offsets, True))

    @property
    def arg_rows(self) -> list[tuple[Any, ...]]:
        """The arguments of every lane (a convenience for ops whose args are warp-uniform)."""
        return [lane.args for lane in self.lanes]


CollectiveFn = Callable[[WarpCall], "Sequence[Any] | None"]

_REGISTRY: dict[str, CollectiveFn] = {}


def _op_name(op: str) -> str:
    return op if op.startswith("tir.") else "tir." + op


def register_collective(op: str, fn: CollectiveFn, *, override: bool = False) -> None:
    """Make calls of ``op`` (``"tvm_mma_sync"`` or ``"tir.tvm_mma_sync"``) warp-collective,
    executed by ``fn`` (see the module docstring); a second registration needs ``override``."""
    name = _op_name(op)
    if name in _REGISTRY and not override and _REGISTRY[name] is not fn:
        raise ValueError(f"a warp-collective op {name!r} is already registered")
    _REGISTRY[name] = fn


def unregister_collective(op: str) -> None:
    """Make ``op`` an ordinary call again (tests that register a stand-in use this)."""
    _REGISTRY.pop(_op_name(op), None)


# ops whose collective functions live in ``tensor_core.py`` (imported on first use, so that a
# kernel using them runs wherever it is emulated from)
_TENSOR_CORE_OPS = frozenset(f"tir.{name}" for name in (
    "tvm_fill_fragment", "tvm_load_matrix_sync", "tvm_mma_sync", "tvm_store_matrix_sync",
    "ptx_ldmatrix", "ptx_mma"))
_tensor_core_loaded = False


def lookup_collective(op: str) -> CollectiveFn | None:
    """The function registered for ``op``, or None when it is not warp-collective."""
    global _tensor_core_loaded
    name = _op_name(op)
    if name not in _REGISTRY and name in _TENSOR_CORE_OPS and not _tensor_core_loaded:
        _tensor_core_loaded = True
        try:
            from . import tensor_core  # noqa: F401  (registers its ops)
        except ImportError:
            pass
    return _REGISTRY.get(name)


def is_collective(op: str) -> bool:
    return lookup_collective(op) is not None


# ---------------------------------------------------------------- built-in: warp shuffles


def _mask_of(call: WarpCall) -> int:
    return sum(1 << lane.lane for lane in call.lanes)


def _activemask(call: WarpCall) -> list[int]:
    """``__activemask()``: the lanes that arrived together, as a (signed 32-bit) mask."""
    mask = _mask_of(call)
    value = mask - (1 << 32) if mask >= 1 << 31 else mask
    return [value] * len(call.lanes)


def _shuffle(source_lane: Callable[[int, int, int], int]) -> CollectiveFn:
    """A shuffle whose lane ``l`` reads the value of ``source_lane(l, operand, width)``, as
    ``__shfl*_sync``: out-of-segment sources (``_up``/``_down``) give the lane its own value."""

    def run(call: WarpCall) -> list[Any]:
        values = {lane.lane: lane.args[1] for lane in call.lanes}
        arrived = _mask_of(call)
        out = []
        for lane in call.lanes:
            mask, _, operand, width, warp_size = lane.args
            mask &= (1 << 32) - 1
            if mask & ~arrived:
                missing = [i for i in range(32) if mask >> i & 1 and not arrived >> i & 1]
                raise CollectiveError(
                    f"lane {lane.lane} shuffles with mask {mask:#010x}, but lanes {missing} of "
                    "that mask did not reach this shuffle (they diverged or exited)"
                )
            if warp_size != call.warp_size or width <= 0 or width & (width - 1) \
                    or width > call.warp_size:
                raise CollectiveError(
                    f"shuffle width {width} / warp size {warp_size}: the width must be a power "
                    f"of two at most {call.warp_size} and the warp size {call.warp_size}"
                )
            src = source_lane(lane.lane, operand, width)
            if src not in values:
                raise CollectiveError(
                    f"lane {lane.lane} reads lane {src}, which did not reach this shuffle"
                )
            out.append(values[src])
        return out

    return run


def _indexed(lane: int, src: int, width: int) -> int:
    return (lane & ~(width - 1)) + (src % width)


def _up(lane: int, delta: int, width: int) -> int:
    return lane - delta if (lane % width) - delta >= 0 else lane


def _down(lane: int, delta: int, width: int) -> int:
    return lane + delta if (lane % width) + delta < width else lane


register_collective("tvm_warp_activemask", _activemask)
register_collective("tvm_warp_shuffle", _shuffle(_indexed))
register_collective("tvm_warp_shuffle_up", _shuffle(_up))
register_collective("tvm_warp_shuffle_down", _shuffle(_down))

__all__ = [
    "WARP_SIZE",
    "CollectiveError",
    "CollectiveFn",
    "LaneCall",
    "Ref",
    "WarpCall",
    "is_collective",
    "lookup_collective",
    "register_collective",
    "unregister_collective",
]
