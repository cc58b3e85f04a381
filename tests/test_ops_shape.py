"""Shape and data-movement operators: inferred struct info, print/re-parse, the legalized
kernels against numpy (interpreter and LLVM), TVM's reading of the same calls, and the errors
bad attributes give at the call."""

from __future__ import annotations

import re

import numpy as np
import pytest

import tvmscript
from passes.legalize_ops import LegalizeError, legalize_ops
from tests.interop.round_trip import check_both_ways
from tests.interop.tvm_bridge import TVM_REASON, TVMBridge, tvm_installed
from tvmscript.diagnostics import ScriptError
from tvmscript.ir import graph as G
from tvmscript.ir import stmt as S
from tvmscript.ir.functor import post_order_visit

rng = np.random.default_rng(0)
F = "float32"
X = rng.standard_normal((2, 3, 4)).astype(F)
Y = rng.standard_normal((2, 1, 4)).astype(F)
M = rng.standard_normal((3, 4)).astype(F)
COL = rng.standard_normal((3, 1)).astype(F)
SQ = rng.standard_normal((2, 1, 4, 1)).astype(F)
V7 = rng.standard_normal((7, 2)).astype(F)
V5 = rng.standard_normal(5).astype(F)
I5 = np.array([0, 2, -1, 1, -3], "int64")
BIG = np.iinfo("int64").max
x_ = 'x: R.Tensor((2, 3, 4), "float32")'
m_ = 'm: R.Tensor((3, 4), "float32")'
n_ = 'x: R.Tensor(("n", 4), "float32")'


def source(signature: str, call: str, sizes: str = "") -> str:
    decl = "".join(f"    {s} = T.int64()\n" for s in sizes.split())
    return f'''
@R.function
def main({signature}):
{decl}    with R.dataflow():
        gv = {call}
        R.output(gv)
    return gv
'''


def module(signature: str, call: str, sizes: str = "") -> tvmscript.IRModule:
    return tvmscript.IRModule.from_function(
        tvmscript.from_source(source(signature, call, sizes)), "main")


def pieces(x, begins_ends, axis):
    return tuple(np.take(x, range(b, e), axis=axis) for b, e in begins_ends)


def one_hot(idx, depth, on, off, axis):
    idx = np.where(idx < 0, idx + depth, idx)
    out = np.where(np.expand_dims(idx, -1) == np.arange(depth), on, off).astype(F)
    return np.moveaxis(out, -1, axis)


