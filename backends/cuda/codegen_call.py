"""Intrinsic calls to CUDA C: math functions by dtype, bitwise operators, barriers, warp
shuffles, pointers, and the tensor-core operations of ``backends.cuda.tensor_core.EMITTERS``.

Math on float32 uses the ``f`` functions (``expf``), on float64 the plain ones, on half and
bfloat16 CUDA's ``h`` functions where they exist (``hexp``) and float32 otherwise
(``__float2half(tanhf(__half2float(x)))``). ``T.round`` rounds half to even (``rintf``), as
TVM's ``tir.round`` and the interpreter do.
"""

from __future__ import annotations

from tvmscript.ir import expr as E
from tvmscript.ir.dtype import DataType

from .codegen_expr import _BITWISE, FLOAT32, MUL, PRIMARY, TERNARY, UNARY

_RENAME = {"round": "rint", "nearbyint": "nearbyint", "abs": "fabs"}
# CUDA's own half / bfloat16 functions; anything else goes through float32
_HALF = {"exp": "hexp", "exp2": "hexp2", "exp10": "hexp10", "log": "hlog", "log2": "hlog2",
         "log10": "hlog10", "sqrt": "hsqrt", "rsqrt": "hrsqrt", "floor": "hfloor",
         "ceil": "hceil", "rint": "hrint", "nearbyint": "hrint", "trunc": "htrunc",
         "sin": "hsin", "cos": "hcos", "fabs": "__habs"}
_MATH = frozenset({"exp", "exp2", "exp10", "log", "log2", "log10", "log1p", "sqrt", "rsqrt",
                   "tanh", "sigmoid", "erf", "floor", "ceil", "round", "trunc", "nearbyint",
                   "fabs", "sin", "cos", "tan", "sinh", "cosh", "asin", "acos", "atan", "pow",
                   "fmod", "atan2", "hypot", "copysign", "nextafter"})
_REINTERPRET = {("float32", "int32"): "__float_as_int", ("int32", "float32"): "__int_as_float",
                ("float32", "uint32"): "__float_as_uint", ("uint32", "float32"): "__uint_as_float",
                ("float64", "int64"): "__double_as_longlong",
                ("int64", "float64"): "__longlong_as_double",
                ("float16", "int16"): "__half_as_short", ("int16", "float16"): "__short_as_half",
                ("float16", "uint16"): "__half_as_ushort",
                ("uint16", "float16"): "__ushort_as_half",
                ("bfloat16", "int16"): "__bfloat16_as_short",
                ("int16", "bfloat16"): "__short_as_bfloat16",
                ("bfloat16", "uint16"): "__bfloat16_as_ushort",
                ("uint16", "bfloat16"): "__ushort_as_bfloat16"}
_SHUFFLE = {"tir.tvm_warp_shuffle": "__shfl_sync", "tir.tvm_warp_shuffle_up": "__shfl_up_sync",
            "tir.tvm_warp_shuffle_down": "__shfl_down_sync"}
_SYNC = {"shared": "__syncthreads()", "shared.dyn": "__syncthreads()", "warp": "__syncwarp()"}


