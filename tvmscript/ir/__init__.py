"""The IR: loop-level (TensorIR) and graph-level (Relax-style) nodes, the module, and the
machinery every pass uses (visitor/mutator, structural equality)."""

from .buffer import Buffer, BufferRegion, MatchBufferRegion, decl_buffer
from .dtype import DataType, DTypeError, dtype
from .expr import (
    GE, GT, LE, LT, NE, EQ, Add, And, Broadcast, BufferLoad, Call, Cast, Div, FloatImm, FloorDiv,
    FloorMod, IntImm, Let, Max, Min, Mod, Mul, Not, Or, PrimExpr, Ramp, Range, Select, StringImm,
    Sub, Var, BinaryOp, CmpOp, const, convert,
)
from .frozendict import FrozenDict
from .function import BaseFunc, GlobalVar, IRModule, PrimFunc
from .functor import Mutator, Visitor, post_order_visit, substitute
from .node import Node
from .span import SourceText, Span
from .stmt import (
    Allocate, AssertStmt, AttrStmt, Block, BlockRealize, BufferStore, DeclBuffer, Evaluate, For,
    ForKind, IfThenElse, IterType, IterVar, LetStmt, SeqStmt, Stmt, While, seq,
)
from .structural import (
    StructuralMismatch, assert_structural_equal, structural_equal, structural_hash,
)
from .verify import verify, check_well_formed, WellFormedError
from . import graph, graph_ops, op

__all__ = [n for n in dir() if not n.startswith("_")]
