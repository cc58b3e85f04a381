"""The ``T`` namespace: loop-level builtins as the parser calls them.

Each builtin takes the parser first (``p``; None when Python itself evaluates an annotation at
``def`` time) and returns IR, a frame spec for ``with``/``for``, or a binder for assignments.
Intrinsics come from ``ir.op``'s table, so ``T.exp`` and friends are not listed here.
"""

from __future__ import annotations

from typing import Any

from ..ir import expr as E
from ..ir import op as intrin
from ..ir import stmt as S
from ..ir.buffer import BufferRegion
from ..ir.dtype import DataType, DTypeError, dtype as as_dtype, integer_range, largest_finite
from ..ir.expr import PrimExpr, Range, StringImm, const
from ..ir.node import Node
from ..schedule.region import uses_vars
from .fold import fold_binary
from .tir_expr_ns import EXPR_ENTRIES
from .namespace import Namespace
from .parser import tir_frames as F
from .parser.builtin import ArgError, Builtin, table
from .parser.entry import prim_func
from .parser.values import (
    as_dtype_arg, as_int_expr, attr_dict, as_prim, as_region, describe, loaded, range_of,
)


def _dtype(value: Any, key: "int | str") -> DataType:
    try:
        return as_dtype_arg(value)
    except DTypeError as exc:
        raise ArgError(key, str(exc)) from None


def _int(value: Any, key: "int | str", what: str) -> PrimExpr:
    try:
        return as_int_expr(value, what)
    except (TypeError, ValueError) as exc:  # ValueError: an integer wider than int64
        raise ArgError(key, str(exc)) from None


def _attrs(value: Any, key: "int | str", what: str) -> dict:
    try:
        return attr_dict(value, what)
    except TypeError as exc:
        raise ArgError(key, str(exc)) from None


def _scope(value: Any) -> str:
    if not isinstance(value, str):
        raise ArgError("scope", f"scope must be a string such as \"global\" or \"shared\", "
                                f"got {describe(value)}")
    return value


def _shape(value: Any, key: str, what: str = "a shape entry") -> tuple[PrimExpr, ...]:
    items = value if isinstance(value, (tuple, list)) else (value,)
    return tuple(_int(v, key, what) for v in items)


def _count(value: Any, key: str, lowest: int, what: str) -> int:
    """A plain Python int keyword (``align``, ``offset_factor``): printed back as the number, so
    anything else (a string, a bool, an expression) would print as text that means another
    thing (``align='a'`` printed ``align=a``, the handle ``a``)."""
    if type(value) is not int or value < lowest:
        raise ArgError(key, f"{key} must be a {what} integer, got {describe(value)}")
    return value


def _check_unstored(buffer_type: Any, axis_separators: Any) -> None:
    """TVM keywords this IR does not store: accepted only with their default meaning, since a
    dropped value would silently change the program."""
    if buffer_type not in ("", "default"):
        raise ArgError("buffer_type", f'buffer_type must be "" or "default", '
                                      f"got {describe(buffer_type)}")
    if axis_separators:
        raise ArgError("axis_separators", "axis_separators are not supported, "
                                          f"got {describe(axis_separators)}")


def _buffer_args(shape: Any, dtype: Any, data: Any = None, strides: Any = None,
                 elem_offset: Any = None, scope: str = "global", align: int = 64,
                 offset_factor: int = 0, buffer_type: Any = "",
                 axis_separators: Any = None) -> dict:
    """Checked keyword arguments of a Buffer, shared by every T call that declares one."""
    _check_unstored(buffer_type, axis_separators)
    align = _count(align, "align", -1, "positive")  # -1 and 0: the default, as in TVM
    args = dict(dtype=_dtype(dtype, "dtype"), shape=_shape(shape, "shape"),
                strides=_shape(strides, "strides", "strides") if strides else (),
                scope=_scope(scope), data_alignment=align if align > 0 else 64,
                offset_factor=_count(offset_factor, "offset_factor", 0, "non-negative"))
    if elem_offset is not None:
        args["elem_offset"] = _int(elem_offset, "elem_offset", "elem_offset")
    if data is not None:
        if not (isinstance(data, E.Var) and data.dtype.is_handle):
            raise ArgError("data", f"data= must be a handle variable, got {describe(data)}")
        args["data"] = data
    return args