class CallCodegen:
    """``call`` and the math helpers; mixed into ``CUDACodegen``."""

    def call(self, op: E.Call):
        name = op.op
        if name.startswith("tir.") and name[4:] in _MATH | {"abs", "isnan", "isinf",
                                                           "popcount", "clz"}:
            if op.dtype.lanes > 1:
                return self.lanewise(op.dtype, list(op.args), lambda *a: self._unary_math(
                    name[4:], op.args[0].dtype.element_of(), list(a))), PRIMARY
            return self._unary_math(name[4:], op.args[0].dtype, list(op.args))
        if name in _BITWISE:
            return self._bitwise(op)
        handler = getattr(self, "call_" + name.replace(".", "_"), None)
        if handler is not None:
            return handler(op)
        emitter = self._tensor_core_emitter(name)
        if emitter is not None:
            return emitter(self, op), PRIMARY
        self.fail(f"the intrinsic {name} has no CUDA C form", op)

    def _tensor_core_emitter(self, name: str):
        from .tensor_core import EMITTERS, WMMA_OPS

        if name in WMMA_OPS:  # nvcuda::wmma; the PTX instructions are inline assembly
            self.uses.add("mma")
        return EMITTERS.get(name)

    # ------------------------------------------------------------- math

    def _unary_math(self, fn: str, dt: DataType, args: list):
        if fn in ("isnan", "isinf"):
            if dt.bits == 16:
                text = f"__h{fn}({self._side(args[0], TERNARY)})"
                return (text, PRIMARY) if fn == "isnan" else (f"{text} != 0", 9)
            return f"{fn}({self._side(args[0], TERNARY)})", PRIMARY
        if not dt.is_float:
            return self._integer_math(fn, dt, args[0])
        return self._math_call(fn, dt, args)

    def _math_call(self, fn: str, dt: DataType, args: list):
        """``fn(args)`` in dtype ``dt`` (a float dtype), returns (text, PRIMARY)."""
        fn = _RENAME.get(fn, fn)
        texts = [self._side(a, TERNARY) for a in args]
        if fn == "sigmoid":
            one = "1.0" if dt.bits == 64 else "1.0f"
            if dt.bits == 16:
                return self._through_float("sigmoid", dt, args)
            exp = "exp" if dt.bits == 64 else "expf"
            return f"{one} / ({one} + {exp}(-{self._side(args[0], UNARY)}))", MUL
        if dt.bits == 64:
            return f"{fn}({', '.join(texts)})", PRIMARY
        if dt.bits == 32:
            return f"{fn}f({', '.join(texts)})", PRIMARY
        if fn in _HALF:
            return f"{_HALF[fn]}({', '.join(texts)})", PRIMARY
        return self._through_float(fn, dt, args)

    def _through_float(self, fn: str, dt: DataType, args: list):
        widened = [self._scalar_cast(dt, FLOAT32, a) for a in args]
        result = self._math_call(fn, FLOAT32, widened)
        return self._scalar_cast(FLOAT32, dt, result)

    def _integer_math(self, fn: str, dt: DataType, arg):
        x = self._side(arg, TERNARY)
        if fn == "abs":
            if dt.is_uint:
                return x, PRIMARY if x.isidentifier() else UNARY
            return (f"llabs({x})" if dt.bits == 64 else f"abs({x})"), PRIMARY
        unsigned = {8: "unsigned char", 16: "unsigned short", 32: "unsigned int",
                    64: "unsigned long long"}[dt.bits]
        bits = f"({unsigned}){self._side(arg, UNARY)}"
        suffix = "ll" if dt.bits == 64 else ""
        if fn == "popcount":
            return f"__popc{suffix}({bits})", PRIMARY
        if fn == "clz":
            text = f"__clz{suffix}({bits})"
            return (f"{text} - {32 - dt.bits}", 12) if dt.bits < 32 else (text, PRIMARY)
        self.fail(f"T.{fn} takes a float, not {dt}", arg)

    def _bitwise(self, op: E.Call):
        sym, prec = _BITWISE[op.op]
        a, b = (self.operand(x, UNARY) for x in op.args)
        text = f"{a} {sym} {b}"
        if op.dtype.bits < 32 and op.dtype.is_integer:
            return f"({self.type_of(op.dtype)})({text})", UNARY
        return text, prec

    def call_tir_bitwise_not(self, op: E.Call):
        text = f"~{self.operand(op.args[0], UNARY)}"
        if op.dtype.bits < 32 and op.dtype.is_integer:
            return f"({self.type_of(op.dtype)})({text})", UNARY
        return text, UNARY

    # ------------------------------------------------------------- control and casts

    def call_tir_if_then_else(self, op: E.Call):
        return self._ternary(*op.args)

    def call_tir_likely(self, op: E.Call):
        return self.visit(op.args[0])

    def call_tir_call_extern(self, op: E.Call):
        callee = op.args[0]
        if not isinstance(callee, E.StringImm):
            self.fail("call_extern needs the callee's name as a string first", op)
        args = ", ".join(self.operand(a, TERNARY) for a in op.args[1:])
        return f"{callee.value}({args})", PRIMARY

    call_tir_call_pure_extern = call_tir_call_extern

    def call_tir_reinterpret(self, op: E.Call):
        src, dst = op.args[0].dtype, op.dtype
        fn = _REINTERPRET.get((str(src), str(dst)))
        if src == dst:
            return self.visit(op.args[0])
        if fn is None:
            self.fail(f"reinterpret from {src} to {dst} has no CUDA C form", op)
        return f"{fn}({self.operand(op.args[0], TERNARY)})", PRIMARY

    # ------------------------------------------------------------- GPU

    def call_tir_tvm_storage_sync(self, op: E.Call):
        scope = op.args[0].value if op.args and isinstance(op.args[0], E.StringImm) else ""
        if scope not in _SYNC:
            self.fail(f'tvm_storage_sync("{scope}") has no CUDA C form (a grid-wide barrier '
                      'needs separate kernels); use "shared" or "warp"', op)
        return _SYNC[scope], PRIMARY

    def call_tir_tvm_warp_activemask(self, op: E.Call):
        return "__activemask()", PRIMARY

    def _shuffle(self, op: E.Call):
        mask, value, lane, width, warp_size = op.args
        if not (isinstance(warp_size, E.IntImm) and warp_size.value == 32):
            self.fail("warp shuffles need warp_size 32 on NVIDIA GPUs", op)
        args = ", ".join(self.operand(a, TERNARY) for a in (mask, value, lane, width))
        return f"{_SHUFFLE[op.op]}({args})", PRIMARY

    call_tir_tvm_warp_shuffle = call_tir_tvm_warp_shuffle_up = _shuffle
    call_tir_tvm_warp_shuffle_down = _shuffle

    def call_tir_tvm_access_ptr(self, op: E.Call):
        annotation, data, offset, _extent, _mask = op.args
        ptr = self.pointer(data, annotation.dtype if isinstance(annotation, E.Call) else None)
        return self.offset_pointer(ptr, offset)

    def call_tir_address_of(self, op: E.Call):
        load = op.args[0]
        if not isinstance(load, E.BufferLoad) or load.dtype.lanes > 1:
            self.fail("address_of takes a scalar buffer element A[i]", op)
        ptr, index = self.access(load.buffer, load.indices, op)
        return self.offset_pointer(ptr, index)

    def offset_pointer(self, ptr: str, offset: E.PrimExpr):
        if isinstance(offset, E.IntImm) and offset.value == 0:
            return ptr, PRIMARY if ptr.isidentifier() else UNARY
        base = self._side((ptr, PRIMARY if ptr.isidentifier() else UNARY), 12)
        return f"{base} + {self.operand(offset, 13)}", 12
