"""AMX tile intrinsics (``backends/amx.py``): ``int32x256`` in the script, ``x86_amx`` in LLVM.

A tile operand that is itself a tile intrinsic is passed on as ``x86_amx``; any other
``int32x256`` value is converted with ``llvm.x86.cast.vector.to.tile``, and a tile result used
outside a tile intrinsic with ``llvm.x86.cast.tile.to.vector`` (Clang does the same for
``__tile1024i``). LLVM then writes the tile configuration at each function's entry, so every
thread of a parallel loop configures its own tiles.

Shapes must be constants within the tile limits: LLVM cannot configure a tile whose shape it does
not know, and a configuration outside the limits faults at run time, killing the process.
"""

from __future__ import annotations

from llvmlite import ir

from tvmscript.ir import expr as E
from tvmscript.ir.dtype import DataType

from ..amx import MAX_COLSB, MAX_ROWS, TILE_DTYPE, TILE_INTRINSICS
from .types import I16, I32, I64, PTR, VOID


class _X86AMXType(ir.Type):
    """LLVM's ``x86_amx`` (llvmlite has no class for it)."""

    def _to_string(self) -> str:
        return "x86_amx"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _X86AMXType)

    def __hash__(self) -> int:
        return hash(_X86AMXType)


X86_AMX = _X86AMXType()
TILE_VECTOR = ir.VectorType(I32, 256)
_TILE = DataType.parse(TILE_DTYPE)
_LLVM_TYPES = {"rows": I16, "colsb": I16, "k": I16, "ptr": PTR, "stride": I64, "tile": X86_AMX}
_LIMITS = {"rows": MAX_ROWS, "colsb": MAX_COLSB, "k": MAX_COLSB}
_CALLS = ("tir.call_llvm_intrin", "tir.call_llvm_pure_intrin")


def _tile_call_name(expr: E.PrimExpr) -> str | None:
    """The callee of ``expr`` when it is a tile intrinsic returning a tile."""
    if isinstance(expr, E.Call) and expr.op in _CALLS and expr.args \
            and isinstance(expr.args[0], E.StringImm):
        spec = TILE_INTRINSICS.get(expr.args[0].value)
        if spec is not None and spec[1] == "tile":
            return expr.args[0].value
    return None


class AMXCodegen:
    """``amx_call``; mixed into ``CodeGenLLVM`` (which calls it from ``_call_llvm_intrin``)."""

    uses_amx = False  # set on the code generator once it emitted a tile instruction

    def amx_call(self, op: E.Call, name: str, args: list, as_tile: bool = False) -> ir.Value:
        kinds, result = TILE_INTRINSICS[name]
        want = "void" if result == "void" else TILE_DTYPE
        if str(op.dtype) != want:
            self._amx_error(f"{name} returns {want}, but the call says {op.dtype}")
        if len(args) != len(kinds):
            self._amx_error(f"{name} takes {len(kinds)} operands ({', '.join(kinds)}), "
                            f"but the call passes {len(args)}")
        values = [self._amx_operand(name, n, kind, arg)
                  for n, (kind, arg) in enumerate(zip(kinds, args))]
        fnty = ir.FunctionType(X86_AMX if result == "tile" else VOID,
                               [_LLVM_TYPES[k] for k in kinds])
        self.uses_amx = True
        call = self.b.call(self.declare(name, fnty), values)
        if result == "void" or as_tile:
            return call
        cast = self.declare("llvm.x86.cast.tile.to.vector.v256i32",
                            ir.FunctionType(TILE_VECTOR, [X86_AMX]))
        return self.b.call(cast, [call])

    def _amx_operand(self, name: str, n: int, kind: str, arg: E.PrimExpr) -> ir.Value:
        if kind == "tile":
            inner = _tile_call_name(arg)
            if inner is not None:
                return self.amx_call(arg, inner, list(arg.args[1:]), as_tile=True)
            if arg.dtype != _TILE:
                self._amx_error(f"operand {n} of {name} must be a tile ({TILE_DTYPE}), got "
                                f"{arg.dtype}")
            cast = self.declare("llvm.x86.cast.vector.to.tile.v256i32",
                                ir.FunctionType(X86_AMX, [TILE_VECTOR]))
            return self.b.call(cast, [self.visit(arg)])
        if kind == "ptr":
            if not arg.dtype.is_handle:
                self._amx_error(f"operand {n} of {name} must be a pointer (T.address_of(...)), "
                                f"got {arg.dtype}")
            return self.visit(arg)
        if not arg.dtype.is_integer or arg.dtype.lanes != 1:
            self._amx_error(f"operand {n} of {name} ({kind}) must be an integer, got {arg.dtype}")
        if kind in _LIMITS:
            self._check_shape(name, n, kind, arg)
        value = self.visit(arg)
        target = _LLVM_TYPES[kind]
        if value.type.width > target.width:
            return self.b.trunc(value, target)
        if value.type.width < target.width:
            return self.b.sext(value, target) if arg.dtype.is_int else self.b.zext(value, target)
        return value

    def _check_shape(self, name: str, n: int, kind: str, arg: E.PrimExpr) -> None:
        if not isinstance(arg, E.IntImm):
            self._amx_error(f"operand {n} of {name} ({kind}) must be a constant: LLVM configures "
                            f"tiles from constant shapes, and `{arg.script()}` is not one")
        limit = _LIMITS[kind]
        if not 0 < arg.value <= limit or (kind != "rows" and arg.value % 4):
            rule = f"1..{limit}" + ("" if kind == "rows" else ", a multiple of 4")
            self._amx_error(f"operand {n} of {name} ({kind}) is {arg.value}, outside the tile "
                            f"limits ({rule})")

    def _amx_error(self, message: str) -> None:
        from .codegen import CodegenError

        raise CodegenError(message)
