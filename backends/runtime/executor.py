"""The graph-level executor: runs ``@R.function``s whose bindings call loop-level kernels.

``Executable(mod, kernels)``; ``ex["main"](x, w)`` checks the arguments against the parameters'
struct info, then runs the bindings in order and returns numpy arrays (tuples for tuple
results). ``R.call_tir`` allocates its outputs and calls ``kernels[name](*inputs, *outputs)``.

Why precompiled steps: a graph function is translated once into a flat list of closures over a
register file (one list slot per variable and per symbolic size), so a call costs one list
allocation plus one closure call per binding, with no IR walking and no dict lookups.
Each function is normalized first (``passes/normalize.py``), so nested and returned calls are
bindings too. Graph-level operators other than ``call_tir`` have no kernels until the
``legalize-ops`` pass turns them into ``call_tir``; meeting one is a ``NotImplementedError``
naming it.

Memory: a function marked by the ``static-memory-plan`` pass runs with the plan
``passes/memory_plan.py`` computes from it: its planned intermediates are views of storages
allocated on the first call and reused by every later one (a call takes a set of views from a
pool and gives it back when it returns, so calls from several threads, or recursive ones, each
get their own); the arrays a call returns are never planned, so they are the caller's to keep.
``f.memory_stats()`` says what the intermediates take. An unmarked function allocates each
``call_tir`` output on every call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any

import numpy as np

from backends.interpreter.arguments import compile_lambda
from tvmscript.ir import IRModule, PrimFunc, Var
from tvmscript.ir import graph as G
from tvmscript.ir.expr import IntImm, PrimExpr
from tvmscript.ir.function import GlobalVar
from tvmscript.ir.functor import post_order_visit

Step = Callable[[list], None]
Getter = Callable[[list], Any]


class Executable:
    """The graph-level functions of ``mod``, runnable with the given loop-level kernels."""

    def __init__(self, mod: IRModule, kernels: Mapping[str, Callable[..., Any]]) -> None:
        self.mod = mod
        self.kernels = kernels
        self._graph: dict[str, GraphFunction] = {}
        self.native: dict[str, Callable[..., Any]] = {}
        """Graph functions a loaded library's C entry runs (``c_runner``), by name."""

    def __getitem__(self, name: str) -> Callable[..., Any]:
        native = self.native.get(name)
        if native is not None:
            return native
        func = self.mod[name]
        if isinstance(func, PrimFunc):
            return self.kernels[name]
        if not isinstance(func, G.Function):
            raise TypeError(f"{name!r} is a {type(func).__name__}, not a function to run")
        compiled = self._graph.get(name)
        if compiled is None:
            compiled = self._graph[name] = GraphFunction(self, name, func)
        return compiled

    def memory_stats(self, name: str) -> dict[str, Any]:
        """What the intermediates of graph function ``name`` take (see
        ``GraphFunction.memory_stats``)."""
        function = self[name]
        if not isinstance(function, GraphFunction):
            raise TypeError(f"memory_stats({name!r}): {name!r} is a loop-level function; only "
                            "graph-level functions have a memory plan")
        return function.memory_stats()

    def payload(self) -> bytes:
        """The module (graph functions, kernels' scripts, weights) as the bytes an exported
        library embeds, so ``load_module`` rebuilds this executor without recompiling."""
        from tvmscript.serialize import to_bytes

        return to_bytes(self.mod)

    def function_names(self) -> list[str]:
        """The graph-level functions (loop-level ones are reached through ``kernels``)."""
        return [n for n, f in self.mod.functions.items() if isinstance(f, G.Function)]

    def __contains__(self, name: object) -> bool:
        return name in self.mod

    def __repr__(self) -> str:
        return f"<Executable {self.function_names()}>"


