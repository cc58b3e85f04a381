"""Cost models (tuner.cost_model): the XGBoost adapter, ranking on a synthetic set whose
answer is known, save/load, the random baseline and the factory."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import tvmscript
from tuner.cost_model import (
    _XGB,
    CostModel,
    CostModelError,
    RandomModel,
    XGBModel,
    make_cost_model,
)
from tuner.features import FEATURE_COUNT
from tvmscript import T


@dataclass
class Cand:
    func: Any = None
    trace: Any = None
    features: np.ndarray | None = None
    workload: str | None = "w"


@dataclass
class Result:
    latency_s: float | None


def synthetic(n: int, seed: int, workload: str = "w") -> tuple[list[Cand], np.ndarray]:
    """Candidates of 1-3 stores with random features; latency a known function of them."""
    rng = np.random.default_rng(seed)
    cands, lat = [], []
    for _ in range(n):
        x = rng.uniform(size=(int(rng.integers(1, 4)), FEATURE_COUNT)).astype(np.float32)
        cands.append(Cand(features=x, workload=workload))
        lat.append(float(np.sum(np.exp(2 * x[:, 0] + x[:, 1] - x[:, 2]))) * 1e-3)
    return cands, np.asarray(lat)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def pairwise_accuracy(score: np.ndarray, truth: np.ndarray) -> float:
    i, j = np.triu_indices(len(score), 1)
    keep = truth[i] != truth[j]
    return float(np.mean((score[i] > score[j])[keep] == (truth[i] > truth[j])[keep]))


@pytest.fixture(scope="module")
def trained() -> XGBModel:
    cands, lat = synthetic(300, seed=1)
    model = XGBModel(seed=0, rounds=60)
    model.update(cands, [Result(v) for v in lat])
    return model


def test_xgb_ranks_a_known_function(trained):
    test, lat = synthetic(200, seed=2)
    score = trained.predict(test)
    assert score.shape == (200,)
    assert spearman(score, 1 / lat) > 0.8
    assert pairwise_accuracy(score, 1 / lat) > 0.8


def test_labels_are_normalized_throughput_per_workload():
    model = XGBModel(rounds=2)
    cands = [Cand(features=np.ones((1, FEATURE_COUNT), np.float32), workload=w)
             for w in ("a", "a", "b", "b", "b")]
    model.update(cands, [Result(2.0), Result(1.0), Result(10.0), Result(None), Result(5.0)])
    np.testing.assert_allclose(model.labels(), [0.5, 1.0, 0.5, 0.0, 1.0])
    assert model.trained and model.n_samples == 5


def test_untrained_and_all_failed_models_score_randomly_by_seed():
    cands, _ = synthetic(10, seed=3)
    a, b = XGBModel(seed=7), XGBModel(seed=7)
    a.update(cands, [Result(None)] * 10)  # nothing ran: nothing to learn from
    assert not a.trained
    np.testing.assert_array_equal(a.predict(cands), b.predict(cands))
    assert a.predict([]).shape == (0,)


def test_update_checks_lengths():
    with pytest.raises(CostModelError, match="2 candidates but 1 results"):
        XGBModel().update([Cand(), Cand()], [Result(1.0)])


def test_save_load_round_trip_predicts_identically(trained, tmp_path):
    path = tmp_path / "model.json"
    trained.save(path)
    loaded = XGBModel()
    loaded.load(path)
    test, _ = synthetic(50, seed=4)
    np.testing.assert_array_equal(trained.predict(test), loaded.predict(test))
    assert json.loads(path.read_text())["kind"] == "xgb"


def test_load_rejects_files_that_are_not_models(tmp_path, trained):
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"\x00\xffnot json")
    with pytest.raises(CostModelError, match="garbage.bin: not a cost model file"):
        XGBModel().load(garbage)
    with pytest.raises(CostModelError, match="no such cost model file"):
        XGBModel().load(tmp_path / "missing.json")
    rnd = tmp_path / "random.json"
    RandomModel(3).save(rnd)
    with pytest.raises(CostModelError, match="holds a 'random' model, not 'xgb'"):
        XGBModel().load(rnd)
    other = tmp_path / "other.json"
    trained.save(other)
    data = json.loads(other.read_text())
    data["feature_names"] = data["feature_names"][:-1]
    other.write_text(json.dumps(data))
    with pytest.raises(CostModelError, match="saved with other features"):
        XGBModel().load(other)
    with pytest.raises(CostModelError, match="untrained"):
        XGBModel().save(tmp_path / "x.json")


def test_pretrained_model_transfers_and_keeps_its_trees(trained, tmp_path):
    path = tmp_path / "pre.json"
    trained.save(path)
    model = XGBModel(pretrained=path, rounds=5)
    test, lat = synthetic(100, seed=5, workload="new")
    before = model.predict(test)
    assert spearman(before, 1 / lat) > 0.8  # useful before any measurement of the new task
    few, few_lat = synthetic(8, seed=6, workload="new")
    for _ in range(2):  # repeated updates start from the same pretrained trees each time
        model.update(few, [Result(v) for v in few_lat])
        assert model.booster.num_boosted_rounds() == trained.booster.num_boosted_rounds() + 5
    assert spearman(model.predict(test), 1 / lat) > 0.7


def test_adapter_fits_per_candidate_sums():
    """The pack-sum objective: predictions summed over each candidate's rows fit its label."""
    rng = np.random.default_rng(0)
    rows = rng.uniform(size=(60, 4)).astype(np.float32)
    groups = np.repeat(np.arange(20), 3)
    labels = np.add.reduceat(rows[:, 0], np.arange(0, 60, 3)) / 3
    booster = _XGB.train(rows, groups, labels, np.ones(20), {"eta": 0.3, "max_depth": 4, "base_score": 0.0,
                                                 "verbosity": 0}, rounds=80)
    sums = np.add.reduceat(_XGB.predict_rows(booster, rows), np.arange(0, 60, 3))
    np.testing.assert_allclose(sums, labels, atol=0.05)
    again = _XGB.from_bytes(_XGB.to_bytes(booster), {})
    np.testing.assert_array_equal(_XGB.predict_rows(again, rows),
                                  _XGB.predict_rows(booster, rows))


