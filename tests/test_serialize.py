"""tvmscript.save / load: a module's script with its weights beside it, and metadata printing."""

from __future__ import annotations

import numpy as np
import pytest

import tvmscript

SOURCE = '''
@I.ir_module
class Module:
    @R.function
    def main(x: R.Tensor((4, 100), "float32")) -> R.Tensor((4, 100), "float32"):
        y = R.add(x, R.const({big}, "float32"))
        z = R.multiply(y, R.const(2.0, "float32"))
        w = R.add(z, R.const({big}, "float32"))
        return w
'''


def module():
    big = (np.arange(100, dtype="float32") / 7).tolist()
    return tvmscript.from_source(SOURCE.format(big=big))


def test_large_constants_print_as_metadata_small_ones_inline():
    text = module().script()
    assert 'R.add(x, metadata["relax.expr.Constant"][0])' in text
    assert 'R.add(z, metadata["relax.expr.Constant"][1])' in text
    assert "R.const(2.0" in text
    assert "0.142857" not in text


def test_save_load_round_trip(tmp_path):
    mod = module()
    path = tmp_path / "model.tvms"
    tvmscript.save(mod, path)
    assert (tmp_path / "model.tvms.npz").exists()
    assert path.read_text() == mod.script()
    again = tvmscript.load(path)
    tvmscript.assert_structural_equal(mod, again)
    x = np.random.default_rng(0).random((4, 100), dtype="float32")
    big = np.arange(100, dtype="float32") / 7
    out = tvmscript.build(again, target="interpreter")["main"](x)
    np.testing.assert_allclose(out, (x + big) * 2 + big, rtol=1e-6)


def test_from_source_with_metadata_and_show_meta():
    from tvmscript.script.printer import print_with_metadata

    mod = module()
    text, constants = print_with_metadata(mod)
    assert len(constants) == 2
    tvmscript.assert_structural_equal(mod, tvmscript.from_source(text, metadata=constants))
    tvmscript.assert_structural_equal(
        mod, tvmscript.from_source(text, metadata=[c.data for c in constants]))
    tvmscript.assert_structural_equal(mod, tvmscript.from_source(mod.script(show_meta=True)))


def test_script_without_its_weights_says_how_to_read_it():
    with pytest.raises(tvmscript.ScriptError, match=r"tvmscript.load\(path\)") as info:
        tvmscript.from_source(module().script())
    assert info.value.lineno == 5  # the line of the first reference in the printed text


def test_missing_entry_and_corrupt_weights(tmp_path):
    mod = module()
    path = tmp_path / "m.tvms"
    tvmscript.save(mod, path)
    with pytest.raises(tvmscript.ScriptError, match="has 0 entries"):
        tvmscript.from_source(path.read_text(), metadata=[])
    (tmp_path / "m.tvms.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not the weights file"):
        tvmscript.load(path)


def test_exported_model_library_carries_graph_and_weights(tmp_path):
    mod = module()
    ex = tvmscript.build(mod)
    x = np.random.default_rng(1).random((4, 100), dtype="float32")
    expected = ex["main"](x)
    path = tmp_path / "model.so"
    ex.export_library(str(path))
    loaded = tvmscript.load_module(str(path))
    assert "main" in loaded
    np.testing.assert_array_equal(loaded["main"](x), expected)
    with pytest.raises(ValueError, match=r"argument .x. must have shape\[1\] == 100"):
        loaded["main"](np.zeros((4, 99), "float32"))
    with pytest.raises(ValueError, match="shared library"):
        ex.export_library(str(tmp_path / "model.o"))
