"""Schedule recipes that the TVM worker applies with Apache TVM 0.27's own schedule.

Runs only inside ``tvm_worker`` (the one process that imports TVM). Each recipe takes the PrimFunc
TVM parsed from a kernel in ``tests/interop/scheduled_programs.py`` and returns the scheduled
PrimFunc; the worker prints it with TVM's printer for the tests to parse here.
"""

from __future__ import annotations


def _schedule(func):
    from tvm import s_tir

    return s_tir.Schedule(func, debug_mask="all")


def _result(sch):
    return sch.mod["main"]


def tile_parallel_vectorize(func):
    """Matmul: tile i and j, reorder the reduction between the tiles, parallel outer, vector inner."""
    sch = _schedule(func)
    i, j, k = sch.get_loops("C")
    i0, i1 = sch.split(i, factors=[8, None])
    j0, j1 = sch.split(j, factors=[None, 16])
    sch.reorder(i0, j0, i1, k, j1)
    sch.parallel(i0)
    sch.vectorize(j1)
    return _result(sch)


def cache_write_reverse_compute_at(func):
    """Matmul + bias + relu: accumulate a row tile in a local cache, write it back under the tile."""
    sch = _schedule(func)
    cache = sch.cache_write("matmul", 0, "local")
    i, j, k = sch.get_loops("matmul")
    i0, i1 = sch.split(i, factors=[None, 4])
    sch.reorder(i0, j, i1, k)
    sch.reverse_compute_at(cache, j)
    sch.reverse_compute_at("bias_relu", i0)
    return _result(sch)


def decompose_reduction(func):
    """Batch matmul: split j, take the init out of the reduction at the reduction loop."""
    sch = _schedule(func)
    b, i, j, k = sch.get_loops("C")
    j0, j1 = sch.split(j, factors=[None, 8])
    sch.reorder(b, i, j0, k, j1)
    sch.decompose_reduction("C", k)
    return _result(sch)


def transform_layout(func):
    """Add then relu*0.5: the intermediate moves to a 16x16-tiled layout, the loops follow it."""
    sch = _schedule(func)
    sch.transform_layout("add", ("write", 0), lambda i, j: (i // 16, j // 16, i % 16, j % 16))
    sch.transform_block_layout("add", lambda i, j: (i // 16, j // 16, i % 16, j % 16))
    return _result(sch)


def compute_at_fuse(func):
    """Conv2d with padding: fuse the output's outer loops, compute the padded rows they need there."""
    sch = _schedule(func)
    n, f, h = sch.get_loops("conv")[:3]
    fused = sch.fuse(n, f, h)
    sch.compute_at("pad", fused)
    return _result(sch)
