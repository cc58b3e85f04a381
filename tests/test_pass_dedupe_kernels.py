"""dedupe-kernels: private kernels equal but for their names become one; calls follow."""

from __future__ import annotations

import numpy as np

import tvmscript
from passes import get_pass

BEFORE = '''
@I.ir_module
class Module:
    @T.prim_func(private=True)
    def relu(A: T.Buffer((8,), "float32"), B: T.Buffer((8,), "float32")):
        for i in range(8):
            with T.block("r"):
                vi = T.axis.spatial(8, i)
                B[vi] = T.max(A[vi], T.float32(0))

    @T.prim_func(private=True)
    def relu1(X: T.Buffer((8,), "float32"), Y: T.Buffer((8,), "float32")):
        for j in range(8):
            with T.block("r"):
                vj = T.axis.spatial(8, j)
                Y[vj] = T.max(X[vj], T.float32(0))

    @T.prim_func
    def public_relu(A: T.Buffer((8,), "float32"), B: T.Buffer((8,), "float32")):
        for i in range(8):
            with T.block("r"):
                vi = T.axis.spatial(8, i)
                B[vi] = T.max(A[vi], T.float32(0))

    @R.function
    def main(x: R.Tensor((8,), "float32")) -> R.Tensor((8,), "float32"):
        cls = Module
        a = R.call_tir(cls.relu, (x,), out_sinfo=R.Tensor((8,), "float32"))
        b = R.call_tir(cls.relu1, (a,), out_sinfo=R.Tensor((8,), "float32"))
        c = R.call_tir(cls.public_relu, (b,), out_sinfo=R.Tensor((8,), "float32"))
        return c
'''


def test_equal_private_kernels_merge_and_calls_follow():
    mod = tvmscript.from_source(BEFORE)
    after = get_pass("dedupe-kernels")(mod)
    assert sorted(after.functions) == ["main", "public_relu", "relu"]
    text = after["main"].script()
    assert text.count("cls.relu,") == 2 and "cls.public_relu" in text
    x = np.linspace(-1, 1, 8, dtype="float32")
    np.testing.assert_array_equal(tvmscript.build(after, target="interpreter")["main"](x),
                                  np.maximum(x, 0))


def test_nothing_to_merge_returns_the_module():
    single = BEFORE.replace("cls.relu1, (a,)", "cls.relu, (a,)")
    mod = tvmscript.from_source(single)
    mod = mod.with_(functions={n: f for n, f in mod.functions.items() if n != "relu1"})
    assert get_pass("dedupe-kernels")(mod) is mod
