"""``tvmscript.frontend.from_exported_program``: small torch modules, exported with
``torch.export``, imported, built and run; their outputs must match torch's."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import tvmscript
from tvmscript.frontend import from_exported_program

torch = pytest.importorskip("torch", reason="the PyTorch importer translates torch.export "
                                            "programs, so its tests need torch")
from torch import nn
from torch.nn import functional as F

from tvmscript.frontend import torch as torch_frontend
from tvmscript.frontend.torch import TorchImportError, UnsupportedOperatorError

EXACT = {"rtol": 1e-5, "atol": 1e-5}
TRANSCENDENTAL = {"rtol": 1e-4, "atol": 1e-4}


class Lambda(nn.Module):
    """A module whose forward is ``fn`` (each test's small model in one line)."""

    def __init__(self, fn, **modules) -> None:
        super().__init__()
        self.fn = fn
        for name, module in modules.items():
            self.add_module(name, module)

    def forward(self, *args):
        return self.fn(self, *args)


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).standard_normal(shape).astype("float32"))


def compare(got, want, tol: dict) -> None:
    want = want if isinstance(want, (tuple, list)) else (want,)
    got = got if isinstance(got, tuple) else (got,)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        w = w.detach().numpy()
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, g.dtype, w.shape, w.dtype)
        np.testing.assert_allclose(g, w, **tol)


def check(model: nn.Module, *inputs, tol: dict = EXACT, dynamic_shapes=None, more=(),
          **options) -> tvmscript.IRModule:
    """Export ``model``, import and build it, and compare with torch on ``inputs`` (and on
    each tuple of ``more``, for dynamic shapes)."""
    model.eval()
    program = torch.export.export(model, inputs, dynamic_shapes=dynamic_shapes)
    mod = torch_frontend.from_exported_program(program, **options)
    runtime = tvmscript.build(mod)
    with torch.no_grad():
        for args in (inputs, *more):
            compare(runtime["main"](*[a.numpy() for a in args]), model(*args), tol)
    return mod


# ---------------------------------------------------------------- element-wise operators

UNARY = {
    "activations": (lambda m, x: (torch.relu(x), torch.sigmoid(x), torch.tanh(x), F.silu(x),
                                  F.gelu(x), F.gelu(x, approximate="tanh"),
                                  F.leaky_relu(x, 0.2), F.softplus(x), F.elu(x)),
                    TRANSCENDENTAL),
    "hard": (lambda m, x: (F.relu6(4 * x), F.hardtanh(x, -0.5, 0.5), F.hardswish(4 * x),
                           F.hardsigmoid(4 * x), x.clamp(-0.5, 0.5), x.clamp(min=0.1),
                           x.clamp(max=-0.1)), EXACT),
    "math": (lambda m, x: (torch.exp(x), torch.log(x.abs() + 0.5), torch.sqrt(x.abs()),
                           torch.rsqrt(x.abs() + 0.5), -x, x.abs(), torch.erf(x), x ** 2,
                           x.pow(3), torch.reciprocal(x.abs() + 1)), TRANSCENDENTAL),
}


@pytest.mark.parametrize("family", sorted(UNARY))
def test_unary(family):
    fn, tol = UNARY[family]
    check(Lambda(fn), randn(3, 4), tol=tol)


