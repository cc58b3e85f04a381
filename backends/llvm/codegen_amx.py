"""AMX tile intrinsics (``backends/amx.py``): ``int32x256`` in the script, ``x86_amx`` in LLVM.

A tile operand must be a tile intrinsic call written inside its consumer; it is passed on as
``x86_amx``, after checking that the shape it was made with is the one the consumer uses (a tile
register keeps the shape it was configured with, and LLVM follows a tile through variables, so a
mismatch would fault or store past a buffer). A tile result used outside a tile intrinsic is
converted with ``llvm.x86.cast.tile.to.vector`` (as Clang does for ``__tile1024i``). LLVM writes
the tile configuration at each function's entry, so every thread of a parallel loop configures
its own tiles.

Shapes must be constants within the tile limits: LLVM cannot configure a tile whose shape it does
not know, and a configuration outside the limits faults at run time, killing the process.
"""

from __future__ import annotations

from llvmlite import ir

from tvmscript.ir import expr as E

from ..amx import (
    TILE_DTYPE, TILE_INTRINSICS, limit_problem, tile_operand_problem, tile_producer,
)
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
_LLVM_TYPES = {"rows": I16, "colsb": I16, "k": I16, "ptr": PTR, "stride": I64, "tile": X86_AMX}
_SHAPES = ("rows", "colsb", "k")


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
        for n, (kind, arg) in enumerate(zip(kinds, args)):
            if kind in _SHAPES:
                self._check_shape(name, n, kind, arg)
        problem = tile_operand_problem(name, args)
        if problem is not None:
            self._amx_error(problem)
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
        if kind == "tile":  # a nested tile call (tile_operand_problem checked it)
            return self.amx_call(arg, tile_producer(arg), list(arg.args[1:]), as_tile=True)
        if kind == "ptr":
            if not arg.dtype.is_handle:
                self._amx_error(f"operand {n} of {name} must be a pointer (T.address_of(...)), "
                                f"got {arg.dtype}")
            return self.visit(arg)
        if not arg.dtype.is_integer or arg.dtype.lanes != 1:
            self._amx_error(f"operand {n} of {name} ({kind}) must be an integer, got {arg.dtype}")
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
        problem = limit_problem(kind, arg.value)
        if problem is not None:
            self._amx_error(f"operand {n} of {name} ({kind}): {problem}")

    def _amx_error(self, message: str) -> None:
        from .codegen import CodegenError

        raise CodegenError(message)