# ---------------------------------------------------------------- buffers and storage


def buffer(p, shape, dtype="float32", data=None, strides=None, elem_offset=None, scope="global",
           align=64, offset_factor=0, buffer_type="", axis_separators=None):
    return F.BufferDef("view", _buffer_args(shape, dtype, data, strides, elem_offset, scope,
                                            align, offset_factor, buffer_type, axis_separators))


def match_buffer(p, param, shape=None, dtype="float32", data=None, strides=None,
                 elem_offset=None, scope="global", align=64, offset_factor=0, buffer_type="",
                 axis_separators=None):
    if isinstance(param, E.Var) and param.dtype.is_handle:
        if p is not None and param not in p.func.params:
            raise ArgError(0, f"T.match_buffer expects a handle parameter, got {param.name}")
        if shape is None:
            raise ArgError(1, "T.match_buffer of a handle needs a shape")
        return F.BufferDef("param", _buffer_args(shape, dtype, data, strides, elem_offset, scope,
                                                 align, offset_factor, buffer_type,
                                                 axis_separators), param)
    try:
        region = as_region(param)
    except TypeError:
        raise ArgError(0, "T.match_buffer expects a handle parameter or a buffer region, "
                          f"got {describe(param)}") from None
    if shape is None:
        shape = tuple(r.extent for r in region.region)
    if p is not None:
        p.block_frame("T.match_buffer of a region")
    return F.BufferDef("region", _buffer_args(shape, dtype, data, strides, elem_offset, scope,
                                              align, offset_factor, buffer_type,
                                              axis_separators), region)


def _check_tvm_defaults(byte_offset: Any, layout: Any, allocated_addr: Any) -> None:
    """TVM 0.27 keywords of an allocation this IR does not store, at their default only."""
    if byte_offset is not None:
        raise ArgError("byte_offset", f"byte_offset is not supported, got {describe(byte_offset)}")
    if layout not in (None, "default"):
        raise ArgError("layout", f'layout must be "default", got {describe(layout)}')
    if allocated_addr not in (None, [], ()):
        raise ArgError("allocated_addr", "allocated_addr is not supported, "
                                         f"got {describe(allocated_addr)}")


def alloc_buffer(p, shape, dtype="float32", data=None, strides=None, elem_offset=None,
                 scope="global", align=64, offset_factor=0, buffer_type="", axis_separators=None,
                 byte_offset=None, layout="default", allocated_addr=None, annotations=None):
    """The block's allocation (classic, in a function with blocks), or TVM 0.27's flat
    allocation over the rest of the body: in ``@T.prim_func(s_tir=True)`` and in a function
    without blocks (the parser's ``flat_alloc``)."""
    _check_tvm_defaults(byte_offset, layout, allocated_addr)
    args = _buffer_args(shape, dtype, data, strides, elem_offset, scope, align, offset_factor,
                        buffer_type, axis_separators)
    if p is not None and getattr(p, "flat_alloc", False):
        if data is not None:
            raise ArgError("data", "a flat T.alloc_buffer allocates its own storage; write "
                                   "T.decl_buffer(..., data=...) to view existing storage")
        return F.BufferDef("flat", args, annotations=dict(
            _attrs(annotations or {}, "annotations", "annotations")))
    if annotations:
        raise ArgError("annotations", "a block's T.alloc_buffer takes no annotations")
    return F.BufferDef("alloc", args)