def test_binary_broadcasting_scalars_and_alpha():
    def fn(m, x, y, z):
        return (x + y, x - z, x * y, x / (z.abs() + 1), torch.add(x, y, alpha=2),
                torch.sub(x, z, alpha=0.5), 1 - x, 2.5 * x + 1, torch.maximum(x, y),
                torch.minimum(x, z), x // 0.3, x % 0.7)

    check(Lambda(fn), randn(2, 3, 4), randn(4, seed=1), randn(3, 1, seed=2))


def test_comparisons_where_and_masks():
    def fn(m, x, y, mask):
        return (x == y, x != 0, x < y, x <= 0.5, x > y, x >= -0.5,
                torch.where(x > 0, x, y), torch.where(x > y, x, 0.0),
                x.masked_fill(mask == 0, -1e9), torch.logical_and(x > 0, y > 0),
                torch.logical_not(x > 0))

    mask = torch.tensor([[1, 0, 1, 1], [0, 1, 1, 0], [1, 1, 0, 1]])
    check(Lambda(fn), randn(3, 4), randn(3, 4, seed=1), mask)


def test_dtype_conversions_follow_torch_promotion():
    def fn(m, x, ids):
        return (ids.float() * x, ids + 1.5, (x > 0).sum(-1), ids.to(torch.int32),
                x.type_as(ids), ids / 2, x.to(torch.float32))

    ids = torch.tensor([[0, 3, 1, 2], [5, 1, 0, 2], [1, 1, 4, 3]])
    check(Lambda(fn), randn(3, 4), ids)


# ---------------------------------------------------------------- reductions


def test_reductions():
    def fn(m, x):
        values, indices = x.max(dim=1)
        return (x.sum(), x.sum(dim=(0, 2)), x.sum(-1, keepdim=True), x.mean(dim=[-1, -2]),
                x.mean(), x.amax(dim=1), x.amin(dim=(0, 1), keepdim=True),
                x.argmax(dim=-1), x.argmin(dim=0, keepdim=True), values, indices,
                torch.softmax(x, dim=1), F.log_softmax(x, dim=-1), x.var(dim=-1))

    check(Lambda(fn), randn(2, 3, 5), tol=TRANSCENDENTAL)


# ---------------------------------------------------------------- shapes


def test_views_and_permutations():
    def fn(m, x):
        return (x.view(6, 4), x.reshape(-1), torch.flatten(x, 1), x.permute(2, 0, 1),
                x.transpose(0, 2), x[0].t(), x.unsqueeze(1), x[:, :1].squeeze(1),
                x.unsqueeze(0).squeeze(), x[:, :1].expand(2, 3, 4), x.unflatten(2, (2, 2)),
                x.contiguous().clone())

    check(Lambda(fn), randn(2, 3, 4))


def test_slicing_and_indexing():
    def fn(m, x, idx):
        return (x[:, 1:3], x[..., ::2], x[:, -2:], x[1], x[:, -1], x[:, 0, 1:],
                torch.narrow(x, 2, 1, 2), torch.index_select(x, 2, idx), x[:, idx],
                x[:, :, 3:10])

    check(Lambda(fn), randn(2, 4, 5), torch.tensor([3, 0, 2]))


def test_concat_stack_split():
    def fn(m, x, y):
        a, b = torch.split(x, 2, dim=-1)
        p, q, r = x.split([1, 1, 2], dim=1)
        c0, c1 = x.chunk(2, dim=0)
        u = torch.unbind(y, dim=1)
        return (torch.cat([x, y], dim=1), torch.stack([x, x], dim=1), a, b, p, q, r, c0,
                c1, u[0], u[2], torch.cat((a, b), -1) + 1)

    check(Lambda(fn), randn(2, 4, 4), randn(2, 3, 4, seed=1))


# ---------------------------------------------------------------- layers

CONVOLUTIONS = {
    "conv2d": (nn.Conv2d(3, 4, 3), (1, 3, 7, 7)),
    "strided_padded_dilated": (nn.Conv2d(3, 4, 3, stride=2, padding=2, dilation=2),
                               (2, 3, 9, 8)),
    "depthwise": (nn.Conv2d(4, 4, 3, padding=1, groups=4), (1, 4, 6, 6)),
    "grouped_no_bias": (nn.Conv2d(4, 6, (3, 1), groups=2, bias=False), (1, 4, 5, 5)),
    "same": (nn.Conv2d(2, 3, 4, padding="same"), (1, 2, 6, 6)),
    "conv1d": (nn.Conv1d(3, 5, 3, stride=2, padding=1), (2, 3, 9)),
    "conv_transpose2d": (nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1),
                         (1, 3, 4, 4)),
}


@pytest.mark.filterwarnings("ignore:Using padding='same'")  # torch's note on its own kernel
@pytest.mark.parametrize("name", sorted(CONVOLUTIONS))
def test_convolutions(name):
    torch.manual_seed(0)
    layer, shape = CONVOLUTIONS[name]
    check(Lambda(lambda m, x: m.layer(x), layer=layer), randn(*shape), tol=TRANSCENDENTAL)


def test_pooling_resizing_padding():
    def fn(m, x):
        return (F.max_pool2d(x, 2), F.max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True),
                F.avg_pool2d(x, 2), F.avg_pool2d(x, 3, stride=2, padding=1),
                F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False),
                F.adaptive_avg_pool2d(x, 1), F.adaptive_avg_pool2d(x, (2, 3)),
                F.interpolate(x, scale_factor=2, mode="nearest"),
                F.interpolate(x, size=(9, 7), mode="bilinear", align_corners=False),
                F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True),
                F.pad(x, (1, 2)), F.pad(x, (1, 1, 2, 0), value=0.5),
                F.pad(x, (2, 1, 1, 2), mode="reflect"), F.pad(x, (1, 1, 1, 1), mode="replicate"))

    check(Lambda(fn), randn(1, 2, 6, 6), tol=TRANSCENDENTAL)


