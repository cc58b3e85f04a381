"""Pass infrastructure: registration, PassContext semantics, Sequential, and the instruments."""

from __future__ import annotations

import io

import pytest

import tvmscript
from passes import (
    Pass, PassContext, PassInstrument, Sequential, get_pass, list_passes, module_pass,
    prim_func_pass,
)
from passes import infra
from passes.instruments import (
    PassTimer, PassVerificationError, PrintDiff, PrintIR, VerifyWellFormed,
)
from tvmscript.ir import BufferStore, Mutator, Var, WellFormedError

SOURCE = '''
@T.prim_func
def main(A: T.Buffer((16,), "float32")):
    for i in range(16):
        for j in range(1):
            A[i + j] = A[i + j] * T.float32(2)
'''


@pytest.fixture(autouse=True)
def clean_registry():
    """Passes registered by a test are forgotten after it (the registry is global)."""
    saved = dict(infra._REGISTRY)
    yield
    infra._REGISTRY.clear()
    infra._REGISTRY.update(saved)


@pytest.fixture
def mod() -> tvmscript.IRModule:
    return tvmscript.IRModule.from_function(tvmscript.from_source(SOURCE), "main")


def counting_pass(name: str, opt_level: int = 0, required: bool = False) -> tuple[Pass, list]:
    calls: list[str] = []

    @module_pass(name, opt_level=opt_level, required=required)
    def run(mod, ctx):
        calls.append(name)
        return mod

    return run, calls


# ---------------------------------------------------------------- registration


def test_registration_and_lookup():
    p, _ = counting_pass("test-counting")
    assert isinstance(p, Pass) and p.name == "test-counting"
    assert get_pass("test-counting") is p
    assert "test-counting" in list_passes()


def test_duplicate_name_is_an_error():
    counting_pass("test-duplicate")
    with pytest.raises(ValueError, match="already registered"):
        counting_pass("test-duplicate")


def test_unknown_pass_names_the_registered_ones():
    with pytest.raises(KeyError, match="simplify"):
        get_pass("no-such-pass")


def test_docstring_becomes_the_pass_doc():
    @prim_func_pass("test-doc")
    def documented(func, ctx):
        """Does nothing, documented."""
        return func

    assert documented.doc == "Does nothing, documented."


def test_prim_func_pass_keeps_the_module_when_nothing_changes(mod):
    @prim_func_pass("test-identity")
    def identity(func, ctx):
        return func

    assert identity(mod) is mod


def test_a_pass_runs_on_a_function_and_returns_a_function(mod):
    out = get_pass("simplify")(mod["main"])
    assert isinstance(out, tvmscript.PrimFunc)


# ---------------------------------------------------------------- PassContext semantics


def test_opt_level_gates_optional_passes(mod):
    p, calls = counting_pass("test-o3", opt_level=3)
    with PassContext(opt_level=2):
        p(mod)
    assert calls == []
    with PassContext(opt_level=3):
        p(mod)
    assert calls == ["test-o3"]


def test_required_passes_run_at_any_opt_level(mod):
    p, calls = counting_pass("test-required", opt_level=3, required=True)
    with PassContext(opt_level=0):
        p(mod)
    assert calls == ["test-required"]


def test_disabled_pass_is_skipped(mod):
    p, calls = counting_pass("test-disabled")
    with PassContext(disabled_pass=["test-disabled"]):
        assert p(mod) is mod
    assert calls == []


def test_disabling_a_required_pass_is_an_error(mod):
    p, _ = counting_pass("test-required-disabled", required=True)
    with PassContext(disabled_pass=["test-required-disabled"]):
        with pytest.raises(ValueError, match="required"):
            p(mod)


def test_contexts_nest_and_config_is_visible(mod):
    seen = []

    @module_pass("test-config")
    def read_config(m, ctx):
        seen.append(ctx.config.get("unroll-max"))
        return m

    with PassContext(config={"unroll-max": 4}) as outer:
        with PassContext(config={"unroll-max": 8}):
            assert PassContext.current().config["unroll-max"] == 8
            read_config(mod)
        assert PassContext.current() is outer
        read_config(mod)
    assert seen == [8, 4]


def test_an_error_inside_a_pass_names_the_pass(mod):
    @module_pass("test-raises")
    def raises(m, ctx):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom") as info:
        raises(mod)
    assert any("test-raises" in note for note in info.value.__notes__)


def test_instruments_can_veto_a_pass(mod):
    class SkipAll(PassInstrument):
        def should_run(self, m, p):
            return False

    p, calls = counting_pass("test-vetoed")
    with PassContext(instruments=[SkipAll()]):
        p(mod)
    assert calls == []


def test_instrument_hooks_are_called_in_order(mod):
    events = []

    class Record(PassInstrument):
        def enter_pass_ctx(self): events.append("enter")
        def exit_pass_ctx(self): events.append("exit")
        def run_before_pass(self, m, p): events.append(f"before {p.name}")
        def run_after_pass(self, m, p): events.append(f"after {p.name}")

    a, _ = counting_pass("test-a")
    with PassContext(instruments=[Record()]):
        a(mod)
    assert events == ["enter", "before test-a", "after test-a", "exit"]