# id: (signature, call, inputs, numpy result)
CASES = {
    "reshape": (x_, "R.reshape(x, (4, -1))", [X], X.reshape(4, 6)),
    "reshape_shape_value": (x_, "R.reshape(x, R.shape([6, 4]))", [X], X.reshape(6, 4)),
    "flatten": (x_, "R.flatten(x)", [X], X.reshape(-1)),
    "flatten_scalar": ('x: R.Tensor((), "float32")', "R.flatten(x)", [np.array(3.5, F)],
                       np.array([3.5], F)),
    "permute_dims": (x_, "R.permute_dims(x, [2, 0, -2])", [X], X.transpose(2, 0, 1)),
    "permute_dims_reverse": (x_, "R.permute_dims(x)", [X], X.transpose()),
    "squeeze_all": ('x: R.Tensor((2, 1, 4, 1), "float32")', "R.squeeze(x)", [SQ],
                    SQ.squeeze()),
    "squeeze_axis": ('x: R.Tensor((2, 1, 4, 1), "float32")', "R.squeeze(x, axis=-1)", [SQ],
                     SQ.squeeze(-1)),
    "expand_dims": (x_, "R.expand_dims(x, [-1, 0])", [X], X[None, ..., None]),
    "expand_dims_middle": (x_, "R.expand_dims(x, axis=2)", [X], X[:, :, None]),
    "broadcast_to": ('c: R.Tensor((3, 1), "float32")', "R.broadcast_to(c, R.shape([2, 3, 4]))",
                     [COL], np.broadcast_to(COL, (2, 3, 4))),
    "concat": (f'{x_}, y: R.Tensor((2, 1, 4), "float32")', "R.concat((x, y, x), axis=-2)",
               [X, Y], np.concatenate([X, Y, X], axis=1)),
    "concat_flat": (f'{x_}, {m_}', "R.concat([x, m], axis=None)", [X, M],
                    np.concatenate([X, M], axis=None)),
    "split_sections": (x_, "R.split(x, 2, axis=2)", [X], tuple(np.split(X, 2, axis=2))),
    "split_uneven": ('v: R.Tensor((7, 2), "float32")', "R.split(v, 3)", [V7],
                     pieces(V7, [(0, 3), (3, 6), (6, 7)], 0)),
    "split_indices": ('v: R.Tensor((7, 2), "float32")', "R.split(v, [2, 5])", [V7],
                      tuple(np.split(V7, [2, 5]))),
    "split_unsorted": ('v: R.Tensor((7, 2), "float32")', "R.split(v, [5, 2, 9])", [V7],
                       tuple(np.split(V7, [5, 2, 9]))),
    "split_one": (x_, "R.split(x, 1, axis=1)", [X], X),
    "slice": (x_, "R.strided_slice(x, axes=[0], begin=[1], end=[10])", [X], X[1:10]),
    "slice_negative": (x_, "R.strided_slice(x, [1, 2], [-1, 3], [-10, 0], [-1, -2])", [X],
                       X[:, -1:-10:-1, 3:0:-2]),
    "slice_onnx_ends": (x_, f"R.strided_slice(x, [2, 1], [-100, -1], [{BIG}, -{BIG}], "
                            f"[3, -1])", [X], X[:, ::-1, -100::3]),
    "slice_empty": (x_, "R.strided_slice(x, [2], [3], [1])", [X], X[:, :, 3:1]),
    "take": (x_, "R.take(x, i, axis=1)", [X, I5], np.take(X, I5, axis=1)),
    "take_wrap": (x_, "R.take(x, i, axis=-1, mode=\"wrap\")", [X, I5 * 3],
                  np.take(X, I5 * 3, axis=-1, mode="wrap")),
    "take_clip": (x_, "R.take(x, i, 0, \"clip\")", [X, I5 * 2],
                  np.take(X, I5 * 2, axis=0, mode="clip")),
    "take_2d_int32": (x_, "R.take(x, j, axis=2)", [X, np.array([[3, 0], [-2, 1]], "int32")],
                      np.take(X, [[3, 0], [-2, 1]], axis=2)),
    "take_scalar": (x_, 'R.take(x, R.const(-1, "int64"), axis=1)', [X], X[:, -1]),
    "take_1d_no_axis": ('v: R.Tensor((5,), "float32")', "R.take(v, i)",
                        [V5, I5], np.take(V5, I5)),
    "gather_elements": (m_, "R.gather_elements(m, j, axis=1)",
                        [M, np.array([[0, -1], [2, 3], [-4, 1]], "int32")],
                        np.take_along_axis(M, np.array([[0, 3], [2, 3], [0, 1]]), axis=1)),
    "gather_elements_axis0": (m_, "R.gather_elements(m, j)",
                              [M, np.array([[2, 0, 1, -1]], "int64")],
                              np.take_along_axis(M, np.array([[2, 0, 1, 2]]), axis=0)),
    "pad": (m_, "R.nn.pad(m, [1, 2, 0, 3], pad_value=-2)", [M],
            np.pad(M, ((1, 2), (0, 3)), constant_values=-2)),
    "pad_crop": (m_, "R.nn.pad(m, (-1, 1, 2, -3))", [M], np.pad(M[1:, :1], ((0, 1), (2, 0)))),
    "pad_reflect": (m_, "R.nn.pad(m, [2, 1, 3, 3], \"reflect\")", [M],
                    np.pad(M, ((2, 1), (3, 3)), mode="reflect")),
    "pad_edge": (m_, "R.nn.pad(m, [0, 2, 4, 1], pad_mode=\"edge\")", [M],
                 np.pad(M, ((0, 2), (4, 1)), mode="edge")),
    "tile": (m_, "R.tile(m, [2, 1, 3])", [M], np.tile(M, (2, 1, 3))),
    "tile_int": (x_, "R.tile(x, 2)", [X], np.tile(X, 2)),
    "repeat": (x_, "R.repeat(x, 2, axis=1)", [X], np.repeat(X, 2, axis=1)),
    "repeat_flat": (m_, "R.repeat(m, 3)", [M], np.repeat(M, 3)),
    "one_hot": ('i: R.Tensor((2, 3), "int32")',
                "R.one_hot(i, T.float32(5), T.float32(-1), 4)",
                [np.array([[0, 3, -1], [2, 7, 1]], "int32")],
                one_hot(np.array([[0, 3, -1], [2, 7, 1]]), 4, 5, -1, -1)),
    "one_hot_axis0": ('i: R.Tensor((3,), "int64")',
                      "R.one_hot(i, on_value=1.0, off_value=0.0, depth=3, axis=0)",
                      [np.array([2, 0, -2])],
                      one_hot(np.array([2, 0, -2]), 3, 1, 0, 0).astype("float64")),
    "arange": ("", 'R.arange(0, 10, 3, "int64")', [], np.arange(0, 10, 3)),
    "arange_end": ("", "R.arange(6)", [], np.arange(6)),
    "arange_float": ("", "R.arange(0.5, 3.0, 0.5)", [], np.arange(0.5, 3.0, 0.5, dtype=F)),
    "arange_down": ("", "R.arange(5, 0, -2, dtype=\"int32\")", [], np.arange(5, 0, -2,
                                                                          dtype="int32")),
    "full": ("", 'R.full(R.shape([2, 3]), R.const(1.5, "float32"))', [],
             np.full((2, 3), 1.5, F)),
    "full_number": ("", 'R.full((3,), 7, "int32")', [], np.full((3,), 7, "int32")),
    "full_cast": ("", 'R.full((2,), R.const(2, "int32"), dtype="float32")', [],
                  np.full((2,), 2, F)),
    "zeros": ("", 'R.zeros((2, 3), "float32")', [], np.zeros((2, 3), F)),
    "ones": ("", 'R.ones(shape=(4,), dtype="int64")', [], np.ones(4, "int64")),
    "full_like": (x_, 'R.full_like(x, R.const(2, "int32"))', [X], np.full_like(X, 2)),
    "full_like_value": (f'{x_}, s: R.Tensor((), "float32")', 'R.full_like(x, s, "int32")',
                        [X, np.array(-3.0, F)], np.full(X.shape, -3, "int32")),
    "zeros_like": (x_, "R.zeros_like(x)", [X], np.zeros_like(X)),
    "ones_like": (x_, 'R.ones_like(x, "int32")', [X], np.ones(X.shape, "int32")),
}
# each case's inputs name the function's tensor parameters in order
SIGNATURE_EXTRA = {
    "take": ', i: R.Tensor((5,), "int64")', "take_wrap": ', i: R.Tensor((5,), "int64")',
    "take_clip": ', i: R.Tensor((5,), "int64")', "take_2d_int32": ', j: R.Tensor((2, 2), "int32")',
    "take_1d_no_axis": ', i: R.Tensor((5,), "int64")',
    "gather_elements": ', j: R.Tensor((3, 2), "int32")',
    "gather_elements_axis0": ', j: R.Tensor((1, 4), "int64")',
}


