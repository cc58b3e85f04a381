"""Cost models: score candidates so the search measures the promising ones first.

``CostModel`` is the small interface a researcher implements to plug in a model:
``update(candidates, results)`` learns from measurements, ``predict(candidates)`` scores (higher
is faster), ``save``/``load`` keep it in one file. ``XGBModel`` is MetaSchedule's model: per-store
features (``tuner.features``), one XGBoost regression tree ensemble that predicts a value per
store, summed per candidate. Labels are normalized throughput (the best latency of the same
workload divided by the candidate's latency, 0 for a failed candidate); the trees fit its
reciprocal, the latency relative to the best, because stores run one after another and their
times add up, while throughputs do not (fitting throughput sums, as MetaSchedule does, ranked a
synthetic set with Spearman -0.15 where this gives 0.9). Each candidate's error is weighted by
its throughput squared (relative error), so the model is accurate where it matters, on the fast
candidates. ``predict`` returns the predicted normalized throughput. The model learns from the
first measured round on (Apache TVM waits for 100 samples). ``RandomModel`` scores
uniformly at random, the baseline.

All XGBoost calls live in ``_XGB`` below, the thin adapter whose tests pin the API we rely on
(its API changes have broken cost models before; LESSONS.md).
"""

from __future__ import annotations

import base64
import json
import os
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from .features import FEATURE_COUNT, FEATURE_NAMES, extract_features

FORMAT = "tvmscript-tuner-cost-model"
VERSION = 1


class CandidateLike(Protocol):
    """What a cost model reads of a candidate (``tuner.measure.Candidate``)."""

    func: Any
    trace: Any


class ResultLike(Protocol):
    """What a cost model reads of a measurement (``tuner.measure.MeasureResult``):
    the best latency in seconds, None when the candidate failed."""

    @property
    def latency_s(self) -> float | None: ...


class CostModelError(ValueError):
    """A cost model file that cannot be read, or a misuse of a model."""


class CostModel(ABC):
    """Learns from measured candidates and scores new ones (higher = predicted faster)."""

    name: str = "cost-model"

    @abstractmethod
    def update(self, candidates: Sequence[CandidateLike], results: Sequence[ResultLike]) -> None:
        """Learn from measured candidates (``results[i]`` measures ``candidates[i]``)."""

    @abstractmethod
    def predict(self, candidates: Sequence[CandidateLike]) -> np.ndarray:
        """One float64 score per candidate; higher means predicted faster."""

    @abstractmethod
    def save(self, path: str | os.PathLike) -> None:
        """Write the model to one file."""

    @abstractmethod
    def load(self, path: str | os.PathLike) -> None:
        """Replace this model's state with the one saved at ``path``."""


def _check_lengths(candidates: Sequence, results: Sequence) -> None:
    if len(candidates) != len(results):
        raise CostModelError(f"update got {len(candidates)} candidates but {len(results)} "
                             "results; each candidate needs its measurement")


def _read_file(path: str | os.PathLike, kind: str) -> dict:
    """The JSON object saved at ``path`` for a model of ``kind``, or a CostModelError that
    names the file and what is wrong with it."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise CostModelError(f"{path}: no such cost model file") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CostModelError(f"{path}: not a cost model file (not JSON: {e})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CostModelError(f"{path}: not a cost model file (no {FORMAT!r} header)")
    if data.get("version") != VERSION:
        raise CostModelError(f"{path}: cost model file version {data.get('version')!r}, "
                             f"this tuner reads version {VERSION}")
    if data.get("kind") != kind:
        raise CostModelError(f"{path}: holds a {data.get('kind')!r} model, not {kind!r}")
    return data


def _write_file(path: str | os.PathLike, kind: str, payload: dict) -> None:
    """Write atomically: a crash mid-save leaves the previous file whole."""
    data = {"format": FORMAT, "version": VERSION, "kind": kind, **payload}
    tmp = f"{os.fspath(path)}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- random

class RandomModel(CostModel):
    """Uniform random scores from a seeded generator: the search without a model."""

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def update(self, candidates: Sequence[CandidateLike], results: Sequence[ResultLike]) -> None:
        _check_lengths(candidates, results)

    def predict(self, candidates: Sequence[CandidateLike]) -> np.ndarray:
        return self.rng.uniform(size=len(candidates))

    def save(self, path: str | os.PathLike) -> None:
        _write_file(path, "random", {"seed": self.seed,
                                     "state": self.rng.bit_generator.state})

    def load(self, path: str | os.PathLike) -> None:
        data = _read_file(path, "random")
        self.seed = data["seed"]
        self.rng = np.random.default_rng(self.seed)
        self.rng.bit_generator.state = data["state"]


# ----------------------------------------------------------------------------- xgboost adapter

class _XGB:
    """Every call into ``xgboost``: training with a custom objective on per-store rows whose
    predictions are summed per candidate, prediction, and (de)serialisation."""

    @staticmethod
    def module():
        try:
            import xgboost
        except ImportError as e:  # pragma: no cover - depends on the install
            raise CostModelError("the 'xgb' cost model needs xgboost: pip install xgboost-cpu "
                                 "(or use cost_model='random')") from e
        return xgboost

    @staticmethod
    def train(rows: np.ndarray, groups: np.ndarray, targets: np.ndarray, weights: np.ndarray,
              params: dict, rounds: int, base: Any | None = None) -> Any:
        """Boost ``rounds`` trees so that the per-candidate sums of the row predictions
        (``groups[r]`` is the candidate of row ``r``, sorted) fit ``targets``, each candidate's
        squared error weighted by ``weights`` (MetaSchedule's pack-sum objective)."""
        xgb = _XGB.module()
        dtrain = xgb.DMatrix(rows, missing=np.nan)
        starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])

        def objective(preds: np.ndarray, _dtrain) -> tuple[np.ndarray, np.ndarray]:
            sums = np.add.reduceat(preds, starts)
            return ((sums - targets) * weights)[groups], weights[groups]

        return xgb.train(params, dtrain, num_boost_round=rounds, obj=objective,
                         xgb_model=base)

    @staticmethod
    def predict_rows(booster: Any, rows: np.ndarray) -> np.ndarray:
        xgb = _XGB.module()
        return booster.predict(xgb.DMatrix(rows, missing=np.nan), output_margin=True)

    @staticmethod
    def to_bytes(booster: Any) -> bytes:
        return bytes(booster.save_raw(raw_format="ubj"))

    @staticmethod
    def from_bytes(raw: bytes, params: dict) -> Any:
        xgb = _XGB.module()
        booster = xgb.Booster(params={"nthread": params.get("nthread", 0)})
        booster.load_model(bytearray(raw))
        return booster


