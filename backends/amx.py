"""Intel AMX: the tile intrinsics both backends understand, and the permission Linux requires.

Tiles are LLVM's ``.internal`` intrinsics (the ones Clang's ``__tile1024i`` API emits): each
takes its tile shape as operands, and LLVM writes the 64-byte tile configuration and allocates
the eight tile registers itself. In the script a tile is an ``int32x256`` value (1024 bytes: 16
rows of 64 bytes), so an implementation nests them::

    T.call_llvm_intrin("void", "llvm.x86.tilestored64.internal", 16, 64, T.address_of(C[0, 0]), sc,
        T.call_llvm_intrin("int32x256", "llvm.x86.tdpbf16ps.internal", 16, 64, 64, c_tile, a_tile, b_tile))

Shapes are rows (at most 16) and bytes per row (at most 64); strides are in bytes.

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
from functools import cache

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


__all__ = ["TILE_DTYPE", "TILE_INTRINSICS", "is_tile_intrinsic", "request_tile_permission",
           "run_refusal", "unavailable_reason"]