def test_normalizations():
    torch.manual_seed(0)
    bn, ln, gn = nn.BatchNorm2d(4), nn.LayerNorm(6), nn.GroupNorm(2, 4)
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        for p in (*bn.parameters(), *ln.parameters(), *gn.parameters()):
            p.uniform_(-1, 1)

    def fn(m, x):
        return (m.bn(x), m.ln(x), F.layer_norm(x, (5, 6)), m.gn(x))

    check(Lambda(fn, bn=bn, ln=ln, gn=gn), randn(2, 4, 5, 6), tol=TRANSCENDENTAL)


def test_scaled_dot_product_attention():
    """Decomposed into matmuls and a softmax: plain, causal, scaled, boolean and additive
    masks."""
    bool_mask = torch.tensor([[True, False, True, True, False]]).expand(4, 5)
    float_mask = randn(4, 5, seed=3)

    def fn(m, q, k, v):
        return (F.scaled_dot_product_attention(q, k, v),
                F.scaled_dot_product_attention(q, k, v, is_causal=True),
                F.scaled_dot_product_attention(q, k, v, scale=0.3),
                F.scaled_dot_product_attention(q, k, v, attn_mask=bool_mask),
                F.scaled_dot_product_attention(q, k, v, attn_mask=float_mask))

    check(Lambda(fn), randn(2, 2, 4, 8), randn(2, 2, 5, 8, seed=1), randn(2, 2, 5, 8, seed=2),
          tol=TRANSCENDENTAL)


# ---------------------------------------------------------------- models


class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.dw = nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8)
        self.fc = nn.Linear(8, 5)
        self.drop = nn.Dropout(0.2)
        with torch.no_grad():
            self.bn.running_mean.uniform_(-0.5, 0.5)
            self.bn.running_var.uniform_(0.5, 1.5)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn(self.conv(x))), 2)
        x = F.hardswish(self.dw(x))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(self.drop(x))


@pytest.mark.parametrize("decompose", [False, True], ids=["aten", "core_aten"])
def test_small_cnn(decompose):
    """Both forms: as exported (conv2d, batch_norm, linear) and as torch decomposes it
    (convolution, _native_batch_norm_legit_no_training, addmm, max_pool2d_with_indices)."""
    torch.manual_seed(0)
    check(SmallCNN(), randn(2, 3, 8, 8), tol=TRANSCENDENTAL, decompose=decompose)


class EncoderLayer(nn.Module):
    """A BERT-style encoder layer: embeddings, attention with a padding mask, GELU MLP."""

    def __init__(self, vocab: int = 20, d: int = 16, heads: int = 2) -> None:
        super().__init__()
        self.heads = heads
        self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(8, d)
        self.ln0, self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.out = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.up, self.down = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, ids, mask):
        b, t = ids.shape
        x = self.ln0(self.tok(ids) + self.pos(torch.arange(t)))
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        q, k, v = (z.view(b, t, self.heads, -1).transpose(1, 2) for z in (q, k, v))
        scores = q @ k.transpose(-1, -2) / (q.shape[-1] ** 0.5)
        scores = scores.masked_fill(mask[:, None, None, :] == 0, float("-inf"))
        attn = torch.softmax(scores, dim=-1) @ v
        x = self.ln1(x + self.out(attn.transpose(1, 2).reshape(b, t, -1)))
        return self.ln2(x + self.down(F.gelu(self.up(x))))


def test_transformer_encoder_layer():
    torch.manual_seed(0)
    ids = torch.tensor([[3, 7, 1, 0, 0], [5, 2, 9, 11, 4]])
    mask = (ids != 0).long()
    check(EncoderLayer(), ids, mask, tol=TRANSCENDENTAL)


class DecoderBlock(nn.Module):
    """A GPT-2-style block: causal mask from a buffer, fused qkv split, tanh GELU."""

    def __init__(self, d: int = 16, heads: int = 2, block: int = 6) -> None:
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc, self.fc_out = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
        self.register_buffer("bias", torch.tril(torch.ones(block, block)).view(1, 1, block,
                                                                               block))

    def forward(self, x):
        b, t, c = x.size()
        q, k, v = self.attn(self.ln1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / (k.size(-1) ** 0.5))
        att = att.masked_fill(self.bias[:, :, :t, :t] == 0, float("-inf"))
        y = (F.softmax(att, dim=-1) @ v).transpose(1, 2).contiguous().view(b, t, c)
        x = x + self.proj(y)
        x = x + self.fc_out(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))
        return x, x[:, -1]


def test_decoder_block_with_dynamic_batch_and_length():
    """The mask buffer is sliced to the symbolic length; the last position is taken."""
    torch.manual_seed(0)
    batch, length = torch.export.Dim("batch", max=32), torch.export.Dim("length", max=5)
    mod = check(DecoderBlock(), randn(2, 4, 16), dynamic_shapes={"x": {0: batch, 1: length}},
                more=[(randn(5, 5, 16, seed=1),), (randn(1, 2, 16, seed=2),)],
                tol=TRANSCENDENTAL)
    (x,) = mod["main"].params
    assert all(isinstance(s, tvmscript.ir.expr.Var) for s in x.struct_info.shape[:2])