def sblock_alloc_buffer(p, shape, dtype="float32", data=None, strides=None, elem_offset=None,
                        scope="global", align=64, offset_factor=0, buffer_type="",
                        axis_separators=None, layout="default", allocated_addr=None):
    """TVM 0.27's spelling of the block's allocation (classic ``T.alloc_buffer`` in a block)."""
    _check_tvm_defaults(None, layout, allocated_addr)
    return F.BufferDef("alloc", _buffer_args(shape, dtype, data, strides, elem_offset, scope,
                                             align, offset_factor, buffer_type, axis_separators))


def _flat_alloc(scope: str):
    """``T.alloc_local``/``T.alloc_shared``: TVM 0.27's flat allocation in that scope."""

    def make(p, shape, dtype="float32", data=None, strides=None, elem_offset=None, align=64,
             offset_factor=0, buffer_type="", axis_separators=None, byte_offset=None,
             layout="default", allocated_addr=None, annotations=None):
        _check_tvm_defaults(byte_offset, layout, allocated_addr)
        if data is not None:
            raise ArgError("data", f"T.alloc_{scope} allocates its own storage; write "
                                   "T.decl_buffer(..., data=...) to view existing storage")
        args = _buffer_args(shape, dtype, None, strides, elem_offset, scope, align,
                            offset_factor, buffer_type, axis_separators)
        return F.BufferDef("flat", args, annotations=dict(
            _attrs(annotations or {}, "annotations", "annotations")))

    return make


def decl_buffer(p, shape, dtype="float32", data=None, strides=None, elem_offset=None,
                scope="global", align=64, offset_factor=0, buffer_type="", axis_separators=None):
    return F.BufferDef("decl", _buffer_args(shape, dtype, data, strides, elem_offset, scope,
                                            align, offset_factor, buffer_type, axis_separators),
                        data)


def allocate(p, extents, dtype, scope="global", condition=True, annotations=None):
    return F.AllocateSpec(_shape(extents, "extents"), _dtype(dtype, 1), _scope(scope),
                          as_prim(condition),
                          dict(_attrs(annotations or {}, "annotations", "annotations")))


def launch_thread(p, thread, extent):
    if not isinstance(thread, str):
        raise ArgError(0, f"T.launch_thread expects a thread name such as \"threadIdx.x\", "
                          f"got {describe(thread)}")
    return F.LaunchSpec(thread, _int(extent, 1, "a thread extent"))


def attr(p, node, attr_key=None, value=None):
    if isinstance(node, dict):
        if attr_key is not None or value is not None:
            raise ArgError(1, "T.attr({...}) takes only the dict of attributes")
        return _attr_dict(node)
    if attr_key is None or value is None:
        raise ArgError(0, "T.attr takes a node, a key and a value, T.attr(node, \"key\", "
                          "value), or a dict of attributes, T.attr({\"key\": value})")
    if not isinstance(node, (Node, str, bool, int, float)):
        raise ArgError(0, f"T.attr expects an IR node such as a variable or buffer, "
                          f"got {describe(node)}")
    if not isinstance(attr_key, str):
        raise ArgError(1, f"T.attr expects a string key, got {describe(attr_key)}")
    value = StringImm(value) if isinstance(value, str) else as_prim(value)
    return F.AttrSpec(node, attr_key, value)


def _attr_dict(attrs: dict) -> F.AttrScope:
    """TVM 0.27's ``T.attr({"key": value, ...})``: one attribute per key on the node 0."""
    if not attrs:
        raise ArgError(0, "T.attr({...}) needs at least one \"key\": value")
    specs = []
    for key, value in attrs.items():
        if not isinstance(key, str):
            raise ArgError(0, f"T.attr expects string keys, got {describe(key)}")
        try:
            value = StringImm(value) if isinstance(value, str) else as_prim(value)
        except TypeError:
            raise ArgError(0, f"T.attr value for key {key!r} must be a string or an expression, "
                              f"got {describe(value)}") from None
        specs.append(F.AttrSpec(0, key, value))
    return F.AttrScope(specs)


# ---------------------------------------------------------------- functions and blocks


def let_stmt(p, value, var=None):
    return F.LetSpec(as_prim(value))


