"""Entry points: the decorators, ``from_source`` and module parsing.

A decorated method cannot be parsed when Python runs its decorator (``cls.f`` may name a later
function), so ``T.prim_func``/``R.function`` on a method return a ``Deferred`` marker that
``I.ir_module`` parses with the names of all the module's functions known.
"""

from __future__ import annotations

import ast
import contextlib
from collections import ChainMap
from typing import Any, Callable

from ...diagnostics import ScriptError, user_facing
from ...ir.frozendict import FrozenDict
from ...ir.function import GlobalVar, IRModule
from . import source as src
from .core import ParserBase
from .values import attr_dict


class Deferred:
    """A function defined in a class, parsed later by ``I.ir_module``."""

    def __init__(self, kind: str, func: Callable[..., Any]) -> None:
        self.kind = kind
        self.func = func

    def __repr__(self) -> str:
        return f"<deferred {self.kind} {self.func.__qualname__}>"


class ModuleRef:
    """``cls = Module`` inside a module's function: ``cls.f`` is ``GlobalVar("f")``."""

    script_kind = "a module reference"

    def __init__(self, name: str, functions: list[str]) -> None:
        self.name = name
        self.functions = functions
        self.returns: dict[str, Any] = {}  # graph function -> (param, return) sinfo

    def __getattr__(self, attr: str) -> GlobalVar:
        if attr.startswith("__") or attr not in self.__dict__.get("functions", ()):
            raise AttributeError(self.script_attr_error(attr))
        return GlobalVar(attr)

    def script_attr_error(self, attr: str) -> str:
        have = ", ".join(self.functions) or "none"
        return f"module {self.name} has no function '{attr}'; it has: {have}"


def _namespaces() -> dict[str, Any]:
    from ..module_ns import I
    from ..relax_ns import R
    from ..tir_ns import T

    return {"T": T, "R": R, "I": I}


def _env(func: Callable[..., Any] | None) -> ChainMap:
    if func is None:
        return ChainMap({}, _namespaces())
    closure = {}
    code = getattr(func, "__code__", None)
    if code is not None and func.__closure__:
        for name, cell in zip(code.co_freevars, func.__closure__):
            try:
                closure[name] = cell.cell_contents
            except ValueError:  # an unbound cell: a name defined later in the enclosing scope
                pass
    return ChainMap({}, closure, func.__globals__, _namespaces())


def _is_method(func: Callable[..., Any]) -> bool:
    parts = func.__qualname__.split(".")
    return len(parts) > 1 and parts[-2] != "<locals>"


def _parse_def(kind: str, fdef: ast.FunctionDef, source: src.Source, env: ChainMap) -> Any:
    private = _private(fdef, source)
    if kind == "tir":
        from .tir import TIRParser

        func = TIRParser(source, env).parse_function(fdef)
    else:
        from .relax import RelaxParser

        func = RelaxParser(source, env).parse_function(fdef)
    return _with_symbol(func, fdef, source, private)


def _private(fdef: ast.FunctionDef, source: src.Source) -> bool:
    """``private=True`` in the function's decorator (a literal, as TVM reads it)."""
    for dec in fdef.decorator_list:
        for kw in dec.keywords if isinstance(dec, ast.Call) else ():
            if kw.arg != "private":
                continue
            if not isinstance(kw.value, ast.Constant) or not isinstance(kw.value.value, bool):
                raise source.error(kw.value, "private= takes True or False")
            return kw.value.value
    return False


def _with_symbol(func: Any, fdef: ast.FunctionDef, source: src.Source, private: bool) -> Any:
    """TVM's convention: a function that is not ``private=True`` is exported under its name
    (``global_symbol``) unless its attributes name another symbol; a private one has none."""
    has = "global_symbol" in func.attrs
    if private and has:
        raise source.error(fdef, f"function '{fdef.name}' is private=True but its attributes give "
                                 "a global_symbol; drop one of them")
    if private or has:
        return func
    return func.with_(attrs=FrozenDict({**func.attrs, "global_symbol": fdef.name}))


@user_facing
def _decorated(kind: str, func: Callable[..., Any]) -> Any:
    if _is_method(func):
        return Deferred(kind, func)
    source = src.from_object(func)
    fdef = source.tree.body[0]
    return _parse_def(kind, fdef, source, _env(func))


