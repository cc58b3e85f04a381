"""Cases the random schedule tests found: primitives after blockize."""

from __future__ import annotations

import numpy as np
import pytest

import tvmscript
from backends.interpreter import run
from tests.corpus.tir_programs import PROGRAMS


def test_cache_write_refuses_a_buffer_the_blockized_init_writes():
    sch = tvmscript.Schedule(tvmscript.from_source(PROGRAMS["dense_relu_fused"]))
    dense = sch.get_block("dense")
    sch.blockize(sch.get_loops(dense)[0])
    before = sch.mod
    with pytest.raises(tvmscript.ScheduleError, match="initialises `D` in its init"):
        sch.cache_write(dense, 0, "global")
    assert sch.mod is before


def test_compute_inline_into_a_blockized_consumer_updates_nested_regions():
    sch = tvmscript.Schedule(tvmscript.from_source(PROGRAMS["elementwise_blocks_relu"]))
    relu = sch.get_block("relu")
    sch.blockize(sch.get_loops(relu)[0])
    sch.compute_inline(sch.get_block("add"))
    tvmscript.verify(sch.mod)
    rng = np.random.default_rng(0)
    a, bias = rng.standard_normal((64, 128), "float32"), rng.standard_normal(128, "float32")
    out = np.zeros((64, 128), "float32")
    run(sch.mod[sch.func_name], a, bias, out)
    np.testing.assert_allclose(out, np.maximum(a + bias, 0), rtol=1e-6)


def test_producers_and_consumers_of_a_block_in_an_init():
    sch = tvmscript.Schedule(tvmscript.from_source(PROGRAMS["matmul"]))
    c = sch.get_block("C")
    sch.blockize(sch.get_loops(c)[0])
    init = sch.get_block("C_init")
    assert [b.name for b in sch.get_consumers(init)] == ["C"]
    assert [b.name for b in sch.get_producers(c)] == ["C_init"]