@T.prim_func
def scale(A: T.Buffer((1024,), "float32"), B: T.Buffer((1024,), "float32")):
    for i in range(1024):
        with T.block("B"):
            vi = T.axis.remap("S", [i])
            B[vi] = A[vi] * T.float32(2)


def test_features_of_real_candidates_are_extracted_lazily_and_cached():
    funcs = []
    for factor in (4, 8, 16, 32):
        sch = tvmscript.Schedule(scale)
        (i,) = sch.get_loops(sch.get_block("B"))
        _, inner = sch.split(i, [None, factor])
        sch.vectorize(inner)
        funcs.append(sch.mod)
    cands = [Cand(func=f, workload=None) for f in funcs]
    model = XGBModel(rounds=5)
    model.update(cands, [Result(1e-6 * k) for k in (4, 3, 2, 1)])
    assert all(c.features is not None and c.features.shape[1] == FEATURE_COUNT for c in cands)
    fresh = [Cand(func=f, workload=None) for f in funcs]
    assert model.features(fresh[0]) is model.features(Cand(func=funcs[0]))  # cached by function
    assert model.predict(fresh).shape == (4,)


def test_random_model_is_deterministic_by_seed(tmp_path):
    cands = [Cand() for _ in range(16)]
    a, b, c = RandomModel(5), RandomModel(5), RandomModel(6)
    pa = a.predict(cands)
    np.testing.assert_array_equal(pa, b.predict(cands))
    assert not np.array_equal(pa, c.predict(cands))
    assert ((0 <= pa) & (pa < 1)).all()
    a.update(cands, [Result(1.0)] * 16)
    a.save(tmp_path / "r.json")
    d = RandomModel(0)
    d.load(tmp_path / "r.json")
    np.testing.assert_array_equal(d.predict(cands), a.predict(cands))


def test_make_cost_model():
    assert isinstance(make_cost_model("xgb", seed=1), XGBModel)
    assert isinstance(make_cost_model("random"), RandomModel)
    own = RandomModel(2)
    assert make_cost_model(own) is own
    assert isinstance(own, CostModel)

    class Mine:
        def update(self, candidates, results): ...
        def predict(self, candidates): return np.zeros(len(candidates))

    mine = Mine()
    assert make_cost_model(mine) is mine
    with pytest.raises(CostModelError, match="unknown cost model 'lightgbm'"):
        make_cost_model("lightgbm")