# TVM resolves the -1 of reshape when it builds the call; we keep it as written
KEEPS_MINUS_ONE = {"reshape", "symbolic_reshape_infer", "symbolic_reshape_merge"}
# where TVM 0.27 infers a different shape than numpy computes (and than we infer): it counts 4
# elements in arange(5, 0, -2) and a size of -2 for x[:, :, 3:1]; and its simplifier writes
# the (equal) symbolic size of a slice with stride -2 in another form
TVM_DIFFERS = {"arange_down", "slice_empty", "symbolic_slice_step"}


def case_module(name: str) -> tvmscript.IRModule:
    signature, call, _, _ = CASES[name]
    return module(signature + SIGNATURE_EXTRA.get(name, ""), call)


def results(out) -> tuple:
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


@pytest.mark.parametrize("name", sorted(CASES))
def test_inferred_struct_info_and_round_trip(name):
    mod = case_module(name)
    expected = results(CASES[name][3])
    sinfo = mod["main"].body.blocks[0].bindings[0].var.sinfo
    fields = sinfo.fields if isinstance(sinfo, G.TupleStructInfo) else (sinfo,)
    assert len(fields) == len(expected) and isinstance(sinfo, G.TupleStructInfo) == \
        isinstance(CASES[name][3], tuple)
    for f, ref in zip(fields, expected):
        assert [d.value for d in f.shape] == list(ref.shape)
        assert str(f.dtype) == str(ref.dtype)
    # the tvm dialect prints reshape's -1 as R.shape([4, -1]), which R.shape refuses here
    for dialect in ("classic",) + (("tvm",) if name not in KEEPS_MINUS_ONE else ()):
        tvmscript.assert_structural_equal(tvmscript.from_source(mod.script(dialect=dialect)),
                                          mod)
    assert mod.script() == tvmscript.from_source(mod.script()).script()