# MetaSchedule's tree parameters, with a shallower depth and 64 histogram bins: the rows are
# few (hundreds to thousands), and one thread, because on 2 cores XGBoost's threads fight the
# measuring and building processes (6x slower training under load, measured here).
DEFAULT_PARAMS = {
    "max_depth": 6,
    "gamma": 0.001,
    "min_child_weight": 0,
    "eta": 0.2,
    "lambda": 1.0,
    "alpha": 0.0,
    "base_score": 0.0,
    "tree_method": "hist",
    "max_bin": 64,
    "nthread": 1,
    "verbosity": 0,
}
FAILED_RELATIVE_LATENCY = 10.0


def _workload_key(candidate: CandidateLike) -> Any:
    """Which task a candidate belongs to, for normalising throughput per task: its
    ``workload`` attribute when it has one, else the signature of its function (every
    schedule of one workload keeps the parameters, shapes and dtypes)."""
    key = getattr(candidate, "workload", None)
    if key is not None:
        return key
    func = candidate.func
    params = getattr(func, "params", ())
    buffers = getattr(func, "buffer_map", {}) or {}
    sig = []
    for p in params:
        b = buffers.get(p) if hasattr(buffers, "get") else None
        sig.append(repr((b.dtype, b.shape)) if b is not None else repr(p.dtype))
    attrs = getattr(func, "attrs", None) or {}
    return (attrs.get("global_symbol", getattr(func, "name", "")), tuple(sig))


