"""Intel AMX: the tile intrinsics both backends understand, and the permission Linux requires.

Tiles are LLVM's ``.internal`` intrinsics (the ones Clang's ``__tile1024i`` API emits): each
takes its tile shape as operands, and LLVM writes the 64-byte tile configuration and allocates
the eight tile registers itself. In the script a tile is an ``int32x256`` value (1024 bytes: 16
rows of 64 bytes), so an implementation nests them::

    T.call_llvm_intrin("void", "llvm.x86.tilestored64.internal", 16, 64, T.address_of(C[0, 0]), sc,
        T.call_llvm_intrin("int32x256", "llvm.x86.tdpbf16ps.internal", 16, 64, 64, c_tile, a_tile, b_tile))

Shapes are rows (at most 16) and bytes per row (at most 64); strides are in bytes. A tile
operand is always such a nested call, of the shape its consumer uses (``tile_operand_problem``).

Linux hands out AMX tile state per process, on request (``arch_prctl(ARCH_REQ_XCOMP_PERM,
XFEATURE_XTILEDATA)``); an AMX instruction before that kills the process with SIGILL, which no
Python code can catch. ``unavailable_reason()`` asks once per process and says why AMX cannot run
(``None`` when it can); AMX intrinsics are registered, and AMX code is run, only after it said yes.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys
from collections.abc import Sequence
from functools import cache
from typing import Any

TILE_DTYPE = "int32x256"  # a tile's value in the script: 1024 bytes
MAX_ROWS, MAX_COLSB = 16, 64

# operand kinds: "rows"/"colsb"/"k" (i16 shape constants), "ptr", "stride" (i64 bytes), "tile"
_TDP = ("rows", "colsb", "k", "tile", "tile", "tile")
TILE_INTRINSICS: dict[str, tuple[tuple[str, ...], str]] = {
    "llvm.x86.tileloadd64.internal": (("rows", "colsb", "ptr", "stride"), "tile"),
    "llvm.x86.tileloaddt164.internal": (("rows", "colsb", "ptr", "stride"), "tile"),
    "llvm.x86.tilezero.internal": (("rows", "colsb"), "tile"),
    "llvm.x86.tilestored64.internal": (("rows", "colsb", "ptr", "stride", "tile"), "void"),
    "llvm.x86.tdpbssd.internal": (_TDP, "tile"),
    "llvm.x86.tdpbsud.internal": (_TDP, "tile"),
    "llvm.x86.tdpbusd.internal": (_TDP, "tile"),
    "llvm.x86.tdpbuud.internal": (_TDP, "tile"),
    "llvm.x86.tdpbf16ps.internal": (_TDP, "tile"),
}

# arch_prctl (x86-64 Linux)
_SYS_ARCH_PRCTL = 158
_ARCH_GET_XCOMP_PERM = 0x1022
_ARCH_REQ_XCOMP_PERM = 0x1023
_XFEATURE_XTILEDATA = 18


def is_tile_intrinsic(name: str) -> bool:
    return name in TILE_INTRINSICS


def limit_problem(kind: str, value: int) -> str | None:
    """Why ``value`` cannot be the tile dimension ``kind`` ("rows", "colsb", "k"), or None:
    at most 16 rows of at most 64 bytes, bytes in whole 4-byte elements."""
    limit = MAX_ROWS if kind == "rows" else MAX_COLSB
    if 0 < value <= limit and (kind == "rows" or value % 4 == 0):
        return None
    rule = f"1..{limit}" + ("" if kind == "rows" else ", a multiple of 4")
    return f"{kind} is {value}, outside the tile limits ({rule})"


def tile_producer(expr: Any) -> str | None:
    """The callee of ``expr`` when it is a tile intrinsic that returns a tile, else None."""
    from tvmscript.ir import expr as E

    if isinstance(expr, E.Call) and expr.op in ("tir.call_llvm_intrin",
                                                 "tir.call_llvm_pure_intrin") \
            and expr.args and isinstance(expr.args[0], E.StringImm):
        spec = TILE_INTRINSICS.get(expr.args[0].value)
        if spec is not None and spec[1] == "tile":
            return expr.args[0].value
    return None


def _constants(args: Sequence[Any], n: int) -> tuple[int, ...] | None:
    from tvmscript.ir import expr as E

    if len(args) < n or not all(isinstance(a, E.IntImm) for a in args[:n]):
        return None
    return tuple(a.value for a in args[:n])


def produced_shape(expr: Any) -> tuple[int, int] | None:
    """(rows, bytes per row) of the tile a nested tile intrinsic call produces (None when
    ``expr`` is no such call or its shape is not constant)."""
    if tile_producer(expr) is None:
        return None
    return _constants(expr.args[1:], 2)  # loads and tilezero: rows, colsb; tdp*: m, n


def tile_operand_problem(name: str, args: Sequence[Any]) -> str | None:
    """Why the tiles passed to ``name`` are not what it needs, or None.

    Each tile register is configured once, with the shape of the instruction that produced it
    (LLVM follows a tile through variables too), so a consumer expecting another shape would
    fault (SIGILL) or, for a store, write past its buffer. Tiles are therefore passed as tile
    intrinsic calls written inside their consumer, whose shapes are checked here. ``args`` are
    the call's operands after the callee's name.
    """
    kinds, _ = TILE_INTRINSICS[name]
    for index, kind in enumerate(kinds):
        if kind == "tile" and index < len(args) and tile_producer(args[index]) is None:
            return (f"operand {index} of {name} must be a tile intrinsic call written inside it "
                    "(a tileloadd64 / tilezero / tdp* call); a tile kept in a variable or made "
                    "otherwise would keep a shape this call cannot check")
    if kinds == _TDP:
        dims = _constants(args, 3)
        if dims is None:
            return None
        m, n, k = dims
        wanted = {3: ((m, n), "the destination (m x n)"), 4: ((m, k), "A (m x k)"),
                  5: ((k // 4, n), "B (k/4 x n)")}
    elif name == "llvm.x86.tilestored64.internal":
        dims = _constants(args, 2)
        if dims is None:
            return None
        wanted = {4: (dims, "the stored tile")}
    else:
        return None
    for index, (shape, role) in wanted.items():
        got = produced_shape(args[index]) if index < len(args) else None
        if got is not None and got != shape:
            return (f"operand {index} of {name}, {role}, must be a {shape[0]} x {shape[1]}-byte "
                    f"tile, but the tile passed was loaded or computed as {got[0]} x {got[1]} "
                    "bytes (a tile keeps the shape it was made with)")
    return None


@cache
def unavailable_reason() -> str | None:
    """Why AMX instructions cannot run in this process, or None once Linux has granted them."""
    from .target import has_feature

    if platform.machine() not in ("x86_64", "AMD64"):
        return f"AMX is an x86-64 feature and this machine is {platform.machine()}"
    if not has_feature("amx-tile"):
        return "this CPU has no AMX (amx-tile)"
    if not sys.platform.startswith("linux"):
        return f"tvmscript requests AMX tile state from Linux only (this is {sys.platform})"
    return request_tile_permission()


def request_tile_permission() -> str | None:
    """Ask Linux for AMX tile data in this process; the refusal as a sentence, or None."""
    libc = ctypes.CDLL(None, use_errno=True)
    syscall = libc.syscall
    syscall.restype = ctypes.c_long
    if syscall(ctypes.c_long(_SYS_ARCH_PRCTL), ctypes.c_long(_ARCH_REQ_XCOMP_PERM),
               ctypes.c_ulong(_XFEATURE_XTILEDATA)) != 0:
        err = ctypes.get_errno()
        return ("Linux refused AMX tile state to this process (arch_prctl(ARCH_REQ_XCOMP_PERM) "
                f"failed: {os.strerror(err)}; AMX needs an AMX CPU and Linux 5.16 or newer)")
    granted = ctypes.c_ulong(0)
    if syscall(ctypes.c_long(_SYS_ARCH_PRCTL), ctypes.c_long(_ARCH_GET_XCOMP_PERM),
               ctypes.byref(granted)) != 0 or not granted.value >> _XFEATURE_XTILEDATA & 1:
        return "Linux did not grant AMX tile state to this process (ARCH_GET_XCOMP_PERM)"
    return None


def run_refusal(needs: "tuple[str, ...] | list[str]") -> str | None:
    """Why code needing the process-level features ``needs`` (``"amx"``) must not run here."""
    if "amx" in needs:
        return unavailable_reason()
    return None


__all__ = ["TILE_DTYPE", "TILE_INTRINSICS", "is_tile_intrinsic", "limit_problem", "produced_shape",
           "request_tile_permission", "run_refusal", "tile_operand_problem", "tile_producer",
           "unavailable_reason"]