@pytest.mark.parametrize("target", ["interpreter", "llvm"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_kernel_computes_what_numpy_computes(name, target):
    _, _, inputs, expected = CASES[name]
    out = tvmscript.build(case_module(name), target=target)["main"](*inputs)
    for got, ref in zip(results(out), results(expected), strict=True):
        assert got.dtype == ref.dtype and got.shape == ref.shape
        np.testing.assert_array_equal(got, ref)


DATA_MOVEMENT = sorted(set(CASES) - {"split_sections", "split_uneven", "split_indices",
                                     "split_unsorted"})


@pytest.mark.parametrize("name", DATA_MOVEMENT + ["split_uneven"])
def test_kernels_are_spatial_blocks_one_per_output(name):
    mod = legalize_ops(case_module(name))
    (kernel,) = [f for n, f in mod.functions.items() if n != "main"]
    blocks, allocs = [], []

    def visit(node):
        if isinstance(node, S.Block) and node.name_hint != "root":
            blocks.append(node)
        if isinstance(node, S.Block):
            allocs.extend(node.alloc_buffers)

    post_order_visit(kernel.body, visit)
    outputs = len(results(CASES[name][3]))
    assert len(blocks) == outputs and not allocs
    assert all(iv.iter_type == S.IterType.SPATIAL for b in blocks for iv in b.iter_vars)


# ---------------------------------------------------------------- symbolic sizes


SYMBOLIC = {
    # id: (signature, call, sizes declared in the body, numpy of x, inferred shape text)
    "reshape_infer": (n_, "R.reshape(x, (-1, 2))", "", lambda x: x.reshape(-1, 2),
                      "(n * 2, 2)"),
    "reshape_named": (n_, "R.reshape(x, R.shape([2, n, 2]))", "n",
                      lambda x: x.reshape(2, -1, 2), "(2, n, 2)"),
    "reshape_merge": ('x: R.Tensor(("n", "m", 4), "float32")', "R.reshape(x, (n, -1))", "n m",
                      lambda x: x.reshape(x.shape[0], -1), "(n, m * 4)"),
    "flatten": (n_, "R.flatten(x)", "", lambda x: x.reshape(-1), "(n * 4,)"),
    "concat": (n_, "R.concat((x, x), axis=0)", "", lambda x: np.concatenate([x, x]),
               "(n * 2, 4)"),
    "slice": (n_, "R.strided_slice(x, [0], [1], [-1])", "", lambda x: x[1:-1], None),
    "slice_step": (n_, "R.strided_slice(x, [0, 1], [-1, 0], [-100, 4], [-2, 3])", "",
                   lambda x: x[-1:-100:-2, 0:4:3], None),
    "split_sections": (n_, "R.split(x, 3)", "", lambda x: tuple(
        np.split(x, [-(-len(x) // 3), -(-len(x) // 3) * 2])), None),
    "split": (n_, "R.split(x, [1], axis=0)", "", lambda x: tuple(np.split(x, [1])), None),
    "tile": (n_, "R.tile(x, [2, 1])", "", lambda x: np.tile(x, (2, 1)), "(n * 2, 4)"),
    "pad": (n_, "R.nn.pad(x, [1, 0, 0, 1], pad_mode=\"edge\")", "",
            lambda x: np.pad(x, ((1, 0), (0, 1)), mode="edge"), "(n + 1, 5)"),
    "full": (n_, 'R.full((n, 2), R.const(1.5, "float32"))', "n",
             lambda x: np.full((len(x), 2), 1.5, F), "(n, 2)"),
    "arange": (n_, "R.arange(n)", "n", lambda x: np.arange(len(x)), None),
}


@pytest.mark.parametrize("name", sorted(SYMBOLIC))
def test_symbolic_sizes(name):
    signature, call, sizes, reference, shape = SYMBOLIC[name]
    mod = module(signature, call, sizes)
    sinfo = mod["main"].body.blocks[0].bindings[0].var.sinfo
    if shape is not None:
        text = re.sub(r"T\.int64\((\d+)\)", r"\1", sinfo.script())
        assert text.startswith(f"R.Tensor({shape}"), text
    tvmscript.assert_structural_equal(tvmscript.from_source(mod.script()), mod)
    ex = tvmscript.build(mod, target="llvm")
    for rows in (4, 5):
        x = rng.standard_normal((rows, 3, 4) if "m" in sizes else (rows, 4)).astype(F)
        for got, ref in zip(results(ex["main"](x)), results(reference(x)), strict=True):
            np.testing.assert_array_equal(got, ref)


def test_symbolic_split_sizes_follow_tvm():
    mod = module(n_, "R.split(x, 2)")
    sinfo = mod["main"].body.blocks[0].bindings[0].var.sinfo
    assert [re.sub(r"T\.int64\((\d+)\)", r"\1", f.script()) for f in sinfo.fields] == [
        'R.Tensor(((n + 1) // 2, 4), dtype="float32")',
        'R.Tensor((n - (n + 1) // 2, 4), dtype="float32")']
    ex = tvmscript.build(mod, target="llvm")
    x = rng.standard_normal((5, 4)).astype(F)
    a, b = ex["main"](x)
    np.testing.assert_array_equal(a, x[:3])
    np.testing.assert_array_equal(b, x[3:])


def test_a_chain_of_shape_operators_with_tuples():
    # split's tuple result feeds concat whole and by its fields; the kernels take the fields
    mod = tvmscript.IRModule.from_function(tvmscript.from_source('''
@R.function
def main(x: R.Tensor(("n", 6), "float32"), i: R.Tensor((3,), "int64")):
    with R.dataflow():
        s = R.split(x, 3, axis=1)
        whole = R.concat(s, axis=1)
        c = R.concat((s[2], s[0]), axis=0)
        g = R.take(R.permute_dims(c), i, axis=1)
        p = R.nn.pad(g, [0, 1, 1, 0], pad_value=9)
        gv = (whole, p)
        R.output(gv)
    return gv
'''), "main")
    tvmscript.assert_structural_equal(tvmscript.from_source(mod.script()), mod)
    x = rng.standard_normal((4, 6)).astype(F)
    i = np.array([0, -1, 3])
    whole, p = tvmscript.build(mod, target="llvm")["main"](x, i)
    np.testing.assert_array_equal(whole, x)
    picked = np.take(np.concatenate([x[:, 4:], x[:, :2]]).T, i, axis=1)
    np.testing.assert_array_equal(p, np.pad(picked, ((0, 1), (1, 0)), constant_values=9))


# ---------------------------------------------------------------- TVM reads the same calls


@pytest.fixture(scope="module")
def bridge():
    b = TVMBridge()
    yield b
    b.close()


# where TVM does not take the form we accept (a superset): numbers for tensor fill values,
# concat of flattened tensors, negative pads
TVM_REFUSES = {"full_number", "concat_flat", "pad_crop"}


@pytest.mark.skipif(not tvm_installed(), reason=TVM_REASON)
def test_tvm_parses_our_text_and_agrees(bridge):
    sources = {name: source(CASES[name][0] + SIGNATURE_EXTRA.get(name, ""), CASES[name][1])
               for name in set(CASES) - TVM_REFUSES - TVM_DIFFERS}
    sources.update({f"symbolic_{name}": source(sig, call, sizes)
                    for name, (sig, call, sizes, _, _) in SYMBOLIC.items()
                    if f"symbolic_{name}" not in TVM_DIFFERS})
    problems = {}
    for name, src in sorted(sources.items()):
        outcome = check_both_ways(bridge, name, src)
        back = (outcome.tvm_to_ours and outcome.through_tvm) or name in KEEPS_MINUS_ONE
        if not (outcome.ours_to_tvm and back):
            problems[name] = outcome.problems
    assert not problems, problems


# ---------------------------------------------------------------- errors at the call


ERRORS = [
    (x_, "R.squeeze(x, axis=1)", "R.squeeze: axis 1 has size 3, not 1, in shape (2, 3, 4)"),
    (x_, "R.expand_dims(x)", "R.expand_dims needs axis (an int or a list of ints)"),
    (x_, "R.expand_dims(x, 4)", "R.expand_dims: axis 4 is out of range for a tensor of rank 4"),
    (x_, "R.permute_dims(x, [0, 1])", "R.permute_dims: axes (0, 1) are not a permutation of "
                                      "0..2"),
    (x_, "R.broadcast_to(x, (2, 5, 4))", "R.broadcast_to: shape (2, 3, 4) does not broadcast "
                                         "to (2, 5, 4) (size 3 against 5)"),
    (x_, "R.broadcast_to(x, (3, 4))", "R.broadcast_to: cannot broadcast rank 3 (2, 3, 4) to "
                                      "the lower rank 2 of (3, 4)"),
    (x_, 'R.concat((x, R.const(1, "int32")))', "R.concat: the tensors have different dtypes "
                                               "float32, int32"),
    (f"{x_}, {m_}", "R.concat((x, m))", "R.concat: the tensors have different ranks "
                                        "(2, 3, 4), (3, 4)"),
    (f'{x_}, y: R.Tensor((2, 1, 5), "float32")', "R.concat((x, y), axis=1)",
     "R.concat: shapes (2, 3, 4) and (2, 1, 5) differ in axis 2, which is not the joined "
     "axis 1"),
    (x_, "R.concat(x)", "R.concat expects a non-empty tuple of tensors as argument 0"),
    (x_, "R.split(x, 0)", "R.split: indices_or_sections must be at least 1, got 0"),
    (x_, "R.split(x, [-1, 2])", "R.split: indices_or_sections entries must be at least 0"),
    (x_, "R.strided_slice(x, [0], [0], [1], [0])", "R.strided_slice: strides cannot be 0"),
    (x_, "R.strided_slice(x, [0, 1], [0], [1])", "R.strided_slice: axes, begin, end and "
                                                 "strides have different lengths (axes 2, "
                                                 "begin 1, end 1)"),
    (x_, "R.strided_slice(x, [3], [0], [1])", "R.strided_slice: axis 3 is out of range for a "
                                              "tensor of rank 3"),
    (x_, "R.take(x, x, axis=0)", "R.take: indices must be integers (int32 or int64), got "
                                 "float32"),
    (x_, 'R.take(x, R.const([1], "int64"))', "R.take without axis needs 1-D data, got shape "
                                            "(2, 3, 4); give axis="),
    (x_, 'R.take(x, R.const([1], "int64"), 0, "raise")', "R.take: mode must be one of fast, "
                                                        "wrap, clip, got 'raise'"),
    (x_, 'R.gather_elements(x, R.const([1], "int64"))', "R.gather_elements: data and indices "
                                                        "have different ranks (3 and 1)"),
    (m_, "R.nn.pad(m, [1, 1])", "R.nn.pad: pad_width needs 2 entries per axis (before, after), "
                                "4 for rank 2, got 2"),
    (m_, 'R.nn.pad(m, [1, 1, 0, 0], "wrap")', "R.nn.pad: pad_mode must be one of constant, "
                                             "edge, reflect, got 'wrap'"),
    (m_, 'R.nn.pad(m, [3, 0, 0, 0], "reflect")', "R.nn.pad: reflect padding of axis 0 by "
                                                "(3, 0) needs pads below its size 3"),
    (m_, 'R.nn.pad(m, [-1, 0, 0, 0], "edge")', "R.nn.pad: negative pad_width (cropping) "
                                              "needs pad_mode='constant'"),
    (m_, "R.nn.pad(m, [-2, -2, 0, 0])", "R.nn.pad: axis 0 of size 3 cropped by 4 would have "
                                        "size -1"),
    (m_, "R.tile(m, [2, -1])", "R.tile: repeats entries must be at least 0, got (2, -1)"),
    (m_, "R.repeat(m, 2.5)", "R.repeat: repeats must be an integer, got 2.5"),
    ('i: R.Tensor((3,), "int64")', "R.one_hot(i, T.float32(1), 0.0, 3)",
     "R.one_hot: on_value and off_value have different dtypes float32 and float64"),
    ('i: R.Tensor((3,), "float32")', "R.one_hot(i, 1, 0, 3)",
     "R.one_hot: indices must be integers (int32 or int64), got float32"),
    ("", "R.arange(0, 4, 0)", "R.arange: step cannot be 0"),
    ("", 'R.arange(0, "4")', "R.arange: end must be a number"),
    (x_, "R.full((2,), x)", "R.full: fill_value must be a scalar constant such as "
                            "R.const(1.5, \"float32\") or a number, got variable x; for a "
                            "computed value use R.full_like or R.broadcast_to"),
    (x_, 'R.full((2,), R.const([1, 2], "int32"))', "R.full: fill_value must be a scalar "
                                                   "constant such as R.const(1.5, \"float32\") "
                                                   "or a number, got a constant of shape (2,)"),
    ("", 'R.full((2,), 1, "floaty")', "R.full: dtype:"),
    ("", "R.zeros((2, 3))", "R.zeros needs a dtype (dtype=\"float32\", ...)"),
    ("", 'R.ones((2, -3), "float32")', "R.ones: sizes are non-negative, got (2, -3)"),
    ("", 'R.ones((2, 3), "floaty")', "R.ones: dtype:"),
    (x_, "R.full_like(x, x)", "R.full_like: fill_value must be a scalar (rank 0) tensor, got "
                              "rank 3"),
    (x_, "R.reshape(x, (5, -1))", "R.reshape: cannot reshape 24 elements (shape (2, 3, 4)) "
                                  "into shape (5, -1)"),
    (x_, "R.reshape(x, (0, -1))", "R.reshape: the -1 in shape (0, -1) is ambiguous beside a "
                                  "size 0"),
]


@pytest.mark.parametrize("signature, call, message", ERRORS, ids=[e[1] for e in ERRORS])
def test_bad_arguments_are_errors_at_the_call(signature, call, message):
    with pytest.raises(ScriptError) as info:
        tvmscript.from_source(source(signature, call))
    assert info.value.message.startswith(message), info.value.message
    assert info.value.lineno == 5


def test_symbolic_arange_start_has_no_kernel():
    mod = module(n_, "R.arange(n, 8)", "n")
    with pytest.raises(LegalizeError, match=r"R.arange: a symbolic start \(n\) has no kernel"):
        legalize_ops(mod)