def assert_stmt(p, condition, message="", error_kind="RuntimeError"):
    cond = as_prim(condition)
    if not cond.dtype.is_bool:
        raise ArgError(0, f"T.Assert expects a bool condition, got {describe(cond)}")
    if not isinstance(error_kind, str) or not error_kind:
        raise ArgError("error_kind", "T.Assert expects an error kind such as \"ValueError\", "
                                     f"got {describe(error_kind)}")
    try:
        parts = assert_parts(message)
    except TypeError as exc:
        raise ArgError(1, str(exc)) from None
    return F.AssertSpec(cond, "".join(parts), error_kind, parts)


def assert_message(message: Any) -> tuple[str, tuple[str, ...]]:
    """The error kind and message fragments of ``assert c, message``: a string, a list of
    fragments, or TVM 0.27's ``("Kind", ["fragment", ...])``."""
    if isinstance(message, tuple):
        if len(message) != 2 or not isinstance(message[0], str) or not message[0]:
            raise TypeError("an assert message tuple is (\"Kind\", [\"message\", ...]) with "
                            "an error kind such as \"ValueError\" first, "
                            f"got {describe(message)}")
        return message[0], assert_parts(message[1])
    return "RuntimeError", assert_parts(message)


def assert_parts(message: Any) -> tuple[str, ...]:
    items = message if isinstance(message, list) else [message]
    for item in items:
        if isinstance(item, StringImm):
            item = item.value
        if not isinstance(item, str):
            raise TypeError("an assert message must be a string, a list of strings or "
                            f"(\"Kind\", [strings]), got {describe(message)}")
    return tuple(i.value if isinstance(i, StringImm) else i for i in items)


def var(p, dtype):
    """``n = T.var("int32")``: TVM's older spelling of ``n = T.int32()``."""
    return F.PendingVar(_dtype(dtype, 0))


def func_attr(p, attrs):
    """Function attributes; TVM 0.27's ``"tirx.X"`` keys (``tirx.noalias``,
    ``tirx.is_scheduled``...) are this IR's ``"tir.X"``."""
    attrs = _attrs(attrs, 0, "T.func_attr")
    p.func.attrs.update({_tir_key(k): v for k, v in attrs.items()})


def _tir_key(key: Any) -> Any:
    return "tir." + key[len("tirx."):] if isinstance(key, str) and key.startswith("tirx.") \
        else key


def block(p, name=None, no_realize=False):
    if not isinstance(name, str) or not name:
        raise ArgError(0, "a block needs a name: with T.block(\"name\"):")
    return F.BlockSpec(name)


def init(p):
    p.block_frame("T.init()")
    return F.InitSpec()


def reads(p, *regions):
    frame = p.block_frame("T.reads")
    frame.reads = _regions(regions, frame)


def writes(p, *regions):
    frame = p.block_frame("T.writes")
    frame.writes = _regions(regions, frame)


def _regions(regions: tuple, frame: F.BlockFrame) -> list[BufferRegion]:
    if len(regions) == 1 and isinstance(regions[0], (list, tuple)):
        regions = tuple(regions[0])
    out = []
    for i, r in enumerate(regions):
        try:
            out.append(as_region(r))
        except TypeError as exc:
            raise ArgError(i, str(exc)) from None
        _check_not_own(out[-1].buffer, frame, i)
    return out


def _check_not_own(buf: Any, frame: F.BlockFrame, key: int) -> None:
    """A block's regions describe what it exchanges with the outside (as in TVM, whose region
    inference leaves a block's allocations out); its own buffer there is a name mix-up (an
    allocation shadowing a parameter) and could not be printed before its definition."""
    if buf in frame.alloc_buffers:
        raise ArgError(key, f"buffer {buf.name} is allocated by this block; a block's own "
                            "buffers are not visible outside it and cannot be in its T.reads "
                            "or T.writes")


