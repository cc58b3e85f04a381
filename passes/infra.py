"""Pass infrastructure: passes are plain functions from module to module.

A pass has a name and the opt level it runs at; ``Sequential`` runs a list of passes; a
``PassContext`` (a context manager) carries the opt level, disabled passes, free-form config and
instruments that run around every pass (print the IR, time passes, verify well-formedness).
Passes register themselves where they are defined with ``@module_pass`` / ``@prim_func_pass``,
and a duplicate name is an error.

Writing a new pass::

    @prim_func_pass("double-constants", opt_level=1)
    def double_constants(func: PrimFunc, ctx: PassContext) -> PrimFunc:
        return DoubleConstants().visit(func)

    mod = double_constants(mod)              # a Pass is callable on a module
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tvmscript.ir import IRModule, PrimFunc
from tvmscript.ir.function import BaseFunc

_REGISTRY: dict[str, Pass] = {}


@dataclass(frozen=True)
class Pass:
    """A named transformation of a module. ``transform(mod, ctx) -> mod``."""

    name: str
    opt_level: int
    transform: Callable[[IRModule, PassContext], IRModule]
    required: bool = False  # runs whatever the opt level (lowering the program needs it)
    doc: str = ""

    def __call__(self, mod: IRModule | BaseFunc) -> IRModule | BaseFunc:
        """Run the pass under the current PassContext (instruments included)."""
        return PassContext.current().run_pass(self, mod)


def _register(p: Pass) -> Pass:
    if p.name in _REGISTRY:
        raise ValueError(f"a pass named {p.name!r} is already registered")
    _REGISTRY[p.name] = p
    return p


def module_pass(name: str, opt_level: int = 0, required: bool = False):
    """Register ``fn(mod, ctx) -> mod`` as a pass."""

    def wrap(fn: Callable[[IRModule, PassContext], IRModule]) -> Pass:
        return _register(Pass(name, opt_level, fn, required, (fn.__doc__ or "").strip()))

    return wrap


def prim_func_pass(name: str, opt_level: int = 0, required: bool = False):
    """Register ``fn(func, ctx) -> func`` as a pass applied to every loop-level function."""

    def wrap(fn: Callable[[PrimFunc, PassContext], PrimFunc]) -> Pass:
        def transform(mod: IRModule, ctx: PassContext) -> IRModule:
            changed = {}
            for key, func in mod.functions.items():
                if isinstance(func, PrimFunc):
                    new = fn(func, ctx)
                    if new is not func:
                        changed[key] = new
            if not changed:
                return mod
            return mod.with_(functions={**mod.functions, **changed})

        return _register(Pass(name, opt_level, transform, required, (fn.__doc__ or "").strip()))

    return wrap


def get_pass(name: str) -> Pass:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"no pass named {name!r}; registered: {sorted(_REGISTRY)}") from None


def list_passes() -> list[str]:
    return sorted(_REGISTRY)


@dataclass(frozen=True)
class Sequential:
    """Run passes in order (skipping those the context says not to run)."""

    passes: tuple[Pass, ...]
    name: str = "sequential"

    def __init__(self, passes: Iterable[Pass], name: str = "sequential") -> None:
        object.__setattr__(self, "passes", tuple(passes))
        object.__setattr__(self, "name", name)

    def __call__(self, mod: IRModule | BaseFunc) -> IRModule | BaseFunc:
        for p in self.passes:
            mod = p(mod)
        return mod


class PassInstrument:
    """Hooks around passes (TVM's instrument interface); override what you need."""

    def enter_pass_ctx(self) -> None: ...

    def exit_pass_ctx(self) -> None: ...

    def should_run(self, mod: IRModule, p: Pass) -> bool:
        return True

    def run_before_pass(self, mod: IRModule, p: Pass) -> None: ...

    def run_after_pass(self, mod: IRModule, p: Pass) -> None: ...


_LOCAL = threading.local()

# Config keys that passes and backends read, with the Python type each value must have. A key
# not listed here stays free-form (a pass's own option); a listed key with a value of the wrong
# type is refused when the context is made, before it silently changes nothing.
INSTRUMENT_BOUND_CHECKERS = "tir.instrument_bound_checkers"
CONFIG_TYPES: dict[str, type] = {
    INSTRUMENT_BOUND_CHECKERS: bool,  # assert before every access not provably in bounds
    "cuda.warp_reduction": bool,  # cross-thread reductions finish with warp shuffles
}


@dataclass
class PassContext:
    """Settings for the passes run inside ``with PassContext(...):``."""

    opt_level: int = 2
    disabled_pass: Sequence[str] = ()
    config: dict[str, Any] = field(default_factory=dict)
    instruments: Sequence[PassInstrument] = ()

    def __post_init__(self) -> None:
        for key, kind in CONFIG_TYPES.items():
            value = self.config.get(key, kind())
            if not isinstance(value, kind):
                raise TypeError(f"PassContext config {key!r} must be a {kind.__name__}, "
                                f"not {type(value).__name__} {value!r}")

    def flag(self, key: str) -> bool:
        """Whether a boolean config key is set (``config={key: True}``)."""
        return bool(self.config.get(key, False))

    def __enter__(self) -> PassContext:
        stack = _stack()
        stack.append(self)
        for inst in self.instruments:
            inst.enter_pass_ctx()
        return self

    def __exit__(self, *exc: object) -> None:
        for inst in self.instruments:
            inst.exit_pass_ctx()
        _stack().pop()

    @staticmethod
    def current() -> PassContext:
        stack = _stack()
        return stack[-1] if stack else _DEFAULT

    def should_run(self, mod: IRModule, p: Pass) -> bool:
        if p.name in self.disabled_pass:
            if p.required:
                raise ValueError(f"pass {p.name!r} is required to lower programs; it cannot be disabled")
            return False
        if not p.required and p.opt_level > self.opt_level:
            return False
        return all(inst.should_run(mod, p) for inst in self.instruments)

    def run_pass(self, p: Pass, obj: IRModule | BaseFunc) -> IRModule | BaseFunc:
        mod = obj if isinstance(obj, IRModule) else IRModule.from_function(obj, _name(obj))
        if not self.should_run(mod, p):
            return obj
        for inst in self.instruments:
            inst.run_before_pass(mod, p)
        try:
            out = p.transform(mod, self)
        except Exception as exc:
            exc.add_note(f"while running pass {p.name!r}")
            raise
        for inst in self.instruments:
            inst.run_after_pass(out, p)
        if isinstance(obj, IRModule):
            return out
        return out[_name(obj)]


def _name(func: BaseFunc) -> str:
    return getattr(func, "name", "") or "main"


def _stack() -> list[PassContext]:
    stack = getattr(_LOCAL, "stack", None)
    if stack is None:
        stack = _LOCAL.stack = []
    return stack


_DEFAULT = PassContext()
