"""Buffers, ModuleDict, apply/requires_grad_, Embedding.from_pretrained, the
activation and loss modules, gradient clipping and MultiHeadAttention's masks
(tinytransformer.nn as torch.nn), with the errors they give."""
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import tinytensor as tt
import tinytensor.nn.functional as F
from tinytransformer import nn


class WithBuffers(nn.Module):
    def __init__(self):
        self.lin = nn.Linear(2, 2)
        self.register_buffer("mean", tt.zeros(2))
        self.register_buffer("table", tt.ones(3), persistent=False)
        self.register_buffer("nothing", None)


def test_buffers_are_saved_moved_and_loaded_but_not_trained():
    net = WithBuffers()
    assert [name for name, _ in net.named_buffers()] == ["mean", "table"]   # None is skipped
    assert all(b is not p for b in net.buffers() for p in net.parameters())
    state = net.state_dict()
    assert list(state) == ["lin.weight", "lin.bias", "mean"]         # table: persistent=False
    state["mean"] = np.array([1.0, 2.0])
    before = net.mean
    net.load_state_dict(state)
    assert net.mean is before and net.mean.tolist() == [1.0, 2.0]
    net.double()
    assert net.mean.dtype == net.table.dtype == tt.float64
    net.mean = tt.full((2,), 5.0)                                     # assigning replaces it
    assert net.state_dict()["mean"].tolist() == [5.0, 5.0]
    with pytest.raises(RuntimeError, match=r"missing keys \['mean'\]"):
        net.load_state_dict({"lin.weight": state["lin.weight"], "lin.bias": state["lin.bias"]})


def test_register_buffer_errors_name_the_problem():
    net = WithBuffers()
    with pytest.raises(KeyError, match="attribute 'lin' already exists"):
        net.register_buffer("lin", tt.zeros(1))
    with pytest.raises(KeyError, match="without '.'"):
        net.register_buffer("a.b", tt.zeros(1))
    with pytest.raises(TypeError, match="must be a Tensor"):
        net.register_buffer("x", np.zeros(2))
    with pytest.raises(TypeError, match="not a Parameter"):
        net.register_buffer("x", tt.Parameter(tt.zeros(2)))


def test_positional_table_is_a_non_persistent_buffer_so_old_checkpoints_load():
    pe = nn.PositionalEncoding(6, max_len=10)
    assert [name for name, _ in pe.named_buffers()] == ["table"]
    assert pe.state_dict() == {}                     # as before: checkpoints never held it
    pe.load_state_dict({})
    assert pe.double().table.dtype == tt.float64


def test_module_dict_apply_requires_grad_and_zero_grad():
    blocks = nn.ModuleDict({"a": nn.Linear(2, 2)})
    blocks["b"] = nn.Identity(3, unused=True)
    assert list(blocks) == ["a", "b"] and "a" in blocks and len(blocks) == 2
    assert [name for name, _ in blocks.named_parameters()] == ["a.weight", "a.bias"]
    with pytest.raises(TypeError, match="ModuleDict: 'c' must be a Module"):
        blocks["c"] = tt.zeros(1)
    order = []
    blocks.apply(lambda m: order.append(type(m).__name__))
    assert order == ["Linear", "Identity", "ModuleDict"]              # children first, as torch
    assert next(blocks.parameters()) is blocks["a"].weight           # an iterator, as torch
    blocks.requires_grad_(False)
    assert not any(p.requires_grad for p in blocks.parameters())
    blocks.requires_grad_()
    (blocks["a"](tt.ones(1, 2))).sum().backward()
    blocks.zero_grad(set_to_none=False)
    assert not blocks["a"].weight.grad.numpy().any()
    blocks.zero_grad()
    assert blocks["a"].weight.grad is None


def test_embedding_from_pretrained_padding_row_is_read_and_frozen_like_torch():
    weights = tt.tensor(np.arange(8.0).reshape(4, 2))
    emb = nn.Embedding.from_pretrained(weights, freeze=False, padding_idx=1)
    out = emb([1, 2, 1])
    assert_array_equal(out.numpy(), [[2, 3], [4, 5], [2, 3]])       # the padding row as it is
    out.sum().backward()
    assert_array_equal(emb.weight.grad.numpy(), [[0, 0], [0, 0], [1, 1], [0, 0]])
    with pytest.raises(ValueError, match="embeddings must be 2-D"):
        nn.Embedding.from_pretrained(tt.zeros(3))
    torch = pytest.importorskip("torch")
    theirs = torch.nn.Embedding.from_pretrained(torch.arange(8.0).reshape(4, 2), freeze=False,
                                                padding_idx=1)
    theirs(torch.tensor([1, 2, 1])).sum().backward()
    assert_array_equal(emb.weight.grad.numpy(), theirs.weight.grad.numpy())


