"""Graph-level checks of ``verify``: every ``R.call_tir`` matches the function it calls, and
every call ``cls.f(...)`` of a graph-level function passes as many arguments as ``f`` takes.

``R.call_tir(cls.f, (x, y), out_sinfo=...)`` passes its inputs, then the outputs the caller
allocates, as the parameters of the loop-level function ``f``. A wrong count, rank, size or dtype
would otherwise only surface at run time, inside the kernel, far from the script line. Sizes are
matched as TVM binds them: a parameter's bare size variable (``n`` in ``T.match_buffer(a, (n, 4))``)
takes its value from the first argument that has it, and every later use must agree; two sizes
are a mismatch only when they provably differ (``4`` and ``5``, ``m`` and ``m + 1``), since
symbolic sizes that may be equal are checked by the kernel at run time.
"""

from __future__ import annotations

from typing import Iterator

from . import graph as G
from .dtype import INT64
from .expr import IntImm, PrimExpr, Var, widen
from .function import GlobalVar, IRModule, PrimFunc
from .functor import post_order_visit, substitute
from .graph_ops import GraphTypeError
from .node import Node
from .verify import Problem, _Found, _text, _with_lines

__all__ = ["call_tir_problems", "check_graph_calls"]


def check_graph_calls(mod: IRModule) -> list[Problem]:
    """The call problems of every graph function of ``mod``, with script lines (what ``build``
    refuses before it compiles anything)."""
    found = [_Found(message, node, (func,))
             for func in mod.functions.values() if isinstance(func, G.Function)
             for message, node in call_tir_problems(func, mod)]
    return _with_lines(found, mod)


def call_tir_problems(func: G.Function, module: IRModule | None) -> Iterator[tuple[str, Node]]:
    """``(message, where)`` for each call of ``func`` (``R.call_tir`` or ``cls.f(...)``) that does
    not fit its callee; ``where`` is the binding (or the function body) that holds the call."""
    for where, call in _calls(func):
        for message in _check_call(call, module):
            span = getattr(where, "span", None)
            yield (message if span is None else f"{message} (at {span})"), where


def _calls(func: G.Function) -> Iterator[tuple[Node, G.Call]]:
    for block in func.body.blocks:
        for binding in block.bindings:
            for call in _calls_in(binding.value):
                yield binding, call
    for call in _calls_in(func.body.body):
        yield func.body, call


def _calls_in(expr: G.GraphExpr) -> list[G.Call]:
    found: list[G.Call] = []

    def visit(node: Node) -> None:
        if isinstance(node, G.Call) and (_is_call_tir(node) or isinstance(node.op, GlobalVar)):
            found.append(node)

    post_order_visit(expr, visit)
    return found


def _is_call_tir(call: G.Call) -> bool:
    return isinstance(call.op, G.Op) and call.op.name == "relax.call_tir"


def _check_call(call: G.Call, module: IRModule | None) -> list[str]:
    if not _is_call_tir(call):
        return _check_function_call(call, module)
    gv = call.args[0] if call.args else None
    if not isinstance(gv, GlobalVar) or len(call.args) != 2 or len(call.sinfo_args) != 1:
        return ["R.call_tir takes a module function cls.f, a tuple of inputs and out_sinfo"]
    callee = module.functions.get(gv.name_hint) if module is not None else None
    head = f"R.call_tir(cls.{gv.name_hint}, ...)"
    if isinstance(callee, G.Function):
        return [f"{head}: `{gv.name_hint}` is a graph-level function; call it as "
                f"cls.{gv.name_hint}(...) (R.call_tir calls loop-level functions)"]
    if not isinstance(callee, PrimFunc):
        return []  # no such function: reported where the name is used
    return _Matcher(head, gv.name_hint, callee).check(_inputs(call.args[1]),
                                                      _outputs(call.sinfo_args[0]))


def _check_function_call(call: G.Call, module: IRModule | None) -> list[str]:
    """``cls.f(x, y)``: ``f`` is a graph-level function taking that many arguments."""
    name = call.op.name_hint
    callee = module.functions.get(name) if module is not None else None
    if isinstance(callee, PrimFunc):
        return [f"cls.{name}(...) calls a loop-level function; call it with "
                f"R.call_tir(cls.{name}, (inputs...), out_sinfo=...)"]
    if isinstance(callee, G.Function) and len(call.args) != len(callee.params):
        names = ", ".join(p.name for p in callee.params)
        return [f"cls.{name}(...) passes {_count(len(call.args), 'argument')}, but `{name}` "
                f"takes {len(callee.params)} ({names})"]
    return []


def _inputs(args: G.GraphExpr) -> list[tuple[str, G.StructInfo]]:
    if isinstance(args, G.Tuple):
        return [(_arg_name(i, f), _sinfo(f)) for i, f in enumerate(args.fields)]
    sinfo = _sinfo(args)
    fields = sinfo.fields if isinstance(sinfo, G.TupleStructInfo) else (sinfo,)
    return [(f"input {i}", f) for i, f in enumerate(fields)]


def _sinfo(expr: G.GraphExpr) -> G.StructInfo:
    """What is known of an argument; nothing when it is ill-typed (verify must not raise)."""
    try:
        return expr.struct_info
    except GraphTypeError:
        return G.ObjectStructInfo()


def _arg_name(index: int, arg: G.GraphExpr) -> str:
    return f"input {index} ({arg.name})" if isinstance(arg, G.GraphVar) else f"input {index}"