def where(p, predicate):
    """The block's predicate: it belongs to the realize, outside the block, so (as in TVM) it
    can only use the enclosing loop variables, never the block's own iterators."""
    frame = p.block_frame("T.where")
    predicate = as_prim(predicate)
    for iv, value in zip(frame.iter_vars, frame.iter_values):
        if uses_vars(predicate, {iv.var}):
            raise ArgError(0, f"T.where(...) uses the block's own iterator {iv.var.name}; a "
                              "block predicate is over the enclosing loop variables: write it "
                              "with the loop variables the iterators are bound to "
                              f"({iv.var.name} = {value})")
    frame.predicate = predicate


def _block_attr(name: str):
    def block_attr(p, attrs):
        p.block_frame(name).annotations.update(_attrs(attrs, 0, name))

    return block_attr


def evaluate(p, value):
    return S.Evaluate(as_prim(value))


# ---------------------------------------------------------------- axes


def _axis(kind: S.IterType):
    def make(p, dom, binding, dtype="int32"):
        if p is not None:
            p.block_frame(f"T.axis.{kind.value}")
        value = _int(binding, 1, "an iterator binding")
        if isinstance(dom, (tuple, list)):
            if len(dom) != 2:
                raise ArgError(0, f"an iterator domain is an extent or (min, max), got {dom!r}")
            lo, ext = range_of(_int(dom[0], 0, "a domain"), _int(dom[1], 0, "a domain"))
        elif isinstance(dom, Range):
            lo, ext = dom.min, dom.extent
        else:
            ext = _int(dom, 0, "an iterator extent")
            lo = const(0, ext.dtype)
        return F.AxisSpec(kind, Range(lo, ext), value)

    return make


_KIND_LETTERS = {"S": S.IterType.SPATIAL, "R": S.IterType.REDUCE, "C": S.IterType.SCAN,
                 "O": S.IterType.OPAQUE}


def remap(p, kinds, bindings):
    if p is not None:
        p.block_frame("T.axis.remap")
    if not isinstance(kinds, str) or any(k not in _KIND_LETTERS for k in kinds):
        raise ArgError(0, f"T.axis.remap kinds must be a string of S (spatial), R (reduce), "
                          f"C (scan), O (opaque), got {kinds!r}")
    bindings = list(bindings) if isinstance(bindings, (list, tuple)) else [bindings]
    if len(kinds) != len(bindings):
        raise ArgError(0, f"T.axis.remap kinds \"{kinds}\" name {len(kinds)} iterator(s) but "
                          f"{len(bindings)} loop variable(s) are given")
    doms = []
    for var in bindings:
        dom = p.loop_dom(var) if p is not None and isinstance(var, E.Var) else None
        if dom is None:
            raise ArgError(1, f"T.axis.remap expects loop variables of enclosing loops, "
                              f"got {describe(var)}")
        doms.append(Range(*dom))
    return F.RemapSpec([_KIND_LETTERS[k] for k in kinds], doms, bindings, kinds)


axis = Namespace("T.axis", table("T.axis", {
    "spatial": _axis(S.IterType.SPATIAL), "S": _axis(S.IterType.SPATIAL),
    "reduce": _axis(S.IterType.REDUCE), "R": _axis(S.IterType.REDUCE),
    "scan": _axis(S.IterType.SCAN), "opaque": _axis(S.IterType.OPAQUE), "remap": remap,
}))


# ---------------------------------------------------------------- loops


def _loop(kind: S.ForKind):
    def make(p, start, stop=None, annotations=None):
        return _loop_spec(kind, start, stop, "", annotations)

    return make


def _extent(value: Any, key: int) -> PrimExpr:
    """A loop extent; a negative constant is refused (TVM's loops take an extent, and a
    negative one describes no loop; an expression is the program's to keep non-negative)."""
    ext = _int(value, key, "a loop extent")
    if isinstance(ext, E.IntImm) and ext.value < 0:
        raise ArgError(key, f"a loop extent must not be negative, got {ext.value}")
    return ext


