"""CUDA C for the tensor-core intrinsics: ``nvcuda::wmma`` calls and PTX ``mma.sync``/``ldmatrix``.

Why a table apart from the codegen: each intrinsic is one spelling of an instruction, and the
codegen only has to hand over the call (``EMITTERS[call.op](codegen, call)``); the codegen object
gives ``expr(e)`` (an operand's C text) and ``name_of(var)`` (a buffer variable's C name).

WMMA fragments are declared by ``declare_fragment`` as arrays of 16 x 16 x 16 fragments, one per
fragment index the intrinsics use::

    nvcuda::wmma::fragment<nvcuda::wmma::matrix_a, 16, 16, 16, half, nvcuda::wmma::row_major> A_frag[4];
    nvcuda::wmma::load_matrix_sync(A_frag[1], (half*)A_shared + 256, 16);

The PTX instructions are inline assembly on each thread's registers (``local`` arrays)::

    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, ..."
                 : "+f"(((float*)(C_local))[0]), ... : "r"(((unsigned*)(A_local))[0]), ...);

Sources that use them need ``#include <mma.h>`` (``INCLUDES``); NVRTC finds it (and the
``crt/mma.h`` it includes, from the ``nvidia-cuda-crt`` wheel) on the include path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tvmscript.ir import expr as E
from tvmscript.ir import stmt as S

from .codegen_types import SCALAR

INCLUDES = ("#include <mma.h>",)
WMMA = "nvcuda::wmma"
FRAGMENT_SCOPES = {"wmma.matrix_a": "matrix_a", "wmma.matrix_b": "matrix_b",
                   "wmma.accumulator": "accumulator"}
_TILE = 16 * 16


class TensorCoreCodegenError(ValueError):
    """A tensor-core intrinsic with arguments CUDA has no spelling for."""


def declare_fragment(alloc: S.Allocate, name: str) -> str:
    """The declaration of a WMMA fragment allocation: an array of 16 x 16 x 16 fragments."""
    role = FRAGMENT_SCOPES.get(alloc.scope)
    if role is None:
        raise TensorCoreCodegenError(f"buffer {name!r} in scope {alloc.scope!r} is not a WMMA "
                                     "fragment (wmma.matrix_a, wmma.matrix_b, wmma.accumulator)")
    size = 1
    for extent in alloc.extents:
        if not isinstance(extent, E.IntImm):
            raise TensorCoreCodegenError(f"fragment buffer {name!r} has the symbolic size "
                                         f"{extent.script()}; fragments need a constant size")
        size *= extent.value
    if size % _TILE:
        raise TensorCoreCodegenError(f"fragment buffer {name!r} holds {size} elements, not a "
                                     f"whole number of 16x16 fragments")
    elem = _ctype(alloc.dtype, name)
    layout = f", {WMMA}::row_major" if role != "accumulator" else ""
    return f"{WMMA}::fragment<{WMMA}::{role}, 16, 16, 16, {elem}{layout}> {name}[{size // _TILE}];"


def _ctype(dtype, what: str) -> str:
    text = SCALAR.get(str(dtype))
    if text is None or str(dtype) == "handle":
        raise TensorCoreCodegenError(f"{what}: CUDA has no element type for {dtype}")
    return text


# ---------------------------------------------------------------- operands


def _int(e: Any, what: str) -> int:
    if isinstance(e, E.IntImm):
        return e.value
    raise TensorCoreCodegenError(f"{what} must be a constant, got {_show(e)}")


def _str(e: Any, what: str) -> str:
    if isinstance(e, E.StringImm):
        return e.value
    raise TensorCoreCodegenError(f"{what} must be a string, got {_show(e)}")


def _show(e: Any) -> str:
    return e.script() if hasattr(e, "script") else repr(e)


def _fragment(cg: Any, var: Any, index: Any) -> str:
    """``name[index]``: one fragment of a fragment array."""
    return f"{cg.expr(var)}[{cg.expr(index)}]"


def _pointer(cg: Any, e: Any) -> str:
    """A typed element pointer: ``T.tvm_access_ptr(T.type_annotation(T), data, off, ...)`` is
    ``((T*)data + off)``; any other pointer expression is printed by the codegen."""
    if isinstance(e, E.Call) and e.op == "tir.tvm_access_ptr":
        elem = _ctype(e.args[0].dtype, "tvm_access_ptr")
        base = f"({elem}*){cg.expr(e.args[1])}"
        offset = e.args[2]
        if isinstance(offset, E.IntImm) and offset.value == 0:
            return base
        return f"({base} + {cg.expr(offset)})"
    return cg.expr(e)


def _shape_16(call: E.Call, m: Any, n: Any, k: Any) -> None:
    shape = tuple(_int(x, f"the shape of {call.op}") for x in (m, n, k))
    if shape != (16, 16, 16):
        raise TensorCoreCodegenError(f"{call.op}: shape {shape} is not supported (the fragments "
                                     "are declared 16x16x16)")


def _layout(call: E.Call, layout: Any) -> str:
    text = _str(layout, f"the layout of {call.op}")
    if text not in ("row_major", "col_major"):
        raise TensorCoreCodegenError(f"{call.op}: layout {text!r} is not row_major or col_major")
    return f"{WMMA}::mem_{text}"


# ---------------------------------------------------------------- WMMA


def _emit_fill_fragment(cg: Any, call: E.Call) -> str:
    frag, m, n, k, index, value = call.args
    _shape_16(call, m, n, k)
    return f"{WMMA}::fill_fragment({_fragment(cg, frag, index)}, {cg.expr(value)})"


def _emit_load_matrix_sync(cg: Any, call: E.Call) -> str:
    """Into a matrix_a/matrix_b fragment, declared row_major (the only loads the intrinsics
    make; an accumulator load would need the memory layout as a fourth argument)."""
    frag, m, n, k, index, ptr, stride, layout = call.args
    _shape_16(call, m, n, k)
    if _layout(call, layout) != f"{WMMA}::mem_row_major":
        raise TensorCoreCodegenError(f"{call.op}: matrix_a/matrix_b fragments are declared "
                                     "row_major, so they load row_major memory")
    return (f"{WMMA}::load_matrix_sync({_fragment(cg, frag, index)}, {_pointer(cg, ptr)}, "
            f"{cg.expr(stride)})")


def _emit_store_matrix_sync(cg: Any, call: E.Call) -> str:
    frag, m, n, k, index, ptr, stride, layout = call.args
    _shape_16(call, m, n, k)
    return (f"{WMMA}::store_matrix_sync({_pointer(cg, ptr)}, {_fragment(cg, frag, index)}, "
            f"{cg.expr(stride)}, {_layout(call, layout)})")


def _emit_mma_sync(cg: Any, call: E.Call) -> str:
    d, di, a, ai, b, bi, c, ci = call.args
    return (f"{WMMA}::mma_sync({_fragment(cg, d, di)}, {_fragment(cg, a, ai)}, "
            f"{_fragment(cg, b, bi)}, {_fragment(cg, c, ci)})")


# ---------------------------------------------------------------- PTX


def _registers(cg: Any, data: Any, offset: Any, ctype: str, count: int) -> list[str]:
    """``((unsigned*)(A_local + off))[i]`` for i < count: a lane's registers as 32-bit words."""
    base = cg.expr(data)
    if not (isinstance(offset, E.IntImm) and offset.value == 0):
        base = f"{base} + {cg.expr(offset)}"
    return [f"(({ctype}*)({base}))[{i}]" for i in range(count)]