# ---------------------------------------------------------------- Sequential


def test_sequential_runs_in_order_and_skips_gated_passes(mod):
    order: list[str] = []

    def make(name, opt_level=0):
        @module_pass(name, opt_level=opt_level)
        def run(m, ctx):
            order.append(name)
            return m
        return run

    seq = Sequential([make("test-first"), make("test-gated", 4), make("test-second")])
    with PassContext(opt_level=2):
        assert seq(mod) is mod
    assert order == ["test-first", "test-second"]


def test_sequential_with_simplify(mod):
    out = Sequential([get_pass("simplify")])(mod)
    tvmscript.assert_structural_equal(out["main"], tvmscript.from_source('''
@T.prim_func
def main(A: T.Buffer((16,), "float32")):
    for i in range(16):
        A[i] = A[i] * T.float32(2)
'''))


# ---------------------------------------------------------------- instruments


def test_print_ir_shows_the_pass_name_and_the_script(mod):
    out = io.StringIO()
    with PassContext(instruments=[PrintIR(stream=out)]):
        get_pass("simplify")(mod)
    text = out.getvalue()
    assert "before pass 'simplify'" in text and "after pass 'simplify'" in text
    assert mod.script() in text
    assert "A[i] = A[i] * T.float32(2.0)" in text


def test_print_ir_before_only_and_only_some_passes(mod):
    out = io.StringIO()
    other, _ = counting_pass("test-quiet")
    with PassContext(instruments=[PrintIR(after=False, stream=out, only={"simplify"})]):
        Sequential([other, get_pass("simplify")])(mod)
    text = out.getvalue()
    assert "before pass 'simplify'" in text
    assert "after" not in text and "test-quiet" not in text


def test_print_ir_writes_to_the_current_stdout(mod, capsys):
    with PassContext(instruments=[PrintIR(before=False)]):
        get_pass("simplify")(mod)
    assert "after pass 'simplify'" in capsys.readouterr().out


def test_print_diff_shows_what_changed(mod):
    out = io.StringIO()
    with PassContext(instruments=[PrintDiff(stream=out)]):
        get_pass("simplify")(mod)
    text = out.getvalue()
    assert "pass 'simplify'" in text
    assert "-        for i, j in T.grid(16, 1):" in text
    assert "+            A[i] = A[i] * T.float32(2.0)" in text


def test_print_diff_is_silent_for_unchanged_modules(mod):
    out = io.StringIO()
    p, _ = counting_pass("test-unchanged")
    with PassContext(instruments=[PrintDiff(stream=out)]):
        p(mod)
    assert out.getvalue() == ""


def test_pass_timer_records_every_pass(mod):
    timer = PassTimer()
    a, _ = counting_pass("test-timed-a")
    b, _ = counting_pass("test-timed-b")
    with PassContext(instruments=[timer]):
        Sequential([a, b, get_pass("simplify"), a])(mod)
    assert set(timer.timings) == {"test-timed-a", "test-timed-b", "simplify"}
    assert timer.counts == {"test-timed-a": 2, "test-timed-b": 1, "simplify": 1}
    assert [name for name, _ in timer.records] == [
        "test-timed-a", "test-timed-b", "simplify", "test-timed-a"]
    assert all(seconds >= 0 for seconds in timer.timings.values())
    report = timer.report()
    assert "simplify" in report and "test-timed-b" in report and "total" in report


class Ghost(Mutator):
    """Stores to an index that uses a variable defined nowhere: an ill-formed program."""

    def visit_BufferStore(self, store: BufferStore) -> BufferStore:
        return store.with_(indices=(Var("ghost"),))


def test_verify_well_formed_names_the_pass_that_broke_the_program(mod):
    @prim_func_pass("test-breaks-ir")
    def breaks(func, ctx):
        return func.with_(body=Ghost().visit(func.body))

    with PassContext(instruments=[VerifyWellFormed()]):
        with pytest.raises(PassVerificationError) as info:
            Sequential([get_pass("simplify"), breaks])(mod)
    error = info.value
    assert isinstance(error, WellFormedError)
    assert error.pass_name == "test-breaks-ir"
    assert any("test-breaks-ir" in note for note in error.__notes__)
    assert "ghost" in str(error)


def test_verify_well_formed_passes_sound_pipelines(mod):
    with PassContext(instruments=[VerifyWellFormed()]):
        Sequential([get_pass("simplify")])(mod)


def test_the_suite_verifies_after_every_pass(mod):
    """tests/conftest.py wraps every test in a context with VerifyWellFormed."""
    assert any(isinstance(inst, VerifyWellFormed) for inst in PassContext.current().instruments)

    @prim_func_pass("test-breaks-ir-again")
    def breaks(func, ctx):
        return func.with_(body=Ghost().visit(func.body))

    with pytest.raises(PassVerificationError):
        breaks(mod)


def test_the_write_a_pass_tutorial_runs():
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "tutorials" / "write_a_pass.py"
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert "caught: the pass 'buggy-rename' broke the program" in done.stdout
    assert "after pass 'parallelize-outer'" in done.stdout
