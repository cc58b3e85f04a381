"""``IndexMap``: a function from buffer indices to new indices, written as a Python lambda.

``IndexMap.from_func(lambda i, j: (i // 16, j, i % 16))`` calls the lambda with fresh variables
named after its parameters and keeps the expressions it returns. An index map prints as the
lambda again (``as_python()``), is saved in traces as that text and parsed back *safely*
(``ast``: only the lambda's parameters, integers, tuples and ``+ - * // %``; nothing is
evaluated), computes the shape a buffer takes under it (``map_shape``), and inverts maps that
are splits (``i // c, i % c``), permutations and fuses (``i * n + j``) of the indices.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..arith import Analyzer
from ..ir import expr as E
from ..ir.expr import IntImm, PrimExpr, Range, Var, const, convert
from ..ir.functor import substitute

_ALLOWED = (Var, IntImm, E.Add, E.Sub, E.Mul, E.FloorDiv, E.FloorMod)


@dataclass(frozen=True, eq=False)
class IndexMap:
    """``lambda <initial_indices>: <final_indices>`` over integer index expressions."""

    initial_indices: tuple[Var, ...]
    final_indices: tuple[PrimExpr, ...]

    # ------------------------------------------------------------ construction
    @staticmethod
    def from_func(func: Callable[..., Any], ndim: int | None = None) -> IndexMap:
        """Call ``func`` with fresh index variables (named after its parameters)."""
        if isinstance(func, IndexMap):
            return func
        names = _param_names(func, ndim)
        args = [Var(n, "int32") for n in names]
        try:
            out = func(*args)
        except TypeError as err:
            raise ValueError(f"an index map uses only + - * // % of indices and integers: {err}") \
                from err
        if not isinstance(out, (tuple, list)):
            out = (out,)
        return IndexMap.make(args, [convert(e) for e in out])

    @staticmethod
    def make(initial: Sequence[Var], final: Sequence[PrimExpr]) -> IndexMap:
        final = tuple(convert(e) for e in final)
        names = [v.name for v in initial]
        if len(set(names)) != len(names):
            raise ValueError(f"index map parameters must have distinct names, got {names}")
        for e in final:
            _check_expr(e, set(initial))
        return IndexMap(tuple(initial), final)

    def __call__(self, *indices: Any) -> tuple[PrimExpr, ...]:
        return self.map_indices(indices)

    def map_indices(self, indices: Sequence[Any]) -> tuple[PrimExpr, ...]:
        """The final indices with the initial ones replaced by ``indices``."""
        if len(indices) != len(self.initial_indices):
            raise ValueError(f"index map {self.as_python()} takes {len(self.initial_indices)} "
                             f"indices, got {len(indices)}")
        vmap = dict(zip(self.initial_indices, (convert(i) for i in indices)))
        return tuple(_unify_int_widths(substitute(e, vmap)) for e in self.final_indices)

    @property
    def ndim_in(self) -> int:
        return len(self.initial_indices)

    @property
    def ndim_out(self) -> int:
        return len(self.final_indices)

    # ------------------------------------------------------------ text
    def as_python(self) -> str:
        args = ", ".join(v.name for v in self.initial_indices)
        outs = [_py(e) for e in self.final_indices]
        body = "(" + ", ".join(outs) + ("," if len(outs) == 1 else "") + ")"
        return f"lambda {args}: {body}"

    def __repr__(self) -> str:
        return f"IndexMap({self.as_python()})"

    def to_json_value(self) -> dict:
        return {"index_map": self.as_python()}

    @staticmethod
    def from_json_value(value: dict) -> IndexMap:
        return IndexMap.parse(value["index_map"])

    @staticmethod
    def parse(text: str) -> IndexMap:
        """Parse ``lambda i, j: (...)`` without evaluating it (only index arithmetic allowed)."""
        try:
            tree = ast.parse(text.strip(), mode="eval").body
        except SyntaxError as err:
            raise ValueError(f"not an index map lambda: {text!r}") from err
        if not isinstance(tree, ast.Lambda):
            raise ValueError(f"an index map is written as a lambda, got {text!r}")
        a = tree.args
        if a.vararg or a.kwarg or a.kwonlyargs or a.defaults or a.posonlyargs or a.kw_defaults:
            raise ValueError(f"an index map lambda takes plain parameters only: {text!r}")
        params = [Var(p.arg, "int32") for p in a.args]
        scope = {v.name: v for v in params}
        body = tree.body
        items = body.elts if isinstance(body, ast.Tuple) else [body]
        return IndexMap.make(params, [_from_ast(n, scope, text) for n in items])

    # ------------------------------------------------------------ shapes and inverse
    def _analyzer(self, shape: Sequence[Any]) -> Analyzer:
        if len(shape) != self.ndim_in:
            raise ValueError(f"index map {self.as_python()} takes {self.ndim_in} indices but the "
                             f"buffer has {len(shape)} dimensions")
        ana = Analyzer()
        for v, s in zip(self.initial_indices, shape):
            ana.bind(v, Range(const(0), convert(s)))
        return ana

    def map_shape(self, shape: Sequence[Any]) -> tuple[int, ...]:
        """The shape a buffer of ``shape`` takes: each new index's largest value plus one."""
        ana = self._analyzer(shape)
        out = []
        for e in self.final_indices:
            b = ana.const_int_bound(e)
            if b.min < 0 or b.max >= (1 << 31) - 1:
                dims = tuple(_py(convert(s)) for s in shape)
                raise ValueError(f"index `{_py(e)}` of {self.as_python()} is not bounded below "
                                 f"by 0 and above for shape {dims}")
            out.append(b.max + 1)
        return tuple(out)

    def is_bijective(self, shape: Sequence[Any]) -> bool:
        try:
            self.inverse(shape)
        except ValueError:
            return False
        return _prod(self.map_shape(shape)) == _prod(int(convert(s).value) for s in shape)

    def inverse(self, shape: Sequence[Any]) -> IndexMap:
        """The map from new indices back to the old ones (for a buffer of ``shape``).

        Works for maps whose every new index is a mixed-radix sum of *digits* ``(x // a) % b``
        of the old indices (splits, permutations, fuses) that together cover each old index
        exactly once. When the map pads (``map_shape`` holds more elements than ``shape``) the
        inverse is valid on the image only. Raises ``ValueError`` otherwise.
        """
        new_shape = self.map_shape(shape)
        outs = _fresh_names(self.initial_indices, len(self.final_indices))
        extents = {v: int(convert(s).value) for v, s in zip(self.initial_indices, shape)}
        digits: dict[Var, list[tuple[int, int | None, PrimExpr]]] = {v: [] for v in extents}
        for o, e in zip(outs, self.final_indices):
            terms = _radix_terms(e, extents)
            if terms is None:
                raise ValueError(f"index `{_py(e)}` of {self.as_python()} is not a mixed-radix "
                                 "sum of index digits; the map has no inverse")
            for n, (coeff, var, a, b, ext) in enumerate(terms):
                value = o // coeff if coeff > 1 else o
                if n + 1 < len(terms):
                    value = value % ext
                digits[var].append((a, b, value))
        initial = []
        for var, ext in extents.items():
            parts = sorted(digits[var], key=lambda d: d[0])
            expected: int | None = 1
            total: PrimExpr | None = None
            for a, b, value in parts:
                if expected is None or a != expected:
                    raise ValueError(f"index `{var.name}` is not covered exactly once by "
                                     f"{self.as_python()}; the map has no inverse")
                term = value * a if a > 1 else value
                total = term if total is None else total + term
                expected = a * b if b is not None else None
            if total is None or (expected is not None and expected < ext):
                raise ValueError(f"index `{var.name}` is not fully covered by "
                                 f"{self.as_python()}; the map has no inverse")
            initial.append(_sum_desc(parts))
        ana = Analyzer()
        for o, size in zip(outs, new_shape):
            ana.bind(o, Range(const(0), const(size)))
        return IndexMap.make(outs, [ana.simplify(e) for e in initial])