class GraphFunction:
    """One compiled graph-level function: ``f(*args)`` returns its result."""

    def __init__(self, exe: Executable, name: str, func: G.Function) -> None:
        from passes.normalize import normalize_function  # passes sit below backends

        func = normalize_function(func)  # every call bound to a variable: one step each
        self.name = name
        self.exe = exe
        self.func = func
        self.slots = SlotMap()
        self.checker = ParamChecker(name, func.params, self.slots)
        self._plan_memory(func)
        self.steps: list[Step] = []
        for block in func.body.blocks:
            for binding in block.bindings:
                self.steps.append(self._binding(binding))
        self._result = self._value(func.body.body)
        self._nslots = len(self.slots)

    def __call__(self, *args: Any) -> Any:
        regs = [None] * self._nslots
        self.checker(args, regs)
        pool = self._pool
        if pool is None:
            for step in self.steps:
                step(regs)
            return self._result(regs)
        try:
            views = pool.pop()
        except IndexError:  # the first call, or every set is in use by a running call
            views = self._new_views()
        regs[self._views_at:self._views_end] = views
        try:
            for step in self.steps:
                step(regs)
            return self._result(regs)
        finally:
            pool.append(views)

    def memory_stats(self) -> dict[str, Any]:
        """What this function's intermediate tensors take: ``peak_bytes`` (the storages of the
        plan; without one, every intermediate at once, as each call keeps them all until it
        returns), ``naive_bytes`` (one allocation per planned tensor), ``storages``,
        ``tensors`` (planned), ``unplanned_tensors`` (call_tir outputs allocated by each call:
        results and tensors of dynamic shape) and ``planned`` (whether the plan is used)."""
        from passes.memory_plan import plan_memory

        plan = self.plan if self.plan is not None else plan_memory(self.func)
        used = self.plan is not None
        return {"planned": used,
                "peak_bytes": plan.planned_bytes if used else plan.naive_bytes,
                "naive_bytes": plan.naive_bytes,
                "storages": len(plan.storage_bytes) if used else len(plan.tensors),
                "tensors": len(plan.tensors),
                "unplanned_tensors": plan.unplanned}

    def __repr__(self) -> str:
        return f"<GraphFunction {self.name}>"

    # ------------------------------------------------------------ memory

    def _plan_memory(self, func: G.Function) -> None:
        """With a plan, each planned tensor gets a register (consecutive ones) that every call
        fills with a view of the storage the plan gives it."""
        from passes.memory_plan import PLAN_ATTR, plan_memory

        self.plan = plan_memory(func) if func.attrs.get(PLAN_ATTR) is True else None
        self._pool: list[list[np.ndarray]] | None = None
        self._planned: dict[tuple[G.GraphVar, int | None], int] = {}
        if self.plan is None or not self.plan.tensors:
            return
        self._views_at = len(self.slots)
        for t in self.plan.tensors:
            self._planned[(t.var, t.field)] = self.slots.slot(("planned", t.var, t.field))
        self._views_end = len(self.slots)
        self._pool = []

    def _new_views(self) -> list[np.ndarray]:
        """One set of views: each storage allocated (aligned), each planned tensor a view."""
        from passes.memory_plan import ALIGNMENT

        storages = [_aligned_bytes(n, ALIGNMENT) for n in self.plan.storage_bytes]
        return [storages[t.storage][:t.nbytes].view(t.dtype).reshape(t.shape)
                for t in self.plan.tensors]

    # ------------------------------------------------------------ bindings

    def _binding(self, binding: G.VarBinding) -> Step:
        value = binding.value
        dst = self.slots.slot(binding.var)
        if isinstance(value, G.Call) and isinstance(value.op, G.Op) \
                and value.op.name == "relax.call_tir":
            return self._call_tir(value, dst, binding.var)
        getter = self._value(value)

        def step(regs: list) -> None:
            regs[dst] = getter(regs)

        return step

    def _call_tir(self, call: G.Call, dst: int, var: G.GraphVar) -> Step:
        gv, args = call.args[0], call.args[1]
        if not isinstance(gv, GlobalVar):
            raise NotImplementedError(
                f"{self.name}: call_tir of {gv!r}; expected a function of the module"
            )
        if gv.name_hint not in self.exe.mod or \
                not isinstance(self.exe.mod[gv.name_hint], PrimFunc):
            raise KeyError(f"{self.name}: call_tir of {gv.name_hint!r}, which is not a "
                           "loop-level function of the module")
        kernel = self.exe.kernels[gv.name_hint]
        fields = args.fields if isinstance(args, G.Tuple) else (args,)
        out_sinfo = call.sinfo_args[0]
        is_tuple = isinstance(out_sinfo, G.TupleStructInfo)
        out_fields = out_sinfo.fields if is_tuple else (out_sinfo,)
        planned = [self._planned.get((var, i if is_tuple else None))
                   for i in range(len(out_fields))]
        outs = [self._allocator(s, gv.name_hint) if p is None else itemgetter(p)
                for s, p in zip(out_fields, planned)]
        if all(isinstance(f, G.GraphVar) for f in fields):
            in_slots = [self.slots.get(f, self.name) for f in fields]
            if not is_tuple and planned[0] is not None:
                return _planned_step(in_slots, planned[0], kernel, dst)
            static = None
            if not is_tuple and all(isinstance(s, IntImm) for s in out_sinfo.shape):
                static = (tuple(s.value for s in out_sinfo.shape),
                          np.dtype(out_sinfo.dtype.numpy_name()))
            return _call_tir_step(in_slots, outs, kernel, dst, is_tuple, static)
        getters = [self._value(f) for f in fields]

        def step(regs: list) -> None:
            arrays = [make(regs) for make in outs]
            kernel(*[g(regs) for g in getters], *arrays)
            regs[dst] = tuple(arrays) if is_tuple else arrays[0]

        return step

    def _allocator(self, sinfo: G.StructInfo, callee: str) -> Getter:
        """A function that allocates one output of ``call_tir``."""
        if not isinstance(sinfo, G.TensorStructInfo) or sinfo.shape is None \
                or sinfo.dtype.is_void:
            raise NotImplementedError(
                f"{self.name}: call_tir({callee}) needs outputs with known shape and dtype, "
                f"got {sinfo}"
            )
        dtype = np.dtype(sinfo.dtype.numpy_name())
        if all(isinstance(s, IntImm) for s in sinfo.shape):
            shape = tuple(s.value for s in sinfo.shape)
            return lambda regs: np.empty(shape, dtype)
        shape_fn = self.slots.shape_function(sinfo.shape, self.name)
        return lambda regs: np.empty(shape_fn(regs), dtype)

    # ------------------------------------------------------------ values

    def _value(self, expr: G.GraphExpr) -> Getter:
        method = getattr(self, "_value_" + type(expr).__name__, None)
        if method is None:
            raise NotImplementedError(
                f"{self.name}: the executor cannot evaluate {type(expr).__name__}"
            )
        return method(expr)

    def _value_GraphVar(self, var: G.GraphVar) -> Getter:
        slot = self.slots.get(var, self.name)
        return lambda regs: regs[slot]

    _value_DataflowVar = _value_GraphVar

    def _value_Constant(self, const: G.Constant) -> Getter:
        data = const.data
        return lambda regs: data

    def _value_Tuple(self, tup: G.Tuple) -> Getter:
        getters = [self._value(f) for f in tup.fields]
        return lambda regs: tuple(g(regs) for g in getters)

    def _value_TupleGetItem(self, item: G.TupleGetItem) -> Getter:
        getter, index = self._value(item.tuple_value), item.index
        return lambda regs: getter(regs)[index]

    def _value_ShapeExpr(self, shape: G.ShapeExpr) -> Getter:
        return self.slots.shape_function(shape.values, self.name)

    def _value_PrimValue(self, prim: G.PrimValue) -> Getter:
        fn = self.slots.shape_function((prim.value,), self.name)
        return lambda regs: fn(regs)[0]

    def _value_StringImm(self, s: G.StringImm) -> Getter:
        value = s.value
        return lambda regs: value

    def _value_SeqExpr(self, seq: G.SeqExpr) -> Getter:
        steps = [self._binding(b) for block in seq.blocks for b in block.bindings]
        result = self._value(seq.body)

        def run(regs: list) -> Any:
            for step in steps:
                step(regs)
            return result(regs)

        return run

    def _value_Call(self, call: G.Call) -> Getter:
        if isinstance(call.op, GlobalVar):
            return self._call_function(call)
        name = call.op.name if isinstance(call.op, G.Op) else repr(call.op)
        if name == "relax.call_tir":  # normalize_function binds every call: a bug if reached
            raise AssertionError(f"{self.name}: call_tir must be bound to a variable")
        raise NotImplementedError(
            f"{self.name}: operator R.{name.removeprefix('relax.')} has no kernel; the executor "
            "runs graph functions made of R.call_tir (legalize graph operators into call_tir "
            "kernels first)"
        )

    def _call_function(self, call: G.Call) -> Getter:
        callee_name = call.op.name_hint
        callee = self.exe.mod[callee_name]
        if not isinstance(callee, G.Function):
            raise NotImplementedError(
                f"{self.name}: {callee_name} is a loop-level function; call it with R.call_tir"
            )
        getters = [self._value(a) for a in call.args]
        exe = self.exe

        def run(regs: list) -> Any:
            return exe[callee_name](*[g(regs) for g in getters])

        return run


