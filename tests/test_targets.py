"""Targets that would crash the process are refused with a reason: an unknown CPU name (LLVM
aborts while generating code), and code for another CPU run in this process (SIGILL)."""

from __future__ import annotations

import numpy as np
import pytest

import tvmscript
from backends.target import cross_compile_reason, Target
from tests.corpus.tir_programs import PROGRAMS

ADD = PROGRAMS["vector_add_range"]


def test_unknown_cpu_is_an_error_not_an_abort():
    with pytest.raises(Exception, match="LLVM does not know the CPU 'nonexistentcpu'"):
        tvmscript.build(tvmscript.from_source(ADD), target="llvm -mcpu=nonexistentcpu")


def test_code_for_another_cpu_builds_and_exports_but_does_not_run_here(tmp_path):
    rt = tvmscript.build(tvmscript.from_source(ADD), target="llvm -mcpu=sapphirerapids")
    rt.export_library(str(tmp_path / "add.so"))
    with pytest.raises(RuntimeError, match="compiled for -mcpu=sapphirerapids"):
        rt["add"]
    loaded = tvmscript.load_module(str(tmp_path / "add.so"))  # the library knows its target
    with pytest.raises(RuntimeError, match="compiled for -mcpu=sapphirerapids"):
        loaded["add"]
    for module in (rt, loaded):  # the kernels table refuses too (it would die of SIGILL)
        assert "add" in module.kernels and list(module.kernels) == ["add"]
        with pytest.raises(RuntimeError, match="compiled for -mcpu=sapphirerapids"):
            module.kernels["add"]


def test_generic_level_runs_when_this_cpu_has_it():
    target = "llvm -mcpu=x86-64-v2"
    assert cross_compile_reason(Target.parse(target)) is None  # every x86-64 CPU of today
    rt = tvmscript.build(tvmscript.from_source(ADD), target=target)
    a = np.arange(1024, dtype="float32")
    c = np.zeros(1024, "float32")
    rt["add"](a, a, c)
    np.testing.assert_array_equal(c, 2 * a)


def test_host_targets_may_run():
    for spec in ("llvm", "llvm -mcpu=native"):
        assert cross_compile_reason(Target.parse(spec)) is None