@user_facing
def prim_func(func: Callable[..., Any] | None = None, *, private: bool = False,
              s_tir: bool = False, check_well_formed: bool = True) -> Any:
    """``@T.prim_func`` (also with ``private=True``/``s_tir=True``): parse a loop-level function."""
    if func is None:
        return lambda f: _decorated("tir", f)
    return _decorated("tir", func)


@user_facing
def function(func: Callable[..., Any] | None = None, *, private: bool = False,
             pure: bool = True, check_well_formed: bool = True) -> Any:
    """``@R.function``: parse a graph-level function."""
    if func is None:
        return lambda f: _decorated("relax", f)
    return _decorated("relax", func)


@user_facing
def ir_module(cls: type) -> IRModule:
    """``@I.ir_module class Module:``: parse every decorated method into one module."""
    source = src.from_object(cls)
    cdef = source.tree.body[0]
    if not isinstance(cdef, ast.ClassDef):
        raise source.error(cdef, "@I.ir_module decorates a class")
    members = {name: value.func for name, value in vars(cls).items() if isinstance(value, Deferred)}
    return parse_module(cdef, source, lambda name: _env(members.get(name)))


def _kind(parser: ParserBase, dec: ast.expr) -> str | None:
    target = dec.func if isinstance(dec, ast.Call) else dec
    if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
        ns = parser.env.get(target.value.id)
        names = _namespaces()
        if ns is names["T"] and target.attr == "prim_func":
            return "tir"
        if ns is names["R"] and target.attr == "function":
            return "relax"
    return None


def parse_module(cdef: ast.ClassDef, source: src.Source,
                 env_of: Callable[[str], ChainMap]) -> IRModule:
    names = [s.name for s in cdef.body if isinstance(s, ast.FunctionDef)]
    ref = ModuleRef(cdef.name, names)
    ref.returns = _static_returns(cdef, source, env_of)
    functions: dict[str, Any] = {}
    attrs: dict[str, Any] = {}
    for stmt in cdef.body:
        env = env_of(getattr(stmt, "name", ""))
        env.maps[0][cdef.name] = ref
        if isinstance(stmt, ast.FunctionDef):
            functions[stmt.name] = _module_function(stmt, source, env)
        elif isinstance(stmt, ast.Expr):
            _module_expr(stmt, source, env, attrs)
        elif not isinstance(stmt, ast.Pass):
            raise source.error(stmt, "a module class holds only @T.prim_func and @R.function "
                                     "definitions and I.module_attrs({...})")
    return IRModule(FrozenDict(functions), attrs).with_span(source.span(cdef))


def _static_returns(cdef: ast.ClassDef, source: src.Source,
                    env_of: Callable[[str], ChainMap]) -> dict[str, Any]:
    """Each graph function's parameter and return annotations: what a call ``cls.f(x)``
    gives, as TVM infers it (a function may be called before its definition)."""
    from .relax import RelaxParser

    out: dict[str, Any] = {}
    for fdef in cdef.body:
        if not isinstance(fdef, ast.FunctionDef) or fdef.returns is None:
            continue
        env = env_of(fdef.name)
        if len(fdef.decorator_list) != 1 or _kind(ParserBase(source, env),
                                                  fdef.decorator_list[0]) != "relax":
            continue
        parser = RelaxParser(source, env)
        with contextlib.suppress(Exception):  # reported where the function itself is parsed
            params = [parser.annotation(a.annotation) for a in fdef.args.args]
            out[fdef.name] = (params, parser.annotation(fdef.returns))
    return out


def _module_function(fdef: ast.FunctionDef, source: src.Source, env: ChainMap) -> Any:
    parser = ParserBase(source, env)
    if len(fdef.decorator_list) != 1:
        raise source.error(fdef, f"function '{fdef.name}' needs exactly one decorator, "
                                 "@T.prim_func or @R.function")
    kind = _kind(parser, fdef.decorator_list[0])
    if kind is None:
        raise source.error(fdef.decorator_list[0], "expected @T.prim_func or @R.function")
    return _parse_def(kind, fdef, source, env)