def _call_tir_step(in_slots: Sequence[int], outs: list[Getter], kernel: Callable[..., Any],
                   dst: int, is_tuple: bool, static: tuple | None) -> Step:
    """The common case, specialised: inputs are variables (and often one static output)."""
    if static is not None and len(outs) == 1 and not is_tuple:
        shape, dtype = static
        empty = np.empty
        if len(in_slots) == 1:
            (src,) = in_slots

            def step_one(regs: list) -> None:
                out = regs[dst] = empty(shape, dtype)
                kernel(regs[src], out)

            return step_one
        get = itemgetter(*in_slots) if in_slots else (lambda regs: ())

        def step_static(regs: list) -> None:
            out = regs[dst] = empty(shape, dtype)
            kernel(*get(regs), out)

        return step_static

    def step_many(regs: list) -> None:
        arrays = [make(regs) for make in outs]
        kernel(*[regs[i] for i in in_slots], *arrays)
        regs[dst] = tuple(arrays) if is_tuple else arrays[0]

    return step_many


def _planned_step(in_slots: Sequence[int], view: int, kernel: Callable[..., Any],
                  dst: int) -> Step:
    """One output, planned: the kernel writes into the view register ``view`` holds."""
    if len(in_slots) == 1:
        (src,) = in_slots

        def step_one(regs: list) -> None:
            out = regs[dst] = regs[view]
            kernel(regs[src], out)

        return step_one
    get = itemgetter(*in_slots) if in_slots else (lambda regs: ())
    if len(in_slots) > 1:
        def step_many(regs: list) -> None:
            out = regs[dst] = regs[view]
            kernel(*get(regs), out)

        return step_many

    def step_none(regs: list) -> None:
        out = regs[dst] = regs[view]
        kernel(out)

    return step_none