def test_loss_modules_and_activations_equal_their_functions():
    logits, target = tt.randn(4, 3, 2), tt.tensor([[0, 2], [1, 1], [2, 0], [1, 2]])
    weight = tt.tensor([0.5, 1.0, 2.0])
    assert_allclose(nn.CrossEntropyLoss(weight, ignore_index=2, reduction="sum")(logits, target)
                    .numpy(), F.cross_entropy(logits, target, weight, ignore_index=2,
                                              reduction="sum").numpy())
    log_p = logits.log_softmax(dim=1)
    assert_allclose(nn.NLLLoss(weight)(log_p, target).numpy(),
                    F.nll_loss(log_p, target, weight).numpy())
    x, y = tt.randn(3, 4), tt.rand(3, 4)
    assert_allclose(nn.L1Loss(reduction="none")(x, y).numpy(), (x - y).abs().numpy())
    assert_allclose(nn.BCELoss()(x.sigmoid(), y).numpy(),
                    F.binary_cross_entropy(x.sigmoid(), y).numpy())
    pos_weight = tt.tensor([1.0, 2.0, 3.0, 4.0])
    loss = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    assert [name for name, _ in loss.named_buffers()] == ["pos_weight"]
    assert_allclose(loss(x, y).numpy(),
                    F.binary_cross_entropy_with_logits(x, y, pos_weight=pos_weight).numpy())
    assert_allclose(nn.GELU("tanh")(x).numpy(), F.gelu(x, approximate="tanh").numpy())
    assert_allclose(nn.LogSoftmax(dim=1)(x).numpy(), x.log_softmax(dim=1).numpy())
    with pytest.raises(ValueError, match=r"Dropout: p must be in \[0, 1\]"):
        nn.Dropout(1.5)


def test_layer_norm_over_two_dims_and_without_affine():
    x = tt.randn(2, 3, 4)
    norm = nn.LayerNorm([3, 4])
    assert norm.weight.shape == (3, 4) and norm.normalized_shape == (3, 4)
    assert_allclose(norm(x).numpy().reshape(2, -1).mean(-1), 0.0, atol=1e-6)
    plain = nn.LayerNorm(4, elementwise_affine=False)
    assert plain.weight is None and plain.bias is None and list(plain.parameters()) == []
    assert_allclose(plain(x).numpy(), F.layer_norm(x, (4,)).numpy())
    assert nn.LayerNorm(4, bias=False).bias is None


def test_clip_grad_value_and_where_the_clipping_functions_live():
    from tinytransformer import optim
    assert optim.clip_grad_norm_ is nn.utils.clip_grad_norm_
    assert optim.clip_grad_value_ is nn.utils.clip_grad_value_
    p = tt.Parameter(tt.zeros(3))
    p.grad = tt.tensor([-3.0, 0.2, 5.0])
    assert nn.utils.clip_grad_value_([p], 1.0) is None
    assert p.grad.tolist() == pytest.approx([-1.0, 0.2, 1.0])


# -- MultiHeadAttention's masks, as torch.nn.MultiheadAttention -----------------------
def test_multi_head_attention_float_masks_and_seq_first_match_torch():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    theirs = torch.nn.MultiheadAttention(8, 2, dtype=torch.float64)       # batch_first=False
    ours = nn.MultiHeadAttention(8, 2, batch_first=False).double()
    w = theirs.in_proj_weight.detach().numpy()
    state = {f"{n}_proj.weight": w[i * 8:(i + 1) * 8] for i, n in enumerate("qkv")}
    state.update({f"{n}_proj.bias": np.zeros(8) for n in "qkv"})
    state["out_proj.weight"] = theirs.out_proj.weight.detach().numpy()
    state["out_proj.bias"] = np.zeros(8)
    ours.load_state_dict(state)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 3, 8))                                    # (L, B, E)
    bias = rng.standard_normal((5, 5))
    padding = np.zeros((3, 5))
    padding[1, -2:] = -np.inf                                             # float key padding
    out_ref, w_ref = theirs(*(torch.from_numpy(x),) * 3, attn_mask=torch.from_numpy(bias),
                            key_padding_mask=torch.from_numpy(padding))
    out, weights = ours(*(tt.tensor(x),) * 3, attn_mask=bias, key_padding_mask=padding)
    assert out.shape == (5, 3, 8) and weights.shape == (3, 5, 5)
    assert_allclose(out.numpy(), out_ref.detach().numpy(), rtol=1e-8, atol=1e-10)
    assert_allclose(weights.numpy(), w_ref.detach().numpy(), rtol=1e-8, atol=1e-10)


def test_multi_head_attention_float_attn_mask_gets_a_gradient():
    mha = nn.MultiHeadAttention(4, 2).double()
    x = tt.tensor(np.random.default_rng(1).standard_normal((2, 3, 4)))
    bias = tt.tensor(np.random.default_rng(2).standard_normal((3, 3)), requires_grad=True)
    assert tt.gradcheck(lambda b: mha(x, x, x, attn_mask=b, need_weights=False)[0], [bias])


def test_multi_head_attention_errors():
    mha = nn.MultiHeadAttention(4, 2)
    with pytest.raises(ValueError, match="d_model=5 is not divisible by n_heads=2"):
        nn.MultiHeadAttention(5, 2)
    with pytest.raises(ValueError, match=r"MultiHeadAttention\(d_model=4\): got query"):
        mha(tt.zeros(1, 2, 3), tt.zeros(1, 2, 3), tt.zeros(1, 2, 3))
