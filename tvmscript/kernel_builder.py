"""Build loop-level functions from Python: buffers, loop nests of blocks, reductions.

What TVM's ``te.compute`` is for: code that generates kernels (operator legalization, tests,
benchmarks) writes ``out[i, j] = f(i, j)`` as a function and gets a well-formed PrimFunc with
blocks, iterator kinds, init and inferred reads/writes — the same IR the parser would build from
the equivalent script.

    kb = KernelBuilder("add")
    A, B = kb.input("A", (n, 16), "float32"), kb.input("B", (n, 16), "float32")
    C = kb.output("C", (n, 16), "float32")
    kb.compute("C", C, lambda i, j: A[i, j] + B[i, j])
    func = kb.finish()
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from .analysis import infer_block_access_regions
from .ir import expr as E
from .ir import stmt as S
from .ir.buffer import Buffer
from .ir.dtype import DataType, dtype as as_dtype
from .ir.expr import PrimExpr, Range, Var, const, convert
from .ir.function import PrimFunc


class KernelBuilder:
    """Accumulates parameters and statements of one loop-level function."""

    def __init__(self, name: str, index_dtype: str = "int64") -> None:
        self.name = name
        self.index_dtype = as_dtype(index_dtype)
        self.params: list[Var] = []
        self.buffer_map: dict[Var, Buffer] = {}
        self.body: list[S.Stmt] = []
        self.allocs: list[Buffer] = []
        self.size_vars: dict[Any, Var] = {}  # outside variable -> this kernel's own
        self._own_vars: set[Var] = set()

    # ------------------------------------------------------------ buffers
    def _dim(self, d: Any) -> PrimExpr:
        """A shape entry: ints become constants; outside variables get a size var of our own."""
        if isinstance(d, (int, E.IntImm)):
            return const(int(d.value if isinstance(d, E.IntImm) else d), self.index_dtype)
        if isinstance(d, Var):
            if d in self._own_vars:
                return d
            if d not in self.size_vars:
                self.size_vars[d] = Var(d.name, self.index_dtype)
                self._own_vars.add(self.size_vars[d])
            return self.size_vars[d]
        if isinstance(d, PrimExpr):
            from .ir.functor import substitute

            for v in _free_vars(d):
                self._dim(v)
            return substitute(d, self.size_vars)
        raise TypeError(f"cannot use {d!r} as a dimension")

    def input(self, name: str, shape: Sequence[Any], dtype: "str | DataType") -> Buffer:
        return self._param(name, shape, dtype)

    def output(self, name: str, shape: Sequence[Any], dtype: "str | DataType") -> Buffer:
        return self._param(name, shape, dtype)

    def _param(self, name: str, shape: Sequence[Any], dtype: "str | DataType") -> Buffer:
        buf = Buffer(name, as_dtype(dtype), tuple(self._dim(d) for d in shape))
        handle = Var(name, "handle")
        self.params.append(handle)
        self.buffer_map[handle] = buf
        return buf

    def alloc(self, name: str, shape: Sequence[Any], dtype: "str | DataType") -> Buffer:
        """An intermediate buffer (allocated in the root block)."""
        buf = Buffer(name, as_dtype(dtype), tuple(self._dim(d) for d in shape))
        self.allocs.append(buf)
        return buf

    # ------------------------------------------------------------ computations
    def compute(self, block_name: str, out: Buffer, fn: Callable[..., PrimExpr]) -> None:
        """``out[i, ...] = fn(i, ...)`` over the whole of ``out`` (spatial iterators)."""
        self.loop_nest(block_name, [(d, "S") for d in out.shape],
                       lambda ivs: (S.BufferStore(out, convert(fn(*ivs)), tuple(ivs)), None))

    def reduce(self, block_name: str, out: Buffer, reduce_extents: Sequence[Any],
               combine: Callable[[PrimExpr, PrimExpr], PrimExpr], init: Any,
               fn: Callable[..., PrimExpr]) -> None:
        """``out[s...] = combine(out[s...], fn(s..., r...))`` with ``out`` set to ``init`` first."""
        axes = [(d, "S") for d in out.shape] + [(self._dim(d), "R") for d in reduce_extents]
        n = len(out.shape)

        def body(ivs: list[Var]) -> tuple[S.Stmt, S.Stmt]:
            idx = tuple(ivs[:n])
            update = combine(E.BufferLoad(out, idx), convert(fn(*ivs)))
            init_value = init if isinstance(init, PrimExpr) else const(init, out.dtype)
            return S.BufferStore(out, update, idx), S.BufferStore(out, init_value, idx)

        self.loop_nest(block_name, axes, body)

    def loop_nest(self, block_name: str, axes: Sequence[tuple[Any, str]],
                  body: Callable[[list[Var]], tuple[S.Stmt, S.Stmt | None]]) -> None:
        """Serial loops over ``axes`` (extent, "S"/"R") around one block with those iterators."""
        loops = [Var(f"i{k}", self.index_dtype) for k in range(len(axes))]
        ivs = [Var(f"v{k}", self.index_dtype) for k in range(len(axes))]
        stmt, init = body(ivs)
        iter_vars = tuple(
            S.IterVar(v, Range(const(0, self.index_dtype), self._dim(ext)),
                      S.IterType.REDUCE if kind == "R" else S.IterType.SPATIAL)
            for v, (ext, kind) in zip(ivs, axes)
        )
        block = S.Block(block_name, iter_vars, init=init, body=stmt)
        reads, writes = infer_block_access_regions(block)
        block = block.with_(reads=reads, writes=writes)
        nest: S.Stmt = S.BlockRealize(tuple(loops), const(True), block)
        for loop, iv in reversed(list(zip(loops, iter_vars))):
            nest = S.For(loop, const(0, self.index_dtype), iv.dom.extent, S.ForKind.SERIAL, nest)
        self.body.append(nest)

    def finish(self) -> PrimFunc:
        root = S.Block("root", alloc_buffers=tuple(self.allocs), body=S.seq(*self.body))
        body = S.BlockRealize((), const(True), root)
        return PrimFunc(tuple(self.params), self.buffer_map, body, {"tir.noalias": True}, self.name)


def _free_vars(e: PrimExpr) -> list[Var]:
    from .ir.functor import post_order_visit

    found: list[Var] = []
    post_order_visit(e, lambda n: found.append(n) if isinstance(n, Var) and n not in found else None)
    return found