def _module_expr(stmt: ast.Expr, source: src.Source, env: ChainMap, attrs: dict) -> None:
    value = stmt.value
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return
    parser = ParserBase(source, env)
    call_ok = isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) \
        and value.func.attr == "module_attrs" and len(value.args) == 1
    if not call_ok:
        raise source.error(stmt, "a module class holds only function definitions and "
                                 "I.module_attrs({...})")
    result = parser.eval(value.args[0])
    attrs.update(parser.guard(value.args[0], attr_dict, result, "I.module_attrs"))


@user_facing
def from_source(text: str, filename: str = "<string>", metadata: Any = None) -> Any:
    """Parse a script text: one decorated def gives that function, one decorated class a module.

    ``metadata``: the constants that ``metadata["relax.expr.Constant"][i]`` in the text refers
    to (a list of arrays or ``R.const`` constants, in order, as ``print_with_metadata`` returns
    them), or a dict of such lists by table name."""
    source = src.from_text(text, filename)
    defs = [s for s in source.tree.body if not _skippable(s)]
    sizes: dict[str, Any] = {}
    if metadata is not None:
        sizes["metadata"] = Metadata(_metadata_tables(metadata))
    while len(defs) > 1 and (_size_declaration(defs[0], source, sizes)
                             or _metadata_section(defs[0], source, sizes)):
        defs.pop(0)
    if len(defs) != 1 or not isinstance(defs[0], (ast.FunctionDef, ast.ClassDef)):
        node = defs[1] if len(defs) > 1 else (defs[0] if defs else None)
        raise source.error(node, "expected exactly one decorated function or class "
                                 f"(@T.prim_func, @R.function or @I.ir_module), found {len(defs)} "
                                 "top-level statement(s)")
    node = defs[0]
    env = _env(None)
    env.maps[0].update(sizes)
    if isinstance(node, ast.ClassDef):
        return _from_source_class(node, source, sizes)
    return _module_function(node, source, env)


def _size_declaration(stmt: ast.stmt, source: src.Source, sizes: dict[str, Any]) -> bool:
    """``n = TypeVar("n")`` or ``n = T.int64()`` before the function or module, as TVM 0.27
    prints symbolic sizes: each function that uses ``n`` gets its own variable ``n``."""
    from ...ir.dtype import INT64
    from ...ir.dtype import dtype as as_dtype
    from .tir_frames import PendingVar

    value = stmt.value if isinstance(stmt, ast.Assign) else None
    if not isinstance(value, ast.Call) or len(stmt.targets) != 1 \
            or not isinstance(stmt.targets[0], ast.Name):
        return False
    name, func = stmt.targets[0].id, value.func
    if isinstance(func, ast.Name) and func.id == "TypeVar":
        given = value.args[0].value if len(value.args) == 1 and not value.keywords and \
            isinstance(value.args[0], ast.Constant) else None
        if given != name:
            raise source.error(value, f'a symbolic size is declared as {name} = TypeVar("{name}")'
                                      " (the same name, nothing else)")
        sizes[name] = PendingVar(INT64)
        return True
    is_t = isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) \
        and func.value.id == "T" and func.attr in ("int64", "int32")
    if not is_t or value.args or value.keywords:
        return False
    sizes[name] = PendingVar(as_dtype(func.attr))
    return True


def _metadata_section(stmt: ast.stmt, source: src.Source, names: dict[str, Any]) -> bool:
    """``metadata = tvm.ir.load_json(\"\"\"...\"\"\")``: the constants TVM prints with
    ``show_meta=True``, referred to as ``metadata["ir.GenericConst"][0]``."""
    ok = isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 \
        and isinstance(stmt.targets[0], ast.Name) and stmt.targets[0].id == "metadata" \
        and isinstance(stmt.value, ast.Call) and ast.unparse(stmt.value.func) == \
        "tvm.ir.load_json" and len(stmt.value.args) == 1 \
        and isinstance(stmt.value.args[0], ast.Constant) \
        and isinstance(stmt.value.args[0].value, str)
    if not ok:
        return False
    try:
        names["metadata"] = Metadata(_load_metadata(stmt.value.args[0].value))
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise source.error(stmt.value, f"cannot read TVM's metadata section: {exc}") from None
    return True


