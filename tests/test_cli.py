"""The ``tvmscript`` command, run as users run it (a subprocess): tune, compile, run, bench and
show a small ONNX model, and one-line errors for bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx", reason="the test model is an ONNX graph (the onnx package)")
pytest.importorskip("onnxruntime", reason="onnxruntime is the reference for the numbers")

sys.path.insert(0, str(Path(__file__).resolve().parent))

from small_models import INPUT_SHAPE, onnxruntime_output, tiny_cnn

from tvmscript.cli import CliError, make_parser, parse_duration, parse_shapes


def tvmscript_cmd(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tvmscript", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600, check=False,
                          env=dict(os.environ, TVMSCRIPT_TRACEBACK=""))


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    model = tiny_cnn(folder / "tiny.onnx")
    x = np.random.default_rng(3).standard_normal(INPUT_SHAPE).astype("float32")
    np.save(folder / "x.npy", x)
    return folder, model, x


@pytest.fixture(scope="module")
def tuned_library(work):
    """tune -> compile, from a shell, as the issue's example does."""
    folder, _, _ = work
    tune = tvmscript_cmd("tune", "tiny.onnx", "--db", "tiny.db", "--trials", "6",
                         "--trials-per-round", "2", "--target", "llvm", "--quiet", cwd=folder)
    assert tune.returncode == 0, tune.stderr
    compiled = tvmscript_cmd("compile", "tiny.onnx", "--db", "tiny.db", "--target", "llvm",
                             "-o", "tiny.so", "-v", cwd=folder)
    assert compiled.returncode == 0, compiled.stderr
    return tune, compiled


def test_tune_prints_the_table_and_compile_says_where_schedules_came_from(work, tuned_library):
    tune, compiled = tuned_library
    assert "model estimate" in tune.stdout and "fused_conv2d" in tune.stdout
    assert "wrote tiny.so" in compiled.stdout
    # each tuned kernel is reported as taken from the database
    assert ": database" in compiled.stdout
    assert (work[0] / "tiny.so").exists()


def test_run_gives_onnxruntime_numbers(work, tuned_library):
    folder, model, x = work
    done = tvmscript_cmd("run", "tiny.so", "--input", "x.npy", "--output", "y.npy", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert "output 0: float32 [1, 10]" in done.stdout
    np.testing.assert_allclose(np.load(folder / "y.npy"), onnxruntime_output(model, x),
                               rtol=1e-4, atol=1e-4)


def test_bench_compares_with_onnxruntime(work, tuned_library):
    folder, _, _ = work
    done = tvmscript_cmd("bench", "tiny.so", "--compare", "tiny.onnx", "--calls", "10",
                         "--input", "x.npy", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert "max abs difference from onnxruntime" in done.stdout
    diff = float(done.stdout.split("onnxruntime: ")[1].split()[0])
    assert diff < 1e-4
    assert "tvmscript ÷ onnxruntime" in done.stdout


def test_show_database_model_and_library(work, tuned_library):
    folder, _, _ = work
    db = tvmscript_cmd("show", "tiny.db", "--trace", cwd=folder)
    assert db.returncode == 0, db.stderr
    assert "workloads" in db.stdout and "best" in db.stdout and "sch.get_block" in db.stdout
    model = tvmscript_cmd("show", "tiny.onnx", cwd=folder)
    assert model.returncode == 0 and "R.nn.conv2d" in model.stdout
    lib = tvmscript_cmd("show", "tiny.so", cwd=folder)
    assert lib.returncode == 0 and "R.call_tir" in lib.stdout


@pytest.mark.parametrize("args, message", [
    (["run", "missing.so"], "missing.so: no such file"),
    (["compile", "tiny.onnx", "-o", "o.so", "--db", "none.db"], "--db none.db: no such file"),
    (["tune", "tiny.onnx", "--db", "t.db", "--time", "soon"], "--time 'soon': expected a duration"),
    (["run", "tiny.so", "--input", "x.npy", "--input", "x.npy"], "takes 1 inputs"),
    (["tune", "tiny.so", "--db", "t.db"], "expected a model"),
])
def test_errors_are_one_line_with_the_cause(work, tuned_library, args, message):
    done = tvmscript_cmd(*args, cwd=work[0])
    assert done.returncode == 1
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_a_wrongly_shaped_input_is_refused(work, tuned_library):
    folder, _, _ = work
    np.save(folder / "bad.npy", np.zeros((1, 3, 8, 8), "float32"))
    done = tvmscript_cmd("run", "tiny.so", "--input", "bad.npy", cwd=folder)
    assert done.returncode == 1
    assert "must be float32 of shape [1, 3, 16, 16], got float32 of shape [1, 3, 8, 8]" \
        in done.stderr


def test_every_option_is_explained_in_help():
    parser = make_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, subparser in sub.choices.items():
        for action in subparser._actions:
            if action.dest != "help":
                assert action.help, f"tvmscript {name}: {action.dest} has no help text"


def test_durations_and_shapes_parse():
    assert parse_duration("20m") == 1200
    assert parse_duration("1h30m") == 5400
    assert parse_duration("90") == 90
    assert parse_shapes(["x=1,3,n"]) == {"x": [1, 3, "n"]}
    for bad in ("0", "20x", "m"):
        with pytest.raises(CliError):
            parse_duration(bad)
    with pytest.raises(CliError, match="expected NAME=D0,D1"):
        parse_shapes(["x"])