def _loop_spec(kind, start, stop, thread, annotations) -> F.LoopSpec:
    if stop is None:
        ext = _extent(start, 0)
        lo = const(0, ext.dtype)
    else:
        _int(start, 0, "a loop start")
        _int(stop, 1, "a loop end")
        lo, ext = range_of(start, stop)
        if isinstance(ext, E.IntImm) and ext.value < 0:
            raise ArgError(1, f"a loop end must not be less than its start: {lo.value}:"
                              f"{lo.value + ext.value} has extent {ext.value}")
    annotations = _attrs(annotations or {}, "annotations", "annotations")
    return F.LoopSpec(kind, lo, ext, thread, dict(annotations))


def thread_binding(p, start, stop=None, thread=None, annotations=None):
    if isinstance(stop, str) and thread is None:
        stop, thread = None, stop
    if not isinstance(thread, str):
        raise ArgError("thread", "T.thread_binding needs thread=\"threadIdx.x\" "
                                 "(or blockIdx.x, ...)")
    return _loop_spec(S.ForKind.THREAD_BINDING, start, stop, thread, annotations)


def grid(p, *extents):
    return F.GridSpec([_extent(e, i) for i, e in enumerate(extents)])


# ---------------------------------------------------------------- expressions


def _pair(a, b):
    """Two operands of one dtype; a region such as ``A[0:16]`` is its vector load."""
    return E.match_dtypes(loaded(a), loaded(b))


def select(p, condition, true_value, false_value):
    t, f = _pair(true_value, false_value)
    return E.Select(as_prim(condition), t, f)


def cast(p, dtype, value):
    return E.Cast(_dtype(dtype, 0), as_prim(value))


def ramp(p, base, stride, lanes):
    base = as_prim(base)
    return E.Ramp(base, E._const_like(stride, base.dtype) if not isinstance(stride, PrimExpr)
                  else stride, int(lanes))


def broadcast(p, value, lanes):
    return E.Broadcast(as_prim(value), int(lanes))


def let(p, var, value, body):
    if not isinstance(var, E.Var):
        raise ArgError(0, "T.let binds a variable declared with x = T.int32(), "
                          f"got {describe(var)}")
    return E.Let(var, as_prim(value), as_prim(body))


def _limit(which: str):
    def make(p, dtype):
        dt = _dtype(dtype, 0)
        if dt.is_float:
            value = largest_finite(dt)
            return const(value if which == "max" else -value, dt)
        lo, hi = integer_range(dt)  # bool: 0 and 1
        return const(hi if which == "max" else lo, dt)

    return make


def _binary(cls):
    """``T.truncdiv`` and friends: folded like the operators (``fold.py``)."""

    def make(p, a, b):
        return fold_binary(cls, *_pair(a, b))

    return make




def _intrinsic(info: intrin.IntrinsicDef) -> Builtin:
    def call(p, *args):
        return make_intrinsic(info, args)

    return Builtin(f"T.{info.script_name}", call)


def make_intrinsic(info: intrin.IntrinsicDef, args: tuple) -> PrimExpr:
    name = f"T.{info.script_name}"
    explicit = info.dtype_rule == "explicit"
    rest = list(args[1:] if explicit else args)
    if info.arity is not None and len(rest) != info.arity:
        raise TypeError(f"{name} takes {info.arity} argument(s) "
                        f"{'after the dtype ' if explicit else ''}but {len(rest)} were given")
    if explicit and not args:
        raise TypeError(f"{name} needs the result dtype first, e.g. {name}(\"int32\", ...)")
    if info.arity == 2 and info.dtype_rule == "arg0":
        rest = list(_pair(rest[0], rest[1]))
    if info.op == "tir.if_then_else":
        rest[1], rest[2] = _pair(rest[1], rest[2])
    exprs = tuple(as_prim(a) if not isinstance(a, str) else StringImm(a) for a in rest)
    dtype = _result_dtype(info, args, exprs)
    return E.Call(dtype, info.op, exprs)