def _aligned_bytes(nbytes: int, alignment: int) -> np.ndarray:
    """``nbytes`` bytes whose address is a multiple of ``alignment``."""
    raw = np.empty(nbytes + alignment, np.uint8)
    offset = -raw.ctypes.data % alignment
    return raw[offset:offset + nbytes]


# ---------------------------------------------------------------- registers and parameters


class SlotMap:
    """Register numbers of graph variables and symbolic sizes (both live in one list)."""

    def __init__(self) -> None:
        self._slots: dict[Any, int] = {}

    def __len__(self) -> int:
        return len(self._slots)

    def slot(self, var: Any) -> int:
        """The register of ``var`` (made on first use: a binding site)."""
        if var not in self._slots:
            self._slots[var] = len(self._slots)
        return self._slots[var]

    def get(self, var: Any, fname: str) -> int:
        """The register of a variable that must already be bound."""
        slot = self._slots.get(var)
        if slot is None:
            raise NameError(f"{fname}: {getattr(var, 'name', var)!r} is used before it is bound")
        return slot

    def shape_function(self, exprs: Sequence[PrimExpr], fname: str) -> Getter:
        """``regs -> tuple of ints``: symbolic sizes evaluated from their registers."""
        found: list[Var] = []

        def collect(node: Any) -> None:
            if isinstance(node, Var) and node not in found:
                found.append(node)

        for e in exprs:
            post_order_visit(e, collect)
        for v in found:
            if v not in self._slots:
                raise NotImplementedError(
                    f"{fname}: symbolic size {v.name!r} is not bound by any parameter's shape"
                )
        fn = compile_lambda(list(exprs), found)
        slots = [self._slots[v] for v in found]
        return lambda regs: fn(*[regs[s] for s in slots])