class XGBModel(CostModel):
    """MetaSchedule's XGBoost cost model over per-store features (see the module docstring).

    ``pretrained`` (a saved model file) starts from another task's trees: later updates add
    trees on top of it instead of starting from nothing (transfer learning).
    """

    name = "xgb"

    def __init__(self, seed: int = 0, rounds: int = 100, params: dict | None = None,
                 pretrained: str | os.PathLike | None = None, cache_size: int = 8192) -> None:
        self.seed = seed
        self.rounds = rounds
        self.params = {**DEFAULT_PARAMS, **(params or {}), "seed": seed}
        self.rng = np.random.default_rng(seed)
        self.booster: Any | None = None
        self.base: Any | None = None
        self._features: list[np.ndarray] = []
        self._latencies: list[float] = []
        self._keys: list[Any] = []
        self._cache: OrderedDict[int, tuple[Any, np.ndarray]] = OrderedDict()
        self._cache_size = cache_size
        if pretrained is not None:
            self.load(pretrained)
            self.base = self.booster

    # features ------------------------------------------------------------------------
    def features(self, candidate: CandidateLike) -> np.ndarray:
        """The candidate's per-store features: its ``features`` attribute when set, else
        extracted once and cached by function."""
        given = getattr(candidate, "features", None)
        if given is not None:
            return np.asarray(given, dtype=np.float32)
        func = candidate.func
        hit = self._cache.get(id(func))
        if hit is not None and hit[0] is func:
            self._cache.move_to_end(id(func))
            return hit[1]
        feats = extract_features(func)
        self._cache[id(func)] = (func, feats)
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        try:
            candidate.features = feats
        except (AttributeError, TypeError):
            pass
        return feats

    @property
    def trained(self) -> bool:
        """Whether the model has learned anything (else ``predict`` is random)."""
        return self.booster is not None

    @property
    def n_samples(self) -> int:
        return len(self._latencies)

    # learning ------------------------------------------------------------------------
    def update(self, candidates: Sequence[CandidateLike], results: Sequence[ResultLike]) -> None:
        _check_lengths(candidates, results)
        for cand, res in zip(candidates, results):
            latency = res.latency_s
            self._features.append(self.features(cand))
            self._latencies.append(float(latency) if latency and latency > 0 else np.inf)
            self._keys.append(_workload_key(cand))
        labels = self.labels()
        if not np.any(labels > 0):
            return  # nothing ran yet: keep the current model (or none)
        rows, groups = _pack(self._features)
        targets = _relative_latency(labels)
        self.booster = _XGB.train(rows, groups, targets, 1.0 / targets**2, self.params,
                                  self.rounds, self.base)

    def labels(self) -> np.ndarray:
        """Normalised throughput of every sample: its workload's best latency divided by its
        latency (1 for the best, 0 for a failure)."""
        lat = np.asarray(self._latencies, dtype=np.float64)
        labels = np.zeros(len(lat))
        keys = self._keys
        for key in set(keys):
            mask = np.fromiter((k == key for k in keys), bool, len(keys))
            ok = mask & np.isfinite(lat)
            if ok.any():
                labels[ok] = lat[ok].min() / lat[ok]
        return labels

    def predict(self, candidates: Sequence[CandidateLike]) -> np.ndarray:
        if not candidates:
            return np.zeros(0)
        if self.booster is None:
            return self.rng.uniform(size=len(candidates))
        feats = [self.features(c) for c in candidates]
        rows, groups = _pack(feats)
        sums = np.zeros(len(candidates))
        np.add.at(sums, groups, _XGB.predict_rows(self.booster, rows))
        return 1.0 / np.maximum(sums, 1e-3)

    # files ---------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        if self.booster is None:
            raise CostModelError(f"cannot save an untrained XGBModel to {path}: update it with "
                                 "measured candidates first")
        raw = base64.b64encode(_XGB.to_bytes(self.booster)).decode("ascii")
        _write_file(path, "xgb", {"feature_names": FEATURE_NAMES, "params": self.params,
                                  "rounds": self.rounds, "n_samples": self.n_samples,
                                  "booster_ubj_base64": raw})

    def load(self, path: str | os.PathLike) -> None:
        data = _read_file(path, "xgb")
        if data.get("feature_names") != FEATURE_NAMES:
            raise CostModelError(f"{path}: saved with other features ({len(data.get('feature_names') or [])}"
                                 f" columns, this tuner has {FEATURE_COUNT}); retrain the model")
        try:
            raw = base64.b64decode(data["booster_ubj_base64"], validate=True)
            self.booster = _XGB.from_bytes(raw, self.params)
        except Exception as e:  # noqa: BLE001  (xgboost raises its own XGBoostError)
            raise CostModelError(f"{path}: the saved booster cannot be read: {e}") from None


def _relative_latency(labels: np.ndarray) -> np.ndarray:
    """What the trees fit: latency relative to the workload's best (``1 / label``), additive
    over stores, as the per-store predictions are; a failed candidate counts as 10x the best."""
    return np.where(labels > 0, 1.0 / np.maximum(labels, 1e-9), FAILED_RELATIVE_LATENCY)


def _pack(feats: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """All per-store rows stacked, and the candidate index of each row. A candidate with no
    store gets one row of zeros, so every candidate has a prediction."""
    blocks = [f if len(f) else np.zeros((1, FEATURE_COUNT), np.float32) for f in feats]
    rows = np.concatenate(blocks).astype(np.float32, copy=False)
    groups = np.repeat(np.arange(len(blocks)), [len(b) for b in blocks])
    return rows, groups


# ----------------------------------------------------------------------------- factory

_MODELS = {"xgb": XGBModel, "random": RandomModel}


def make_cost_model(model: str | CostModel = "xgb", **options: Any) -> CostModel:
    """A cost model by name (``"xgb"``, ``"random"``, with ``options`` such as ``seed``), or
    the given object when it already is one."""
    if isinstance(model, CostModel):
        return model
    if isinstance(model, str) and model in _MODELS:
        return _MODELS[model](**options)
    if all(callable(getattr(model, m, None)) for m in ("update", "predict")):
        return model  # duck-typed: a researcher's model need not subclass CostModel
    raise CostModelError(f"unknown cost model {model!r}: use 'xgb', 'random' or an object with "
                         "update(candidates, results) and predict(candidates)")