def _braces(first: int, count: int) -> str:
    """``{%first, ..., %(first + count - 1)}``: a register vector of an asm template."""
    return "{" + ", ".join(f"%{first + i}" for i in range(count)) + "}"


def _asm(template: str, outputs: list[str], inputs: list[str]) -> str:
    return (f'asm volatile("{template};\\n"\n    : {", ".join(outputs)}\n'
            f'    : {", ".join(inputs)})')


_MMA_FORMS = {  # (shape, a_layout, b_layout, a, b, c) -> accumulator C type and PTX c type
    ("m16n8k16", "row", "col", "fp16", "fp16", "fp32"): ("float", "f32"),
    ("m16n8k16", "row", "col", "fp16", "fp16", "fp16"): ("unsigned", "f16"),
}


def _emit_ptx_mma(cg: Any, call: E.Call) -> str:
    if len(call.args) != 13:
        raise TensorCoreCodegenError(f"ptx_mma takes 13 arguments after its dtype (shape, "
                                     f"layouts, dtypes, A, a_index, B, b_index, C, c_index, "
                                     f"saturate), got {len(call.args)}")
    form = tuple(_str(x, "ptx_mma's shape, layouts and dtypes") for x in call.args[:6])
    if form not in _MMA_FORMS:
        raise TensorCoreCodegenError(f"ptx_mma {'.'.join(form)} is not supported (only "
                                     "m16n8k16 row.col fp16 x fp16 with fp32 or fp16 "
                                     "accumulators)")
    a, ai, b, bi, c, ci, _saturate = call.args[6:]
    c_type, c_ptx = _MMA_FORMS[form]
    c_regs = _registers(cg, c, ci, c_type, 4 if c_type == "float" else 2)
    a_regs = _registers(cg, a, ai, "unsigned", 4)
    b_regs = _registers(cg, b, bi, "unsigned", 2)
    nc = len(c_regs)
    c_vec = _braces(0, nc)  # C is read and written ("+"): the same operands as D
    template = (f"mma.sync.aligned.m16n8k16.row.col.{c_ptx}.f16.f16.{c_ptx} {c_vec}, "
                f"{_braces(nc, 4)}, {_braces(nc + 4, 2)}, {c_vec}")
    flag = "f" if c_type == "float" else "r"
    return _asm(template, [f'"+{flag}"({r})' for r in c_regs],
                [f'"r"({r})' for r in a_regs + b_regs])