class ParamChecker:
    """Checks arguments against the parameters' struct info and binds symbolic sizes."""

    def __init__(self, fname: str, params: Sequence[G.GraphVar], slots: SlotMap) -> None:
        self.fname = fname
        self.slots = slots
        self.names = [p.name for p in params]
        self.deferred: list[Callable[[Sequence[Any], list], None]] = []
        self.checks = [self._checker(p.sinfo, p.name, i) for i, p in enumerate(params)]
        for p in params:
            slots.slot(p)
        self.param_slots = [slots.get(p, fname) for p in params]

    def __call__(self, args: Sequence[Any], regs: list) -> None:
        if len(args) != len(self.checks):
            raise TypeError(f"{self.fname}() takes {len(self.checks)} arguments "
                            f"({', '.join(self.names)}) but {len(args)} were given")
        for check, slot, arg in zip(self.checks, self.param_slots, args):
            check(arg, regs)
            regs[slot] = arg
        for check in self.deferred:
            check(args, regs)

    def _checker(self, sinfo: G.StructInfo, where: str, index: int) -> Callable[[Any, list], None]:
        method = getattr(self, "_check_" + type(sinfo).__name__, None)
        if method is None:
            return lambda arg, regs: None
        return method(sinfo, where, index)

    def _check_TupleStructInfo(self, sinfo: G.TupleStructInfo, where: str, index: int):
        fields = [self._checker(f, f"{where}[{i}]", index) for i, f in enumerate(sinfo.fields)]
        fname, n = self.fname, len(fields)

        def check(arg: Any, regs: list) -> None:
            if not isinstance(arg, (tuple, list)) or len(arg) != n:
                raise TypeError(f"{fname}: argument {where!r} must be a tuple of {n} values")
            for field, value in zip(fields, arg):
                field(value, regs)

        return check

    def _check_PrimStructInfo(self, sinfo: G.PrimStructInfo, where: str, index: int):
        fname, dt = self.fname, sinfo.dtype
        kinds, limits = _scalar_kinds(dt)

        def check(arg: Any, regs: list) -> None:
            if not isinstance(arg, kinds) or (isinstance(arg, (bool, np.bool_)) != dt.is_bool):
                raise TypeError(f"{fname}: argument {where!r} must be a scalar of dtype {dt}, "
                                f"got {type(arg).__name__}")
            if limits is not None and not limits[0] <= arg <= limits[1]:
                raise ValueError(f"{fname}: argument {where!r} is {arg}, out of the range of {dt}")

        return check

    def _check_ShapeStructInfo(self, sinfo: G.ShapeStructInfo, where: str, index: int):
        fname, ndim = self.fname, sinfo.ndim
        sizes = self._sizes(sinfo.values or (), where, index, "element {}", "{}", tuple)
        wanted = f"a tuple of {ndim} ints" if ndim >= 0 else "a tuple of ints"

        def check(arg: Any, regs: list) -> None:
            ok = isinstance(arg, (tuple, list)) and (ndim < 0 or len(arg) == ndim) and all(
                isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in arg)
            if not ok:
                raise TypeError(f"{fname}: argument {where!r} must be a shape: {wanted}, "
                                f"got {type(arg).__name__}")
            sizes(tuple(int(v) for v in arg), regs)

        return check

    def _check_TensorStructInfo(self, sinfo: G.TensorStructInfo, where: str, index: int):
        fname, ndim = self.fname, sinfo.ndim
        dtype = None if sinfo.dtype.is_void else np.dtype(sinfo.dtype.numpy_name())
        sizes = self._sizes(sinfo.shape or (), where, index, "shape[{}]", "shape {}",
                            lambda a: a.shape)

        def check(arg: Any, regs: list) -> None:
            if not isinstance(arg, np.ndarray):
                raise TypeError(f"{fname}: argument {where!r} must be a numpy array, "
                                f"got {type(arg).__name__}")
            if ndim >= 0 and arg.ndim != ndim:
                raise ValueError(f"{fname}: argument {where!r} must have {ndim} dimensions, "
                                 f"got shape {arg.shape}")
            if dtype is not None and arg.dtype != dtype:
                raise TypeError(f"{fname}: argument {where!r} must have dtype {sinfo.dtype}, "
                                f"got {arg.dtype}")
            if not arg.flags.c_contiguous:  # the kernels take dense row-major arrays
                raise ValueError(f"{fname}: argument {where!r} is not C-contiguous (strides "
                                 f"{arg.strides}); pass np.ascontiguousarray(...)")
            sizes(arg.shape, regs)

        return check

    def _sizes(self, exprs: Sequence[PrimExpr], where: str, index: int, part: str, whole: str,
               sizes_of: Callable[[Any], tuple]) -> Callable[[tuple, list], None]:
        """Checks the sizes of a tensor's shape or a shape value: constants are compared, a
        bare size variable is bound by its first use and compared after, other expressions are
        checked once every parameter has bound its sizes. ``part``/``whole`` name an entry and
        the sizes in messages."""
        fname = self.fname
        consts: list[tuple[int, int]] = []
        binds: list[tuple[int, int, str]] = []
        for dim, e in enumerate(exprs):
            if isinstance(e, IntImm):
                consts.append((dim, e.value))
            elif isinstance(e, Var):
                binds.append((dim, self.slots.slot(e), e.name))
            else:
                self.deferred.append(self._deferred_dim(e, where, index, dim, part, sizes_of))

        def check(sizes: tuple, regs: list) -> None:
            for dim, value in consts:
                if sizes[dim] != value:
                    raise ValueError(f"{fname}: argument {where!r} must have "
                                     f"{part.format(dim)} == {value}, got {whole.format(sizes)}")
            for dim, slot, vname in binds:
                bound = regs[slot]
                if bound is None:
                    regs[slot] = sizes[dim]
                elif bound != sizes[dim]:
                    raise ValueError(f"{fname}: argument {where!r} has {part.format(dim)} == "
                                     f"{sizes[dim]}, but {vname} is {bound} from an earlier "
                                     "argument")

        return check

    def _deferred_dim(self, e: PrimExpr, where: str, index: int, dim: int, part: str,
                      sizes_of: Callable[[Any], tuple]):
        """A size like ``2 * n``: checked once every parameter has bound its sizes."""
        holder: list[Getter] = []
        fname, slots = self.fname, self.slots

        def check(args: Sequence[Any], regs: list) -> None:
            if not holder:
                holder.append(slots.shape_function((e,), fname))
            expected = holder[0](regs)[0]
            actual = sizes_of(_dig(args[index], where))[dim]
            if actual != expected:
                raise ValueError(f"{fname}: argument {where!r} must have {part.format(dim)} == "
                                 f"{expected}, got {actual}")

        return check


def _scalar_kinds(dt: Any) -> tuple[tuple[type, ...], tuple[int, int] | None]:
    """The Python and numpy types a scalar of ``dt`` accepts, and an integer's range."""
    if dt.is_bool:
        return (bool, np.bool_), None
    if dt.is_integer:
        info = np.iinfo(dt.numpy_name())
        return (int, np.integer), (int(info.min), int(info.max))
    return (int, float, np.integer, np.floating), None


def _dig(arg: Any, where: str) -> Any:
    """The value at ``where`` (``x[0][1]``) inside a (tuple) argument."""
    for part in where.split("[")[1:]:
        arg = arg[int(part.rstrip("]"))]
    return arg


__all__ = ["Executable", "GraphFunction"]
