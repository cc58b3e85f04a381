"""``Schedule``: transform a loop-level function step by step, recording a replayable trace.

Primitives live in their own modules and attach themselves to this class with
``@register_primitive`` (so adding one touches no shared file). Each runs on the current
function and commits a new one; IR is immutable, so a primitive that raises leaves the schedule
exactly as it was: the wrapper restores the module and records nothing.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np

from ..ir import stmt as S
from ..ir.function import IRModule, PrimFunc
from ..ir.verify import check_well_formed
from .arguments import ArgumentChecker
from .errors import ScheduleError
from .handles import BlockRV, IntRV, LoopRV
from .state import Location, find_block, find_loop
from .trace import Instruction, Trace


class Schedule:
    """A function (or a module's loop-level function) being scheduled.

    ``sch.mod`` is the current module, ``sch.func`` the function being worked on,
    ``sch.trace`` the instructions applied so far. With ``verify`` (the default) every primitive's
    result is checked well-formed (about 1-3 ms a primitive on a tiled matmul); a search that
    applies thousands of known-good traces may turn it off.
    """

    verify: bool = True  # also for copies made with Schedule.__new__

    def __init__(self, obj: "IRModule | PrimFunc", *, func_name: str | None = None,
                 seed: int | None = None, verify: bool = True) -> None:
        if isinstance(obj, PrimFunc):
            name = obj.name or "main"
            obj = IRModule.from_function(obj, name)
        if not isinstance(obj, IRModule):
            raise TypeError(f"Schedule takes a PrimFunc or an IRModule, got {type(obj).__name__}")
        self.mod = obj
        self.verify = verify
        self.trace = Trace()
        self.rng = np.random.default_rng(seed)
        prim = [k for k, f in obj.functions.items() if isinstance(f, PrimFunc)]
        if func_name is None:
            if len(prim) != 1:
                raise ScheduleError(f"the module has loop-level functions {prim}; "
                                    "say which one with Schedule(mod, func_name=...) or work_on()")
            func_name = prim[0]
        self.work_on(func_name)

    # ------------------------------------------------------------ state
    def work_on(self, func_name: str) -> None:
        func = self.mod.functions.get(func_name)
        if not isinstance(func, PrimFunc):
            raise ScheduleError(f"the module has no loop-level function `{func_name}`")
        self.func_name = func_name

    @property
    def func(self) -> PrimFunc:
        return self.mod.functions[self.func_name]

    def commit(self, func: PrimFunc) -> None:
        """Replace the function being scheduled (primitives call this once, at the end)."""
        self.mod = self.mod.with_function(self.func_name, func)

    def copy(self) -> "Schedule":
        other = Schedule.__new__(Schedule)
        other.mod, other.func_name, other.verify = self.mod, self.func_name, self.verify
        other.trace = Trace(list(self.trace.instructions))
        other.rng = np.random.default_rng(self.rng.integers(1 << 62))
        return other

    # ------------------------------------------------------------ handles
    def loc(self, rv: "BlockRV | LoopRV") -> Location:
        """Where a handle's block or loop is now."""
        if isinstance(rv, BlockRV):
            return find_block(self.func, rv.name)
        if isinstance(rv, LoopRV):
            return find_loop(self.func, rv.var)
        raise ScheduleError(f"expected a block or loop handle, got {rv!r}")

    def get(self, rv: "BlockRV | LoopRV") -> "S.Block | S.For":
        """The Block or For a handle refers to now."""
        return self.loc(rv).node

    def show(self) -> str:
        return self.mod.script()


PRIMITIVES: dict[str, Callable] = {}
"""Every registered primitive by name (the plain function, which records nothing)."""


def register_primitive(name: str, *, sampling: bool = False) -> Callable[[Callable], Callable]:
    """Attach ``fn(sch, *args, **kwargs)`` to Schedule as method ``name``, recorded in the trace.

    A sampling primitive takes ``decision=None`` and returns ``(result, decision)``; the decision
    is recorded so the trace replays (or mutates) it. Every call is checked against ``fn``'s
    annotations first, and runs through ``_apply``: whatever goes wrong, the schedule is left as
    it was and the caller gets a ScheduleError naming the primitive.
    """

    def wrap(fn: Callable) -> Callable:
        if hasattr(Schedule, name):
            raise ValueError(f"schedule primitive {name!r} is already registered")
        # a sampling decision is checked by the primitive against the loop or candidates
        check = ArgumentChecker(name, fn, ("decision",) if sampling else ())

        @functools.wraps(fn)
        def method(self: Schedule, *args: Any, **kwargs: Any) -> Any:
            check(self, args, kwargs)
            result = _apply(self, name, fn, args, kwargs)
            decision = None
            if sampling:
                result, decision = result
                kwargs.pop("decision", None)
            self.trace.append(Instruction(name, tuple(args), dict(kwargs), result, decision))
            return result

        PRIMITIVES[name] = fn
        setattr(Schedule, name, method)
        return fn

    return wrap


def _apply(sch: Schedule, name: str, fn: Callable, args: tuple, kwargs: dict) -> Any:
    """``fn(sch, *args, **kwargs)``, its result checked well-formed.

    On any failure the module (and the function worked on) are restored. A stray exception from
    inside the primitive (an AttributeError on a node of an unexpected kind ...) is a bug or an
    unchecked misuse; the caller still gets a ScheduleError, which says so and chains the
    original one.
    """
    saved = (sch.mod, sch.func_name)
    try:
        result = fn(sch, *args, **kwargs)
        _check_result(sch, name, *saved)
        return result
    except BaseException as err:
        sch.mod, sch.func_name = saved
        if isinstance(err, ScheduleError) or not isinstance(err, Exception):
            raise
        raise ScheduleError(f"{name}: internal error ({type(err).__name__}: {err}); the schedule "
                            "is unchanged") from err


def _check_result(sch: Schedule, name: str, before: IRModule, func_name: str) -> None:
    """Refuse a result that is not well-formed, unless the function already was not (then the
    primitive is not to blame). Free for primitives that change nothing."""
    if sch.mod is before or not sch.verify:
        return
    problems = check_well_formed(sch.func)
    if problems and not check_well_formed(before.functions[func_name]):
        listed = "\n".join(f"  {p.message}" for p in problems)
        raise ScheduleError(f"{name} made the function ill-formed (a bug in {name}; the schedule "
                            f"is unchanged):\n{listed}")


__all__ = ["Schedule", "register_primitive", "BlockRV", "LoopRV", "IntRV", "ScheduleError"]
