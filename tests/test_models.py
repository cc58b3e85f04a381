"""Whole models end to end: the benchmark models (benchmarks/e2e_models.py, random weights)
imported from ONNX and from torch.export, built with the default pipeline, run, and compared
with onnxruntime and torch; one exported as a single library and loaded back."""

from __future__ import annotations

import numpy as np
import pytest

import tvmscript

torch = pytest.importorskip("torch", reason="the model tests need torch (the test extra)")
ort = pytest.importorskip("onnxruntime", reason="the model tests need onnxruntime (the test extra)")
pytest.importorskip("onnx", reason="the ONNX importer needs onnx (the test extra)")

from benchmarks.e2e_models import export_onnx, models  # noqa: E402

MODELS = ["mlp", "encoder", "dqn", "mobilenet_v2", "resnet18"]
TOLERANCE = 1e-4  # the issue's bound on the logits' max abs difference


@pytest.fixture(scope="module")
def zoo():
    return models()


@pytest.fixture(scope="module")
def onnx_files(zoo, tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx")
    return {name: export_onnx(module, inputs, folder / f"{name}.onnx")
            for name, (module, inputs) in zoo.items()}


@pytest.fixture(scope="module")
def built(onnx_files):
    """name -> (imported module, its executable): each model is built once for all tests."""
    cache = {}

    def get(name):
        if name not in cache:
            mod = tvmscript.frontend.from_onnx(str(onnx_files[name]))
            cache[name] = (mod, tvmscript.build(mod))
        return cache[name]

    return get


def onnxruntime_output(path, inputs):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {i.name: a for i, a in zip(session.get_inputs(), inputs)}
    return session.run(None, feeds)[0]


@pytest.mark.parametrize("name", MODELS)
def test_onnx_model_matches_onnxruntime(name, zoo, onnx_files, built):
    _, inputs = zoo[name]
    _, ex = built(name)
    got = ex["main"](*inputs)
    expected = onnxruntime_output(onnx_files[name], inputs)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= TOLERANCE


@pytest.mark.parametrize("name", MODELS)
def test_torch_export_model_matches_torch(name, zoo):
    module, inputs = zoo[name]
    args = tuple(torch.from_numpy(a) for a in inputs)
    mod = tvmscript.frontend.from_exported_program(torch.export.export(module, args))
    ex = tvmscript.build(mod)
    with torch.no_grad():
        expected = module(*args).numpy()
    got = ex["main"](*inputs)
    assert np.abs(got - expected).max() <= TOLERANCE


def test_model_pipeline_folds_fuses_and_plans(zoo, built):
    """ResNet-18 after the pipeline: batch norms folded away, each conv fused with its bias
    and activation, intermediates sharing storage."""
    mod, ex = built("resnet18")
    text = mod.script()
    assert "metadata[" in text and text.count("R.nn.conv2d(") == 20
    optimized = tvmscript.optimize_model(mod)
    main = optimized["main"].script()
    assert "R.nn." not in main  # every operator became a kernel call
    kernels = [n for n in optimized.functions if n != "main"]
    assert any(n.startswith("fused_conv2d") and "relu" in n for n in kernels)
    ex["main"](*zoo["resnet18"][1])
    stats = ex.memory_stats("main")
    assert stats["planned"] and stats["peak_bytes"] < stats["naive_bytes"] / 2


def test_exported_model_is_one_file(zoo, built, tmp_path):
    _, inputs = zoo["encoder"]
    _, ex = built("encoder")
    expected = ex["main"](*inputs)
    path = tmp_path / "encoder.so"
    ex.export_library(str(path))
    loaded = tvmscript.load_module(str(path))
    np.testing.assert_array_equal(loaded["main"](*inputs), expected)
    with pytest.raises(TypeError, match="argument 'input0' must have dtype int64, got float32"):
        loaded["main"](inputs[0].astype("float32"))


def test_saved_model_round_trips_through_text(zoo, built, tmp_path):
    _, inputs = zoo["mlp"]
    mod, ex = built("mlp")
    tvmscript.save(mod, tmp_path / "mlp.tvms")
    again = tvmscript.load(tmp_path / "mlp.tvms")
    tvmscript.assert_structural_equal(mod, again)
    np.testing.assert_array_equal(tvmscript.build(again)["main"](*inputs), ex["main"](*inputs))
