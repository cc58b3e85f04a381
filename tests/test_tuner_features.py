"""Per-store features (tuner.features): shapes and names, hand-checked values on small programs,
determinism, and sensitivity to the schedule."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tvmscript
from tuner.features import (
    BUFFERS_PER_STORE,
    FEATURE_COUNT,
    FEATURE_DOCS,
    FEATURE_NAMES,
    extract_features,
    features_batch,
    slog,
)
from tvmscript import T


def col(row: np.ndarray, name: str) -> float:
    return float(row[FEATURE_NAMES.index(name)])


def buffer_columns(row: np.ndarray) -> dict[str, dict[str, float]]:
    """The buffer slots of a row keyed by access kind (read/write/readwrite)."""
    out = {}
    for k in range(BUFFERS_PER_STORE):
        kinds = [kind for kind in ("read", "write", "readwrite") if col(row, f"b{k}_{kind}")]
        if kinds:
            names = [n for n in FEATURE_NAMES if n.startswith(f"b{k}_")]
            out.setdefault(kinds[0], []).append({n[3:]: col(row, n) for n in names})
    return out


@T.prim_func
def copy(A: T.Buffer((64, 32), "float32"), B: T.Buffer((64, 32), "float32")):
    for i, j in T.grid(64, 32):
        with T.block("B"):
            vi, vj = T.axis.remap("SS", [i, j])
            B[vi, vj] = A[vi, vj]


@T.prim_func
def matmul(A: T.Buffer((128, 64), "float32"), B: T.Buffer((64, 256), "float32"),
           C: T.Buffer((128, 256), "float32")):
    for i, j, k in T.grid(128, 256, 64):
        with T.block("C"):
            vi, vj, vk = T.axis.remap("SSR", [i, j, k])
            with T.init():
                C[vi, vj] = T.float32(0)
            C[vi, vj] = C[vi, vj] + A[vi, vk] * B[vk, vj]


@T.prim_func
def scale(A: T.Buffer((1024,), "float32"), B: T.Buffer((1024,), "float32")):
    for i in range(1024):
        with T.block("B"):
            vi = T.axis.remap("S", [i])
            B[vi] = T.exp(A[vi]) / T.float32(2) - T.float32(1)


def test_names_and_shape_are_consistent():
    assert len(FEATURE_NAMES) == FEATURE_COUNT == len(set(FEATURE_NAMES))
    assert set(FEATURE_DOCS) == set(FEATURE_NAMES) and all(FEATURE_DOCS.values())
    x = extract_features(matmul)
    assert x.dtype == np.float32 and x.shape == (2, FEATURE_COUNT)  # init store + update
    assert np.isfinite(x).all()
    assert [f.shape for f in features_batch([copy, matmul])] == [(1, FEATURE_COUNT),
                                                                 (2, FEATURE_COUNT)]


def test_copy_loop_counts_and_bytes():
    (row,) = extract_features(copy)
    assert col(row, "float_add_sub") == col(row, "float_mul") == 0.0
    assert col(row, "outer_prod") == pytest.approx(slog(64 * 32))
    assert col(row, "num_loops") == pytest.approx(slog(2))
    assert col(row, "num_loads") == pytest.approx(slog(1))
    bufs = buffer_columns(row)
    (read,), (write,) = bufs["read"], bufs["write"]
    for b in (read, write):
        assert b["bytes"] == pytest.approx(slog(64 * 32 * 4))
        assert b["unique_bytes"] == pytest.approx(slog(64 * 32 * 4))
        assert b["stride"] == pytest.approx(slog(1))  # j moves one element
        assert b["lines"] == pytest.approx(slog(64 * 32 * 4 / 64))  # 16 floats a line
        assert b["reuse_none"] == 1.0
    assert col(row, "vec_pos_none") == col(row, "par_pos_none") == 1.0
    assert col(row, "const_store") == 0.0


def test_matmul_flops_reuse_and_init():
    init, update = extract_features(matmul)
    n = 128 * 256 * 64
    assert col(update, "float_mul") == pytest.approx(slog(n))
    assert col(update, "float_add_sub") == pytest.approx(slog(n))
    assert col(update, "float_mad") == pytest.approx(slog(n))
    assert col(init, "const_store") == 1.0 and col(init, "under_if") == pytest.approx(slog(1))
    bufs = buffer_columns(update)
    (c,) = bufs["readwrite"]
    assert c["unique_bytes"] == pytest.approx(slog(128 * 256 * 4))
    assert c["reuse_loop"] == 1.0 and c["reuse_ct"] == pytest.approx(slog(64))  # k re-reads C
    assert c["stride"] == 0.0  # k, the innermost loop, does not move C
    reads = {round(b["stride"], 4): b for b in bufs["read"]}
    assert set(reads) == {round(slog(1), 4), round(slog(256), 4)}  # A[i, k] and B[k, j]
    a = reads[round(slog(1), 4)]  # A[i, k]: k steps one element; j re-reads it 256 times
    assert a["unique_bytes"] == pytest.approx(slog(128 * 64 * 4))
    assert a["reuse_loop"] == 1.0 and a["reuse_ct"] == pytest.approx(slog(256))
    # arithmetic intensity grows as loops are added (2 flops per 3 loads at the innermost)
    curve = [col(update, f"ai_curve_{i}") for i in range(10)]
    assert curve == sorted(curve) and curve[0] > 0


def test_math_div_and_sub_counted_by_kind():
    (row,) = extract_features(scale)
    assert col(row, "float_math_func") == pytest.approx(slog(1024))
    assert col(row, "float_div_mod") == pytest.approx(slog(1024))
    assert col(row, "float_add_sub") == pytest.approx(slog(1024))
    assert col(row, "float_mul") == 0.0


def scheduled_scale(split: int, vectorize: bool, parallel: bool):
    sch = tvmscript.Schedule(scale)
    (i,) = sch.get_loops(sch.get_block("B"))
    outer, inner = sch.split(i, [None, split])
    if vectorize:
        sch.vectorize(inner)
    if parallel:
        sch.parallel(outer)
    return sch.mod["scale"] if "scale" in sch.mod else sch.mod["main"]


def test_vectorize_and_parallel_annotations():
    (row,) = extract_features(scheduled_scale(8, vectorize=True, parallel=True))
    assert col(row, "vec_num") == pytest.approx(slog(1))
    assert col(row, "vec_len") == col(row, "vec_prod") == pytest.approx(slog(8))
    assert col(row, "vec_pos_inner_spatial") == 1.0
    assert col(row, "par_len") == pytest.approx(slog(128))
    assert col(row, "par_pos_outer_spatial") == 1.0
    assert col(row, "unroll_pos_none") == 1.0
    assert col(row, "num_loops") == pytest.approx(slog(2))
    # the arithmetic is the same whatever the schedule
    (plain,) = extract_features(scale)
    assert col(row, "float_math_func") == col(plain, "float_math_func")


def test_unroll_and_auto_unroll_pragma():
    sch = tvmscript.Schedule(matmul)
    i, _, k = sch.get_loops(sch.get_block("C"))
    _, k1 = sch.split(k, [None, 4])
    sch.unroll(k1)
    sch.annotate(i, "pragma_auto_unroll_max_step", 16)
    _, update = extract_features(sch.mod)
    assert col(update, "unroll_len") == pytest.approx(slog(4))
    assert col(update, "unroll_pos_inner_reduce") == 1.0
    assert col(update, "auto_unroll_max_step") == pytest.approx(slog(16))


def test_cache_write_allocation_features():
    sch = tvmscript.Schedule(matmul)
    block = sch.get_block("C")
    i, _, _ = sch.get_loops(block)
    local = sch.cache_write(block, 0, "local")
    sch.reverse_compute_at(local, i)
    rows = extract_features(sch.mod)
    allocated = [r for r in rows if col(r, "alloc_local") == 1.0]
    assert allocated, "stores into the local cache carry its allocation"
    assert all(col(r, "alloc_size") > 0 for r in allocated)
    assert col(rows[0], "func_alloc_bytes") > 0


def test_deterministic_across_calls_and_copies():
    a = extract_features(scheduled_scale(16, True, False))
    b = extract_features(scheduled_scale(16, True, False))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, extract_features(scheduled_scale(16, True, False)))


@settings(max_examples=12, deadline=None)
@given(split=st.sampled_from([2, 4, 8, 16, 32, 64]), vec=st.booleans(), par=st.booleans())
def test_features_change_with_the_schedule(split, vec, par):
    base = extract_features(scheduled_scale(split, vec, par))
    np.testing.assert_array_equal(base, extract_features(scheduled_scale(split, vec, par)))
    other_split = 128 if split != 128 else 4
    assert not np.array_equal(base, extract_features(scheduled_scale(other_split, vec, par)))
    assert not np.array_equal(base, extract_features(scheduled_scale(split, not vec, par)))
    assert not np.array_equal(base, extract_features(scheduled_scale(split, vec, not par)))


def test_tiled_matmul_differs_from_naive():
    sch = tvmscript.Schedule(matmul)
    i, j, k = sch.get_loops(sch.get_block("C"))
    i0, i1 = sch.split(i, [None, 4])
    j0, j1 = sch.split(j, [None, 16])
    sch.reorder(i0, j0, k, i1, j1)
    tiled = extract_features(sch.mod)
    naive = extract_features(matmul)
    assert tiled.shape == naive.shape and not np.array_equal(tiled, naive)
    # the tile order makes B's innermost access contiguous (stride 1, not 256)
    bufs = buffer_columns(tiled[1])
    assert sorted(round(b["stride"], 4) for b in bufs["read"]) == [0.0, round(slog(1), 4)]


def test_every_corpus_program_extracts():
    from tests.corpus.tir_programs import PROGRAMS

    for name, text in PROGRAMS.items():
        x = extract_features(tvmscript.from_source(text))
        assert x.shape[1] == FEATURE_COUNT and np.isfinite(x).all(), name