class Metadata:
    """The metadata section's tables: ``metadata["ir.GenericConst"]`` is a list of constants."""

    script_kind = "TVM's metadata section"

    def __init__(self, tables: dict[str, list]) -> None:
        self.tables = tables

    def script_getitem(self, key: Any) -> _MetadataTable:
        if key not in self.tables:
            have = ", ".join(f'"{k}"' for k in self.tables) or "nothing"
            raise KeyError(f"the metadata section has no {key!r}; it has {have}")
        return _MetadataTable(key, self.tables[key])


class _MetadataTable:
    script_kind = "a metadata table"

    def __init__(self, key: str, items: list) -> None:
        self.key, self.items = key, items

    def script_getitem(self, index: Any) -> Any:
        if not isinstance(index, int) or not 0 <= index < len(self.items):
            raise IndexError(f'metadata["{self.key}"] has {len(self.items)} entries, '
                             f"not an entry {index!r}")
        item = self.items[index]
        if isinstance(item, str):  # a node kind that has no meaning here
            raise TypeError(f'metadata["{self.key}"][{index}] is a TVM {item}, which is not '
                            "supported here")
        return item


_CONSTANT_KINDS = ("ir.GenericConst", "relax.expr.Constant", "relax.Constant")


def _metadata_tables(metadata: Any) -> dict[str, list]:
    from ...ir.graph import Constant

    tables = metadata if isinstance(metadata, dict) else {"relax.expr.Constant": metadata}
    return {key: [c if isinstance(c, Constant) else Constant(c) for c in items]
            for key, items in tables.items()}


def _load_metadata(text: str) -> dict[str, list]:
    """TVM's JSON object graph: the root is a map from a kind to an array of nodes."""
    import json

    graph = json.loads(text)
    nodes = graph["nodes"]
    root = nodes[graph["root_index"]]
    pairs = root["data"]
    tables: dict[str, list] = {}
    for k, v in zip(pairs[::2], pairs[1::2]):
        key = nodes[k]["data"]
        tables[key] = [_metadata_node(nodes, i) for i in nodes[v]["data"]]
    return tables


def _metadata_node(nodes: list, index: int) -> Any:
    node = nodes[index]
    if node["type"] not in _CONSTANT_KINDS:
        return node["type"]
    from ...ir.graph import Constant

    return Constant(_tensor(nodes[node["data"]["value"]]["data"]))


_DL_CODES = {0: "int", 1: "uint", 2: "float", 6: "bool"}


def _tensor(b64: str) -> Any:
    """A tensor in TVM's save format: magic, reserved, device, ndim, dtype, shape, bytes."""
    import base64
    import struct

    import numpy as np

    raw = base64.b64decode(b64)
    magic, _, _, _, ndim, code, bits, lanes = struct.unpack_from("<QQiiiBBH", raw, 0)
    if magic != 0xDD5E40F096B4A13F:
        raise ValueError("a tensor does not start with TVM's tensor magic number")
    if code not in _DL_CODES or lanes != 1:
        raise ValueError(f"a tensor has the DLPack dtype code {code} x{lanes}, not supported")
    name = "bool" if code == 6 or (code == 1 and bits == 1) else f"{_DL_CODES[code]}{bits}"
    offset = struct.calcsize("<QQiiiBBH")
    shape = struct.unpack_from(f"<{ndim}q", raw, offset)
    offset += 8 * ndim
    (size,) = struct.unpack_from("<q", raw, offset)
    data = raw[offset + 8:offset + 8 + size]
    return np.frombuffer(data, dtype=np.dtype(name).newbyteorder("<")).reshape(shape).copy()


def _from_source_class(node: ast.ClassDef, source: src.Source,
                       sizes: dict[str, Any] | None = None) -> IRModule:
    ok = len(node.decorator_list) == 1 and isinstance(node.decorator_list[0], ast.Attribute) \
        and node.decorator_list[0].attr == "ir_module"
    if not ok:
        raise source.error(node, "a class must be decorated with @I.ir_module")

    def env_of(name: str) -> ChainMap:
        env = _env(None)
        env.maps[0].update(sizes or {})
        return env

    return parse_module(node, source, env_of)


def _skippable(stmt: ast.stmt) -> bool:
    if isinstance(stmt, (ast.Import, ast.ImportFrom, ast.Pass)):
        return True
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) \
        and isinstance(stmt.value.value, str)


__all__ = ["prim_func", "function", "ir_module", "from_source", "Deferred", "ModuleRef",
           "ScriptError"]
