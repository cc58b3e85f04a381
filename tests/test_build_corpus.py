"""Every conformance case and every corpus program builds and computes the same results through
LLVM and through the interpreter (and the numpy reference where the corpus has one)."""

from __future__ import annotations

import numpy as np
import pytest

import tvmscript
from backends.interpreter import run
from tests.conformance import load_cases
from tests.corpus.module_programs import PROGRAMS as MODULES
from tests.corpus.tir_programs import PROGRAMS
from tests.references import REFERENCES, random_args

CASES = load_cases()
GPU_ONLY = {"thread_binding", "shared_memory_sync", "launch_thread_lowered"}
UNKNOWN_EXTERN = {"address_of"}  # calls `consume`, which no library defines


@pytest.mark.parametrize("target", ["llvm", "interpreter"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_conformance_builds_and_matches_reference(name, target):
    case = CASES[name]
    obj = tvmscript.from_source(case.SOURCE)
    args = case.make_args(np.random.default_rng(0))
    inputs = [a.copy() for a in args]
    rt = tvmscript.build(obj, target=target)
    expected = case.reference(*inputs)
    if getattr(case, "KIND", None) == "module":
        out = rt["main"](*args)
        outs = list(out) if isinstance(out, tuple) else [out]
    else:
        rt["main"](*args)
        outs = [args[i] for i in case.OUTPUTS]
    assert len(outs) == len(expected)
    for got, want in zip(outs, expected):
        np.testing.assert_allclose(got, want, rtol=2e-3, atol=2e-3)


def _close(a: np.ndarray, b: np.ndarray) -> None:
    if a.dtype.kind == "f":
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5, equal_nan=True)
    else:
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", sorted(set(PROGRAMS) - GPU_ONLY - UNKNOWN_EXTERN))
def test_corpus_program_llvm_matches_interpreter(name):
    func = tvmscript.from_source(PROGRAMS[name])
    args = random_args(func, np.random.default_rng(1))
    if name == "while_loop":
        args[0][0] = 27
    oracle = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    inputs = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    tvmscript.build(func, target="llvm")[func.name](*args)
    run(func, *oracle)
    for got, want in zip(args, oracle):
        if isinstance(got, np.ndarray):
            _close(got, want)
    if name in REFERENCES:
        for index, expected in REFERENCES[name](*inputs).items():
            np.testing.assert_allclose(args[index], expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", sorted(GPU_ONLY))
def test_gpu_programs_are_refused_for_the_cpu_with_a_reason(name):
    func = tvmscript.from_source(PROGRAMS[name])
    with pytest.raises(Exception, match="GPU thread"):
        tvmscript.build(func, target="llvm")


def test_unknown_extern_is_a_clear_error():
    func = tvmscript.from_source(PROGRAMS["address_of"])
    with pytest.raises(Exception, match="consume"):
        rt = tvmscript.build(func, target="llvm")
        rt[func.name](np.zeros(16, "float32"))


def _module_inputs(mod: tvmscript.IRModule, rng: np.random.Generator) -> list[np.ndarray]:
    main = mod["main"]
    return [rng.standard_normal([int(s.value) for s in p.sinfo.shape]).astype(str(p.sinfo.dtype))
            for p in main.params]


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n != "graph_symbolic"))
def test_corpus_module_llvm_matches_interpreter(name):
    obj = tvmscript.from_source(MODULES[name])
    mod = obj if isinstance(obj, tvmscript.IRModule) else tvmscript.IRModule.from_function(obj, "main")
    args = _module_inputs(mod, np.random.default_rng(2))
    got = tvmscript.build(mod, target="llvm")["main"](*args)
    want = tvmscript.build(mod, target="interpreter")["main"](*args)
    got = got if isinstance(got, tuple) else (got,)
    want = want if isinstance(want, tuple) else (want,)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