def _sum_desc(parts: list) -> PrimExpr:
    """``value_k * a_k + ... + value_0``: the most significant digit first."""
    total: PrimExpr | None = None
    for a, _, value in sorted(parts, key=lambda d: -d[0]):
        term = value * a if a > 1 else value
        total = term if total is None else total + term
    return total


def _fresh_names(taken: Sequence[Var], n: int) -> list[Var]:
    used = {v.name for v in taken}
    out = []
    k = 0
    while len(out) < n:
        name = f"i{k}"
        if name not in used:
            out.append(Var(name, "int32"))
        k += 1
    return out


def _radix_terms(e: PrimExpr, extents: dict[Var, int]):
    """``e`` as ``sum(coeff * (var // a) % b)`` in mixed radix, as
    ``[(coeff, var, a, b, digit_extent)]`` sorted by coeff, or None."""
    terms: list[tuple[int, Var, int, int | None]] = []
    if not _collect_digits(e, 1, terms):
        return None
    out = []
    for coeff, var, a, b in terms:
        full = -(-extents[var] // a)
        ext = min(b, full) if b is not None else full
        if b is not None and b >= full:
            b = None  # the modulo never wraps: the digit is the rest of the index
        out.append((coeff, var, a, b, ext))
    out.sort(key=lambda t: t[0])
    expected = 1
    for coeff, var, a, b, ext in out:
        if coeff != expected:
            return None
        expected = coeff * ext
    return out


def _collect_digits(e: PrimExpr, scale: int, out: list) -> bool:
    if isinstance(e, E.Add):
        return _collect_digits(e.a, scale, out) and _collect_digits(e.b, scale, out)
    if isinstance(e, E.Mul) and isinstance(e.b, IntImm) and e.b.value > 0:
        return _collect_digits(e.a, scale * e.b.value, out)
    if isinstance(e, E.Mul) and isinstance(e.a, IntImm) and e.a.value > 0:
        return _collect_digits(e.b, scale * e.a.value, out)
    digit = _digit(e)
    if digit is None:
        return False
    out.append((scale,) + digit)
    return True


def _digit(e: PrimExpr) -> tuple[Var, int, int | None] | None:
    """``(var, a, b)`` when ``e`` is ``(var // a) % b`` (a or b possibly absent)."""
    if isinstance(e, Var):
        return (e, 1, None)
    if isinstance(e, E.FloorDiv) and isinstance(e.b, IntImm) and e.b.value > 0:
        inner = _digit(e.a)
        if inner is not None and inner[2] is None:
            return (inner[0], inner[1] * e.b.value, None)
        if inner is not None and inner[2] % e.b.value == 0:  # (x % b) // c
            return (inner[0], inner[1] * e.b.value, inner[2] // e.b.value)
        return None
    if isinstance(e, E.FloorMod) and isinstance(e.b, IntImm) and e.b.value > 0:
        inner = _digit(e.a)
        if inner is None:
            return None
        b = e.b.value if inner[2] is None else min(inner[2], e.b.value)
        if inner[2] is not None and inner[2] % e.b.value:
            return None
        return (inner[0], inner[1], b)
    return None


def _prod(values: Any) -> int:
    out = 1
    for v in values:
        out *= int(v)
    return out


def _param_names(func: Callable[..., Any], ndim: int | None) -> list[str]:
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        params = []
    if params and params[0].kind is inspect.Parameter.VAR_POSITIONAL:
        if ndim is None:
            raise ValueError("an index map over *args needs ndim=")
        return [f"i{k}" for k in range(ndim)]
    names = [p.name for p in params if p.kind in (inspect.Parameter.POSITIONAL_ONLY,
                                                   inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    if ndim is not None and len(names) != ndim:
        raise ValueError(f"the index map takes {len(names)} indices, expected {ndim}")
    return names


def _check_expr(e: PrimExpr, params: set) -> None:
    if not isinstance(e, _ALLOWED):
        raise ValueError(f"index maps use only + - * // % of indices and integers, not "
                         f"{type(e).__name__}")
    if isinstance(e, Var) and e not in params:
        raise ValueError(f"index map uses `{e.name}`, which is not one of its parameters")
    if isinstance(e, IntImm) and not e.dtype.is_integer:
        raise ValueError("index maps use integer constants only")
    for _, child in e.fields():
        if isinstance(child, PrimExpr):
            _check_expr(child, params)


def _unify_int_widths(e: PrimExpr) -> PrimExpr:
    """``e`` with each integer constant as wide as what it meets. A map written or read back as
    text has int32 parameters and constants (``lambda d0: (d0 // 16,)``); applied to int64
    indices it would give ``i64 // i32``, which code generation refuses."""
    if type(e) not in _PREC:
        return e
    a, b = _unify_int_widths(e.a), _unify_int_widths(e.b)
    if a.dtype != b.dtype:
        if isinstance(b, IntImm):
            b = const(b.value, a.dtype)
        elif isinstance(a, IntImm):
            a = const(a.value, b.dtype)
    if a is e.a and b is e.b:
        return e
    return E.binary(type(e), a, b)


_PREC = {E.Add: 1, E.Sub: 1, E.Mul: 2, E.FloorDiv: 2, E.FloorMod: 2}
_OPS = {E.Add: "+", E.Sub: "-", E.Mul: "*", E.FloorDiv: "//", E.FloorMod: "%"}


def _py(e: PrimExpr) -> str:
    """``e`` as Python source (index arithmetic only)."""
    if isinstance(e, Var):
        return e.name
    if isinstance(e, IntImm):
        return str(e.value) if e.value >= 0 else f"({e.value})"
    op = type(e)
    prec = _PREC[op]
    left = _py(e.a)
    if type(e.a) in _PREC and _PREC[type(e.a)] < prec:
        left = f"({left})"
    right = _py(e.b)
    if type(e.b) in _PREC and _PREC[type(e.b)] <= prec:
        right = f"({right})"
    return f"{left} {_OPS[op]} {right}"


_AST_OPS = {ast.Add: E.Add, ast.Sub: E.Sub, ast.Mult: E.Mul, ast.FloorDiv: E.FloorDiv,
            ast.Mod: E.FloorMod}


def _from_ast(n: ast.AST, scope: dict[str, Var], text: str) -> PrimExpr:
    if isinstance(n, ast.Name) and n.id in scope:
        return scope[n.id]
    if isinstance(n, ast.Constant) and type(n.value) is int:
        return const(n.value, "int32")
    if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub) \
            and isinstance(n.operand, ast.Constant) and type(n.operand.value) is int:
        return const(-n.operand.value, "int32")
    if isinstance(n, ast.BinOp) and type(n.op) in _AST_OPS:
        return E.binary(_AST_OPS[type(n.op)], _from_ast(n.left, scope, text),
                        _from_ast(n.right, scope, text))
    raise ValueError(f"index map text may only use its parameters, integers and + - * // %; "
                     f"`{ast.unparse(n)}` in {text!r} is not allowed")


__all__ = ["IndexMap"]