def _outputs(out: G.StructInfo) -> list[tuple[str, G.StructInfo]]:
    fields = out.fields if isinstance(out, G.TupleStructInfo) else (out,)
    return [(f"output {i}", f) for i, f in enumerate(fields)]


class _Matcher:
    """Matches the arguments of one call against the callee's parameters, in order, binding the
    callee's size variables to the caller's sizes as it goes."""

    def __init__(self, head: str, name: str, callee: PrimFunc) -> None:
        self.head, self.name, self.callee = head, name, callee
        self.bound: dict[Var, tuple[PrimExpr, str]] = {}  # size var -> (value, which argument)

    def check(self, inputs: list, outputs: list) -> list[str]:
        params = self.callee.params
        if len(inputs) + len(outputs) != len(params):
            names = ", ".join(self._pname(p) for p in params)
            return [f"{self.head} passes {_count(len(inputs), 'input')} and "
                    f"{_count(len(outputs), 'output')}, but `{self.name}` takes "
                    f"{_count(len(params), 'parameter')} ({names})"]
        problems = [self._output_known(what, s) for what, s in outputs]
        pairs = zip([*inputs, *outputs], params)
        problems += [self._param(what, sinfo, param) for (what, sinfo), param in pairs]
        return [p for p in problems if p is not None]

    def _pname(self, param: Var) -> str:
        """A buffer parameter by its buffer's name (``B``, not the handle ``b``)."""
        buffer = self.callee.buffer_map.get(param)
        return param.name if buffer is None else buffer.name

    def _output_known(self, what: str, sinfo: G.StructInfo) -> str | None:
        ok = isinstance(sinfo, G.TensorStructInfo) and sinfo.shape is not None \
            and not sinfo.dtype.is_void
        return None if ok else (f"{self.head}: {what} must give its shape and dtype "
                                f"(out_sinfo=R.Tensor((...), \"dtype\")), got {sinfo.script()}")

    def _param(self, what: str, sinfo: G.StructInfo, param: Var) -> str | None:
        buffer = self.callee.buffer_map.get(param)
        if buffer is None:
            return self._scalar(what, sinfo, param)
        if isinstance(sinfo, G.ObjectStructInfo):
            return None
        if not isinstance(sinfo, G.TensorStructInfo):
            return f"{self.head}: {what} is {sinfo.script()} but parameter `{buffer.name}` of " \
                   f"`{self.name}` is a buffer"
        if not sinfo.dtype.is_void and sinfo.dtype != buffer.dtype:
            return f"{self.head}: {what} has dtype {sinfo.dtype} but parameter " \
                   f"`{buffer.name}` of `{self.name}` has dtype {buffer.dtype}"
        return self._shape(what, sinfo, buffer.name, tuple(buffer.shape))

    def _scalar(self, what: str, sinfo: G.StructInfo, param: Var) -> str | None:
        if isinstance(sinfo, G.PrimStructInfo) and sinfo.dtype == param.dtype:
            return None
        if isinstance(sinfo, G.ObjectStructInfo):
            return None
        return f"{self.head}: {what} is {sinfo.script()} but parameter `{param.name}` of " \
               f"`{self.name}` is a {param.dtype} scalar"

    def _shape(self, what: str, sinfo: G.TensorStructInfo, pname: str,
               declared: tuple[PrimExpr, ...]) -> str | None:
        if sinfo.shape is None:
            if sinfo.ndim < 0 or sinfo.ndim == len(declared):
                return None
            got = f"rank {sinfo.ndim}"
        else:
            bad = len(sinfo.shape) != len(declared) or any(
                self._differ(e, a, what) for e, a in zip(declared, sinfo.shape))
            if not bad:
                return None
            got = f"shape {_shape_text(sinfo.shape)}"
        return f"{self.head}: {what} has {got} but parameter `{pname}` of `{self.name}` has " \
               f"shape {_shape_text(declared)}{self._where(declared, what)}"

    def _differ(self, expected: PrimExpr, actual: PrimExpr, what: str) -> bool:
        """Bind a bare size variable on its first use; otherwise compare."""
        if isinstance(expected, Var) and expected not in self.bound:
            self.bound[expected] = (actual, what)
            return False
        value = substitute(expected, {v: e for v, (e, _) in self.bound.items()})
        return _provably_differ(value, actual)

    def _where(self, declared: tuple[PrimExpr, ...], what: str) -> str:
        """Which earlier arguments gave the sizes used here (``where input 0 makes n = 4``)."""
        used: list[Var] = []
        post_order_visit(declared, lambda n: used.append(n) if isinstance(n, Var) else None)
        notes = [f"{src} makes {v.name} = {_text(e)}" for v, (e, src) in self.bound.items()
                 if v in used and src != what]
        return f", where {', '.join(notes)}" if notes else ""


def _provably_differ(a: PrimExpr, b: PrimExpr) -> bool:
    if isinstance(a, IntImm) and isinstance(b, IntImm):
        return a.value != b.value
    from ..arith import Analyzer  # arith builds on ir: imported when first needed

    diff = Analyzer().simplify(_as_int64(a) - _as_int64(b))
    return isinstance(diff, IntImm) and diff.value != 0


def _as_int64(e: PrimExpr) -> PrimExpr:
    return e if e.dtype == INT64 else widen(e, INT64)


def _shape_text(shape: tuple[PrimExpr, ...]) -> str:
    inner = ", ".join(_text(s) for s in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")