class DQN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(),
                                 nn.Linear(32, 2))

    def forward(self, state):
        q = self.net(state)
        return q, q.argmax(dim=1)


def test_dqn_with_dynamic_batch():
    torch.manual_seed(0)
    batch = torch.export.Dim("batch", min=1, max=256)
    check(DQN(), randn(3, 4), dynamic_shapes={"state": {0: batch}},
          more=[(randn(17, 4, seed=1),), (randn(1, 4, seed=2),)])


def test_operators_outside_the_table_are_decomposed_by_torch():
    """mish and einsum have no converter: torch decomposes them into ones that do."""
    fn = Lambda(lambda m, x, y: (F.mish(x), torch.einsum("bij,bjk->bik", x, y)))
    check(fn, randn(2, 3, 4), randn(2, 4, 5, seed=1), tol=TRANSCENDENTAL)


# ---------------------------------------------------------------- the module itself


def test_constants_and_script_round_trip():
    torch.manual_seed(0)
    program = torch.export.export(SmallCNN().eval(), (randn(1, 3, 8, 8),))
    mod = from_exported_program(program)
    main = mod["main"]
    assert [p.name for p in main.params] == ["x"]
    constants = []
    tvmscript.ir.functor.post_order_visit(
        main, lambda n: constants.append(n) if isinstance(n, tvmscript.ir.graph.Constant)
        else None)
    weight = program.state_dict["conv.weight"].detach().numpy()
    assert any(c.data.shape == weight.shape and np.array_equal(c.data, weight)
               for c in constants)
    text = mod.script(show_meta=True)
    again = tvmscript.from_source(text)
    tvmscript.assert_structural_equal(again, mod)
    assert again.script(show_meta=True) == text


def test_dynamic_round_trip():
    batch = torch.export.Dim("batch", min=1, max=8)
    program = torch.export.export(DQN().eval(), (randn(2, 4),),
                                  dynamic_shapes={"state": {0: batch}})
    mod = from_exported_program(program)
    tvmscript.assert_structural_equal(tvmscript.from_source(mod.script(show_meta=True)), mod)


def _line_of(text: str, fn) -> int:
    lines, start = inspect.getsourcelines(fn)
    return start + next(i for i, line in enumerate(lines) if text in line)


class Unknown(nn.Module):
    def forward(self, x):
        y = torch.relu(x)
        return torch.topk(y, 2).values  # not in the operator table


def test_unknown_operator_names_operator_node_and_line():
    program = torch.export.export(Unknown(), (randn(3, 4),))
    with pytest.raises(UnsupportedOperatorError) as info:
        from_exported_program(program)
    message = str(info.value)
    assert message.startswith("the ATen operator aten.topk.default is not supported "
                              "(graph node 'topk')")
    assert f"{__file__}:{_line_of('torch.topk', Unknown.forward)} (in forward)" in message
    assert "return torch.topk(y, 2).values" in message
    assert "supported ATen operators: " in message and " conv2d, " in message


def test_operator_the_library_lacks(monkeypatch):
    """A converter whose library operator is missing makes its ATen operator unsupported
    (and torch cannot decompose relu further)."""
    monkeypatch.setitem(torch_frontend._NEEDS, "aten.relu", ("nn.not_there",))
    program = torch.export.export(Lambda(lambda m, x: torch.relu(x) + 1), (randn(3, 4),))
    with pytest.raises(UnsupportedOperatorError) as info:
        from_exported_program(program)
    assert str(info.value).startswith(
        "the ATen operator aten.relu.default is not supported (graph node 'relu'): it needs "
        "R.nn.not_there, which the operator library does not have")
    assert " relu," not in str(info.value)  # not among the supported operators


def test_unknown_operator_without_decomposition():
    program = torch.export.export(Lambda(lambda m, x: F.mish(x)), (randn(3, 4),))
    with pytest.raises(UnsupportedOperatorError, match=r"aten\.mish\.default"):
        torch_frontend.from_exported_program(program, decompose=False)


def test_training_mode_is_refused():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)).train()
    program = torch.export.export(model, (randn(2, 3, 5, 5),))
    with pytest.raises(TorchImportError, match="model.eval()"):
        from_exported_program(program)


def test_not_an_exported_program():
    with pytest.raises(TypeError, match=r"torch\.export\.ExportedProgram .*got Linear"):
        from_exported_program(nn.Linear(2, 2))
