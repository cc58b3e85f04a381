"""Named loop-level intrinsics (the ``op`` of a ``Call``) and how scripts spell them.

The parser builds ``Call(dtype, "tir.exp", (x,))`` from ``T.exp(x)`` and the printer goes back
through the same table, so a new intrinsic is one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass

from .dtype import DataType
from .dtype import dtype as as_dtype


@dataclass(frozen=True)
class IntrinsicDef:
    """``T.<script_name>(...)``.

    ``dtype_rule``: ``"arg0"`` (result has the first argument's dtype), ``"explicit"`` (the
    script passes the result dtype first: ``T.call_extern("int32", ...)``), ``"bool"``,
    ``"int32"``, or ``"handle"``. ``arity`` None means variadic. ``infix`` is the Python operator
    the printer uses instead of a call (bitwise operations).
    """

    op: str
    script_name: str
    arity: int | None
    dtype_rule: str = "arg0"
    infix: str | None = None
    pure: bool = True


_BY_SCRIPT: dict[str, IntrinsicDef] = {}
_BY_OP: dict[str, IntrinsicDef] = {}


def register_intrinsic(script_name: str, arity: int | None, dtype_rule: str = "arg0",
                       infix: str | None = None, op: str | None = None, pure: bool = True) -> None:
    op = op or "tir." + script_name
    if op in _BY_OP or script_name in _BY_SCRIPT:
        raise ValueError(f"intrinsic {op!r} is already registered")
    info = IntrinsicDef(op, script_name, arity, dtype_rule, infix, pure)
    _BY_OP[op] = info
    _BY_SCRIPT[script_name] = info


def by_script_name(name: str) -> IntrinsicDef | None:
    return _BY_SCRIPT.get(name)


def by_op(op: str) -> IntrinsicDef | None:
    return _BY_OP.get(op)


for _name in ("exp", "exp2", "exp10", "log", "log2", "log10", "log1p", "sqrt", "rsqrt", "tanh",
              "sigmoid", "erf", "floor", "ceil", "round", "trunc", "nearbyint", "fabs", "abs",
              "sin", "cos", "tan", "sinh", "cosh", "asin", "acos", "atan", "isnan", "isinf",
              "popcount", "clz"):
    register_intrinsic(_name, 1, "bool" if _name in ("isnan", "isinf") else "arg0")
for _name in ("pow", "fmod", "atan2", "hypot", "copysign", "nextafter"):
    register_intrinsic(_name, 2)
register_intrinsic("if_then_else", 3, "arg1")
register_intrinsic("likely", 1, "arg0")
register_intrinsic("call_extern", None, "explicit", pure=False)
register_intrinsic("call_pure_extern", None, "explicit")
register_intrinsic("call_llvm_intrin", None, "explicit", pure=False)
register_intrinsic("call_llvm_pure_intrin", None, "explicit")
register_intrinsic("reinterpret", 1, "explicit")
register_intrinsic("address_of", 1, "handle")
register_intrinsic("tvm_storage_sync", None, "int32", pure=False)
register_intrinsic("tvm_access_ptr", 5, "handle")
register_intrinsic("type_annotation", 0, "explicit")  # a dtype as an argument (of access_ptr)
# GPU (CUDA) intrinsics under TVM's names, so scripts round-trip with TVM: warp shuffles
# (``T.tvm_warp_shuffle_down(mask, value, offset, width, warp_size)``), the WMMA fragment
# operations of ``nvcuda::wmma`` and the PTX ``mma.sync`` / ``ldmatrix`` instructions.
register_intrinsic("tvm_warp_activemask", 0, "int32", pure=False)
for _name in ("tvm_warp_shuffle", "tvm_warp_shuffle_up", "tvm_warp_shuffle_down"):
    register_intrinsic(_name, 5, "arg1", pure=False)
register_intrinsic("tvm_fill_fragment", 6, "handle", pure=False)
register_intrinsic("tvm_load_matrix_sync", 8, "handle", pure=False)
register_intrinsic("tvm_mma_sync", 8, "handle", pure=False)
register_intrinsic("tvm_store_matrix_sync", 8, "handle", pure=False)
register_intrinsic("ptx_mma", None, "explicit", pure=False)
register_intrinsic("ptx_ldmatrix", 7, "explicit", pure=False)
register_intrinsic("shift_left", 2, infix="<<")
register_intrinsic("shift_right", 2, infix=">>")
register_intrinsic("bitwise_and", 2, infix="&")
register_intrinsic("bitwise_or", 2, infix="|")
register_intrinsic("bitwise_xor", 2, infix="^")
register_intrinsic("bitwise_not", 1, infix="~")

# names whose first argument is a string naming the callee (printed as a string literal)
CALLEE_NAMED = frozenset({"tir.call_extern", "tir.call_pure_extern", "tir.call_llvm_intrin",
                          "tir.call_llvm_pure_intrin"})



def llvm_intrinsic_name(name: str, dtype: DataType | str) -> str:
    """The full name of an LLVM intrinsic called with result ``dtype``: a base name
    ``llvm.<op>`` (one dot, as TVM prints it) gets the overload suffix of the result type
    (``llvm.fabs`` on float32 is ``llvm.fabs.f32``), as the LLVM backend declares it; a name
    with more parts (``llvm.fabs.f32``, ``llvm.x86.avx2.pmadd.wd``) is already complete."""
    if name.count(".") != 1 or not name.startswith("llvm."):
        return name
    return f"{name}.{llvm_type_suffix(as_dtype(dtype))}"


def llvm_type_suffix(dt: DataType) -> str:
    """LLVM's overload suffix of a dtype: ``f32``, ``v16f32``, ``i8``, ``i1``, ``p0``."""
    elem = dt.element_of()
    if elem.is_handle:
        base = "p0"
    elif elem.is_float:
        base = f"bf{elem.bits}" if elem.kind == "bfloat" else f"f{elem.bits}"
    else:
        base = f"i{1 if elem.is_bool else elem.bits}"
    return f"v{dt.lanes}{base}" if dt.lanes > 1 else base