def _emit_ptx_ldmatrix(cg: Any, call: E.Call) -> str:
    if len(call.args) != 7:
        raise TensorCoreCodegenError(f"ptx_ldmatrix takes 7 arguments after its dtype (trans, "
                                     f"num, type, local_ptr, local_offset, smem_ptr, "
                                     f"smem_offset), got {len(call.args)}")
    trans, num, kind, local, local_offset, smem, smem_offset = call.args
    num = _int(num, "ptx_ldmatrix's matrix count")
    kind = _str(kind, "ptx_ldmatrix's type")
    if num not in (1, 2, 4) or kind != ".b16":
        raise TensorCoreCodegenError(f"ptx_ldmatrix .x{num} {kind} is not supported (m8n8 .b16 "
                                     "with .x1, .x2 or .x4)")
    transpose = bool(_int(trans, "ptx_ldmatrix's trans flag"))
    regs = _registers(cg, local, local_offset, "unsigned", num)
    address = f"{_pointer(cg, smem)} + {cg.expr(smem_offset)}"
    template = (f"ldmatrix.sync.aligned.m8n8.x{num}{'.trans' if transpose else ''}.shared.b16 "
                f"{_braces(0, num)}, [%{num}]")
    return _asm(template, [f'"=r"({r})' for r in regs],
                [f'"r"((unsigned)__cvta_generic_to_shared({address}))'])


# op -> emitter(codegen, call) -> the statement's CUDA C (without the final ";")
EMITTERS: dict[str, Callable[[Any, E.Call], str]] = {
    "tir.tvm_fill_fragment": _emit_fill_fragment,
    "tir.tvm_load_matrix_sync": _emit_load_matrix_sync,
    "tir.tvm_store_matrix_sync": _emit_store_matrix_sync,
    "tir.tvm_mma_sync": _emit_mma_sync,
    "tir.ptx_mma": _emit_ptx_mma,
    "tir.ptx_ldmatrix": _emit_ptx_ldmatrix,
}

# the ops whose CUDA C needs INCLUDES (nvcuda::wmma); the PTX ones are plain inline assembly
WMMA_OPS = frozenset({"tir.tvm_fill_fragment", "tir.tvm_load_matrix_sync",
                      "tir.tvm_store_matrix_sync", "tir.tvm_mma_sync"})

__all__ = [
    "EMITTERS",
    "FRAGMENT_SCOPES",
    "INCLUDES",
    "WMMA_OPS",
    "TensorCoreCodegenError",
    "declare_fragment",
]
