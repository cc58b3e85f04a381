"""The default pipeline over every corpus program and conformance case: well-formed after
every pass, no block after lower-blocks, only 1-D accesses after flatten-buffer, and (once the
reference interpreter exists) the same numbers before and after every pass."""

from __future__ import annotations

import numpy as np
import pytest

import tvmscript
from passes import PassContext, PassInstrument
from passes.pipeline import default_pipeline, lower
from tests.conformance import load_cases
from tests.corpus.module_programs import PROGRAMS as MODULE_PROGRAMS
from tests.corpus.tir_programs import PROGRAMS as TIR_PROGRAMS
from tvmscript.ir import (
    Block,
    BlockRealize,
    BufferLoad,
    BufferStore,
    IRModule,
    PrimFunc,
    post_order_visit,
)

CASES = load_cases()
LOOP_LEVEL = {**{f"corpus/{k}": v for k, v in TIR_PROGRAMS.items()},
              **{f"conformance/{k}": m.SOURCE for k, m in CASES.items()
                 if getattr(m, "KIND", None) != "module"}}
MODULES = {**{f"corpus/{k}": v for k, v in MODULE_PROGRAMS.items()},
           **{f"conformance/{k}": m.SOURCE for k, m in CASES.items()
              if getattr(m, "KIND", None) == "module"}}


def nodes(obj, kinds) -> list:
    found = []
    post_order_visit(obj, lambda n: found.append(n) if isinstance(n, kinds) else None)
    return found


class Checks(PassInstrument):
    """Verify after every pass, and the contract's invariants after the passes that set them."""

    def __init__(self) -> None:
        self.ran: list[str] = []

    def run_after_pass(self, mod: IRModule, p) -> None:
        self.ran.append(p.name)
        tvmscript.verify(mod)
        if "lower-blocks" in self.ran:
            assert not nodes(mod, (Block, BlockRealize)), f"a block is left after {p.name}"
        if "flatten-buffer" in self.ran:
            for access in nodes(mod, (BufferLoad, BufferStore)):
                assert len(access.indices) == 1, f"{access.buffer.name} is not 1-D after {p.name}"


def as_module(text: str) -> IRModule:
    obj = tvmscript.from_source(text)
    return obj if isinstance(obj, IRModule) else IRModule.from_function(obj, "main")


@pytest.mark.parametrize("name", sorted(LOOP_LEVEL) + sorted(MODULES))
def test_pipeline_keeps_programs_well_formed(name):
    mod = as_module(LOOP_LEVEL.get(name) or MODULES[name])
    checks = Checks()
    with PassContext(instruments=[checks]):
        lowered = default_pipeline()(mod)
    assert checks.ran[:3] == ["lower-init-block", "lower-blocks", "flatten-buffer"]
    for func in lowered.functions.values():
        if isinstance(func, PrimFunc):
            assert all(p in func.params for p in func.buffer_map)


def test_pipeline_order_follows_the_contract():
    names = [p.name for p in default_pipeline().passes if p.name != "simplify"]
    assert names == ["lower-init-block", "lower-blocks", "flatten-buffer", "vectorize-loop",
                     "unroll-loop", "lower-intrinsics", "lower-bf16"]


def test_lower_takes_a_function_and_returns_a_module():
    func = tvmscript.from_source(TIR_PROGRAMS["matmul"])
    mod = lower(func)
    assert isinstance(mod, IRModule) and "matmul" in mod
    assert not nodes(mod, (Block,))


# ---------------------------------------------------------------- semantic preservation


# Programs the interpreter cannot run on random inputs, with the reason.
NOT_RUNNABLE = {
    "corpus/address_of": "calls the C function `consume`, which no library defines",
    "corpus/launch_thread_lowered": "launches GPU threads",
}


@pytest.mark.parametrize("name", sorted(LOOP_LEVEL))
def test_every_pass_preserves_what_the_program_computes(name):
    from backends.interpreter import run
    from tests.references import random_args

    if name in NOT_RUNNABLE:
        pytest.skip(NOT_RUNNABLE[name])
    mod = as_module(LOOP_LEVEL[name])
    key = next(iter(mod.functions))
    args = random_args(mod[key], np.random.default_rng(0))
    if name == "corpus/while_loop":
        args[0][0] = 27
    expected = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    run(mod[key], *expected)
    for p in default_pipeline().passes:
        mod = p(mod)
        got = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
        run(mod[key], *got)
        for want, have in zip(expected, got):
            if not isinstance(want, np.ndarray):
                continue
            np.testing.assert_allclose(have, want, rtol=1e-5, atol=1e-5,
                                       err_msg=f"{name}: after {p.name}")
