"""What every schedule test checks: the scheduled function computes what the unscheduled one
does (interpreted and compiled), and a refused primitive leaves the schedule untouched."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import tvmscript
from backends.interpreter import run as interpret
from tests.references import random_args
from tvmscript import Schedule, ScheduleError


def outputs(func: tvmscript.PrimFunc, args: list, target: str) -> list:
    """Copies of ``args`` after running ``func`` on them with ``target``."""
    arrays = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    if target == "interpreter":
        interpret(func, *arrays)
    else:
        rt = tvmscript.build(func, target=target)
        rt[next(iter(rt.keys()))](*arrays)
    return arrays


def check_numbers(before: tvmscript.PrimFunc, sch: Schedule, *, llvm: bool = True,
                  seed: int = 0) -> None:
    """``sch.func`` is well-formed and computes what ``before`` does (the interpreter is the
    oracle), interpreted and, unless ``llvm=False``, compiled."""
    after = sch.func
    tvmscript.verify(after)
    args = random_args(before, np.random.default_rng(seed))
    want = outputs(before, args, "interpreter")
    for target in ("interpreter", "llvm") if llvm else ("interpreter",):
        for w, g in zip(want, outputs(after, args, target)):
            if isinstance(w, np.ndarray):
                np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4, err_msg=target)


def expect_error(sch: Schedule, call: Callable[[], object], *messages: str) -> ScheduleError:
    """``call`` raises a ScheduleError containing every message, and leaves ``sch`` exactly as
    it was: the same module object, and no new trace instruction."""
    mod, n = sch.mod, len(sch.trace)
    with pytest.raises(ScheduleError) as info:
        call()
    for message in messages:
        assert message in str(info.value), str(info.value)
    assert sch.mod is mod
    assert len(sch.trace) == n
    return info.value