def _result_dtype(info: intrin.IntrinsicDef, args: tuple, exprs: tuple) -> DataType:
    rule = info.dtype_rule
    if rule == "explicit":
        return _dtype(args[0], 0)
    if rule in ("bool", "int32", "handle"):
        return as_dtype(rule)
    index = 1 if rule == "arg1" else 0
    if not exprs:
        raise TypeError(f"T.{info.script_name} needs at least one argument")
    return exprs[index].dtype


class DTypeCtor:
    """``T.float32``: an annotation, a literal ``T.float32(1)`` or a cast, or ``T.int32()``."""

    def __init__(self, dt: DataType) -> None:
        self.script_dtype = dt
        self.script_kind = f"T.{dt}"

    def script_callable(self, p, node, args, kwargs):
        if kwargs or len(args) > 1:
            raise TypeError(f"T.{self.script_dtype} takes at most one argument, a value")
        if not args:
            return F.PendingVar(self.script_dtype)
        return literal(self.script_dtype, args[0])

    def __call__(self, *args: Any) -> Any:
        try:
            return self.script_callable(None, None, list(args), {})
        except Exception:  # noqa: BLE001 - Python evaluating an annotation: best effort
            return None


def literal(dt: DataType, value: Any) -> PrimExpr:
    if isinstance(value, str) and dt.is_float:
        return E.FloatImm(dt, float(value))
    if isinstance(value, (bool, int, float)):
        if isinstance(value, float) and not dt.is_float:
            if not value.is_integer():
                raise TypeError(f"T.{dt} cannot hold the float {value!r}")
            value = int(value)
        return E.fitting_const(value, dt)
    expr = as_prim(value)
    return expr if expr.dtype == dt else E.Cast(dt, expr)


_DTYPE_CTORS: dict[str, DTypeCtor] = {}


def _fallback(name: str) -> Any:
    info = intrin.by_script_name(name)
    if info is not None:
        return _intrinsic(info)
    if name in _DTYPE_CTORS:
        return _DTYPE_CTORS[name]
    try:
        dt = as_dtype(name)
    except DTypeError:
        return None
    return _DTYPE_CTORS.setdefault(name, DTypeCtor(dt))


_ENTRIES = dict(table("T", {
    "Buffer": buffer, "match_buffer": match_buffer, "alloc_buffer": alloc_buffer,
    "decl_buffer": decl_buffer, "buffer_decl": decl_buffer, "var": var, "allocate": allocate,
    "launch_thread": launch_thread, "attr": attr, "LetStmt": let_stmt, "Assert": assert_stmt,
    "func_attr": func_attr, "block": block, "sblock": block, "init": init,
    "reads": reads, "writes": writes, "where": where, "block_attr": _block_attr("T.block_attr"),
    "sblock_attr": _block_attr("T.sblock_attr"), "sblock_alloc_buffer": sblock_alloc_buffer,
    "alloc_local": _flat_alloc("local"), "alloc_shared": _flat_alloc("shared"),
    "evaluate": evaluate, "serial": _loop(S.ForKind.SERIAL),
    "parallel": _loop(S.ForKind.PARALLEL), "vectorized": _loop(S.ForKind.VECTORIZED),
    "unroll": _loop(S.ForKind.UNROLLED), "thread_binding": thread_binding, "grid": grid,
    "Select": select, "Cast": cast, "Ramp": ramp, "Broadcast": broadcast, "let": let,
    "min_value": _limit("min"), "max_value": _limit("max"), "min": _binary(E.Min),
    "max": _binary(E.Max), "floordiv": _binary(E.FloorDiv), "floormod": _binary(E.FloorMod),
    "truncdiv": _binary(E.Div), "truncmod": _binary(E.Mod),
}))
_ENTRIES.update(EXPR_ENTRIES)
_ENTRIES.update(axis=axis, prim_func=prim_func, handle=_fallback("handle"))

T = Namespace("T", _ENTRIES, _fallback)
RANGE = _ENTRIES["serial"]

__all__ = ["T", "RANGE", "make_intrinsic", "literal", "DTypeCtor"]
