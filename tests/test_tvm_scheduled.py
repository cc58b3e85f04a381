"""Programs that Apache TVM 0.27 schedules are read, built and run here.

Each kernel of ``tests/interop/scheduled_programs.py`` (TVM 0.27 spelling) goes to TVM, which applies
a recipe of ``tests/interop/tvm_recipes.py`` with its own schedule (split/reorder/parallel/vectorize,
cache_write + reverse_compute_at, decompose_reduction, transform_layout, compute_at + fuse) and
prints the result. We parse TVM's text, check that what the schedule did is in our IR, build it
with LLVM and compare the outputs with numpy.
"""

from __future__ import annotations

import numpy as np
import pytest

import tvmscript
from tests.interop.scheduled_programs import PROGRAMS
from tests.interop.tvm_bridge import TVM_REASON, TVMBridge, tvm_installed
from tvmscript.ir.expr import IntImm
from tvmscript.ir.functor import post_order_visit
from tvmscript.ir.stmt import Block, For

pytestmark = pytest.mark.skipif(not tvm_installed(), reason=TVM_REASON)

NAMES = sorted(PROGRAMS)


@pytest.fixture(scope="module")
def bridge():
    b = TVMBridge()
    yield b
    b.close()


@pytest.fixture(scope="module")
def scheduled(bridge) -> dict[str, str]:
    """name -> TVM's printed text of the scheduled kernel (each recipe runs once per session)."""
    out = {}
    for name in NAMES:
        answer = bridge.schedule(name, PROGRAMS[name].source)
        assert answer["ok"], f"TVM could not schedule {name}: {answer['error']}"
        out[name] = answer["script"]
    return out


def _dim(expr) -> object:
    return expr.value if isinstance(expr, IntImm) else expr


def ir_facts(func) -> set[str]:
    """Loops (``<kind> <var> <extent>``), blocks (``block <name>``, ``init <name>`` or
    ``no init <name>``) and allocated buffers (``buffer <name> <shape> <scope>``) of ``func``."""
    facts: set[str] = set()

    def visit(node) -> None:
        if isinstance(node, For):
            facts.add(f"{node.kind.value} {node.loop_var.name} {_dim(node.extent)}")
        elif isinstance(node, Block):
            facts.add(f"block {node.name_hint}")
            facts.add(f"{'init' if node.init is not None else 'no init'} {node.name_hint}")
            for buf in node.alloc_buffers:
                shape = tuple(_dim(d) for d in buf.shape)
                facts.add(f"buffer {buf.name} {shape} {buf.scope}")

    post_order_visit(func.body, visit)
    return facts


def _run_and_compare(func, program) -> None:
    rt = tvmscript.build(func, target="llvm")
    rng = np.random.default_rng(7)
    args = [rng.standard_normal(shape).astype("float32") for shape in program.shapes]
    for index in program.outputs:
        args[index][...] = np.nan  # every output element must be written
    inputs = [a.copy() for k, a in enumerate(args) if k not in program.outputs]
    rt["main"](*args)
    expected = program.reference(*inputs)
    assert len(expected) == len(program.outputs)
    for index, want in zip(program.outputs, expected):
        np.testing.assert_allclose(args[index], want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", NAMES)
def test_unscheduled_kernel_parses_builds_and_matches_numpy(name):
    """The kernel as written (TVM 0.27 spelling) computes its reference here, so a failure of the
    scheduled test below is the schedule's."""
    program = PROGRAMS[name]
    _run_and_compare(tvmscript.from_source(program.source), program)


@pytest.mark.parametrize("name", NAMES)
def test_tvm_applies_the_recipe(name, bridge, scheduled):
    program = PROGRAMS[name]
    unscheduled = bridge.parse(program.source)
    assert unscheduled["ok"], unscheduled.get("error")
    text = scheduled[name]
    assert text != unscheduled["script"]
    for piece in program.tvm_text:
        assert piece in text, f"{name}: TVM's scheduled text lacks {piece!r}:\n{text}"
        assert piece not in unscheduled["script"]


@pytest.mark.parametrize("name", NAMES)
def test_tvm_scheduled_program_parses_builds_and_matches_numpy(name, scheduled):
    program = PROGRAMS[name]
    func = tvmscript.from_source(scheduled[name])
    facts = ir_facts(func)
    missing = [f for f in program.ir_facts if f not in facts]
    assert not missing, (
        f"{name}: our parse of TVM's scheduled text lacks {missing}; it has {sorted(facts)}"
    )

    _run_and_compare(func, program)
