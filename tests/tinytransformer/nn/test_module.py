"""Module trees, saving/loading parameters, and the basic layers (tinytransformer.nn).

Gradients of the layers are checked against finite differences in float64.
"""
import math

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import tinytensor as tt
import tinytransformer
from tinytensor import gradcheck
from tinytransformer import (Dropout, Embedding, FeedForward, LayerNorm, Linear, Module,
                             ModuleList, Parameter, Sequential, xavier_uniform_)


class Block(Module):
    def __init__(self, d):
        self.linear1 = Linear(d, 2 * d)
        self.linear2 = Linear(2 * d, d)
        self.norm = LayerNorm(d)
        self.dropout = Dropout(0.5)

    def forward(self, x):
        return self.norm(x + self.dropout(self.linear2(tt.relu(self.linear1(x)))))


class Tiny(Module):
    """Embedding -> two Blocks -> output layer, whose weight is the embedding's when tied."""

    def __init__(self, vocab=7, d=4, tie=True):
        self.embed = Embedding(vocab, d)
        self.layers = ModuleList([Block(d), Block(d)])
        self.out = Linear(d, vocab, bias=False)
        if tie:
            self.out.weight = self.embed.weight

    def forward(self, ids):
        x = self.embed(ids)
        for layer in self.layers:
            x = layer(x)
        return self.out(x)


IDS = tt.tensor([[1, 2, 3], [4, 5, 6]])
BLOCK_NAMES = ["linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias",
               "norm.weight", "norm.bias"]


def to_float64(module):
    """Finite differences need float64 parameters."""
    for p in module.parameters():
        p.data = p.data.astype("float64")
    return module


def randn64(*shape, seed=0, requires_grad=True):
    values = np.random.default_rng(seed).standard_normal(shape)
    return tt.tensor(values, requires_grad=requires_grad)


# -- the tree ------------------------------------------------------------------------
def test_named_parameters_use_dotted_names_through_module_lists():
    names = [name for name, _ in Tiny(tie=False).named_parameters()]
    expected = (["embed.weight"]
                + [f"layers.{i}.{n}" for i in (0, 1) for n in BLOCK_NAMES]
                + ["out.weight"])
    assert names == expected


def test_a_shared_parameter_is_counted_once():
    tied, untied = Tiny(tie=True), Tiny(tie=False)
    names = [name for name, _ in tied.named_parameters()]
    assert "out.weight" not in names and names.count("embed.weight") == 1
    assert len(list(tied.parameters())) == len(list(untied.parameters())) - 1
    assert tied.num_parameters() == untied.num_parameters() - 7 * 4
    assert tied.out.weight is tied.embed.weight


def test_children_and_named_modules():
    model = Tiny()
    assert list(model.children()) == [model.embed, model.layers, model.out]
    assert list(model.layers.children()) == [model.layers[0], model.layers[1]]
    names = [name for name, _ in model.named_modules()]
    assert names[:4] == ["", "embed", "layers", "layers.0"]
    assert "layers.1.norm" in names and names[-1] == "out"


def test_train_and_eval_reach_every_module_and_switch_dropout():
    model = Tiny()
    dropout = model.layers[1].dropout
    x = tt.ones(200, 4)
    model.eval()
    assert all(not m.training for m in model.modules())
    assert_array_equal(dropout(x).numpy(), x.numpy())
    model.train()
    assert all(m.training for m in model.modules())
    y = dropout(x).numpy()
    assert 0.3 < (y == 0).mean() < 0.7                 # about p = 0.5 of them dropped
    assert_allclose(y[y != 0], 2.0)                    # the rest scaled by 1 / (1 - p)
    assert model.eval() is model and model.train() is model


def test_zero_grad_clears_every_gradient():
    model = Tiny()
    model(IDS).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_repr_prints_the_tree():
    text = repr(Tiny())
    assert text.startswith("Tiny(\n  (embed): Embedding(7, 4)\n  (layers): ModuleList(\n")
    assert ("    (0): Block(\n"
            "      (linear1): Linear(in_features=4, out_features=8, bias=True)") in text
    assert "      (dropout): Dropout(p=0.5)" in text
    assert "  (out): Linear(in_features=4, out_features=7, bias=False)\n)" in text


def test_sequential_applies_modules_in_order():
    tt.manual_seed(0)
    first, second = Linear(3, 5), Linear(5, 2)
    model = Sequential(first, FeedForward(5, 4, dropout=0.0), second)
    x = tt.randn(2, 3)
    assert_allclose(model(x).numpy(), second(model[1](first(x))).numpy())
    assert [n for n, _ in model.named_parameters()][:2] == ["0.weight", "0.bias"]


# -- saving and loading ----------------------------------------------------------------
def test_state_dict_round_trip_gives_identical_outputs():
    tt.manual_seed(0)
    source = Tiny().eval()
    tt.manual_seed(1)
    target = Tiny().eval()
    assert not np.allclose(source(IDS).numpy(), target(IDS).numpy())
    ids_before = [id(p) for p in target.parameters()]
    state = source.state_dict()
    assert list(state) == [name for name, _ in source.named_parameters()]
    assert all(isinstance(v, np.ndarray) for v in state.values())
    assert target.load_state_dict(state) == ([], [])
    assert_array_equal(source(IDS).numpy(), target(IDS).numpy())
    assert [id(p) for p in target.parameters()] == ids_before   # optimizers keep working


def test_state_dict_holds_copies():
    model = Tiny()
    state = model.state_dict()
    state["embed.weight"][:] = 42.0
    assert not np.any(model.embed.weight.numpy() == 42.0)


def test_load_state_dict_strict_errors_name_the_keys():
    model = Tiny()
    state = model.state_dict()
    del state["layers.1.norm.bias"]
    with pytest.raises(RuntimeError, match=r"missing keys \['layers.1.norm.bias'\]"):
        model.load_state_dict(state)
    state = model.state_dict()
    state["layers.2.linear1.weight"] = np.zeros((8, 4))
    with pytest.raises(RuntimeError, match=r"unexpected keys \['layers.2.linear1.weight'\]"):
        model.load_state_dict(state)


def test_load_state_dict_shape_mismatch_names_key_and_both_shapes():
    model = Tiny()
    state = model.state_dict()
    state["layers.0.linear1.weight"] = np.zeros((3, 3), dtype=np.float32)
    state["layers.0.norm.weight"] = np.full(state["layers.0.norm.weight"].shape, 7.0, np.float32)
    before = {name: p.numpy().copy() for name, p in model.named_parameters()}
    with pytest.raises(ValueError, match=r"layers\.0\.linear1\.weight.*\(3, 3\).*\(8, 4\)"):
        model.load_state_dict(state)
    for name, p in model.named_parameters():   # nothing was half-loaded
        np.testing.assert_array_equal(p.numpy(), before[name])


def test_load_state_dict_non_strict_returns_missing_and_unexpected():
    tt.manual_seed(0)
    source = Tiny()
    tt.manual_seed(1)
    target = Tiny()
    state = source.state_dict()
    del state["layers.0.norm.weight"]
    state["extra.thing"] = np.zeros(2)
    missing, unexpected = target.load_state_dict(state, strict=False)
    assert missing == ["layers.0.norm.weight"] and unexpected == ["extra.thing"]
    assert_array_equal(target.embed.weight.numpy(), source.embed.weight.numpy())


def test_to_cpu_keeps_parameter_identity():
    model = Tiny()
    before = list(model.parameters())
    model(IDS).sum().backward()
    assert model.to("cpu") is model
    after = list(model.parameters())
    assert all(a is b for a, b in zip(before, after)) and len(before) == len(after)
    assert all(p.device == "cpu" and p.grad.device == "cpu" for p in after)
    with pytest.raises(ValueError, match="unknown device"):
        model.to("tpu")


# -- gradient checks (float64) -----------------------------------------------------------
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("shape", [(2, 3), (2, 2, 3)], ids=["2d", "3d"])
def test_linear_gradients(bias, shape):
    tt.manual_seed(0)
    layer = to_float64(Linear(3, 2, bias=bias))
    x = randn64(*shape)
    params = list(layer.parameters())
    assert len(params) == (2 if bias else 1)
    assert gradcheck(lambda x, *ps: layer(x), [x, *params])
    assert layer(x).shape == shape[:-1] + (2,)


def test_linear_matches_its_formula_and_checks_input_size():
    tt.manual_seed(0)
    layer = Linear(3, 2)
    x = tt.randn(4, 3)
    expected = x.numpy() @ layer.weight.numpy().T + layer.bias.numpy()
    assert_allclose(layer(x).numpy(), expected, rtol=1e-6)
    with pytest.raises(ValueError, match="last dimension is 5, expected 3"):
        layer(tt.randn(4, 5))


def test_embedding_gradient_with_repeated_ids():
    tt.manual_seed(0)
    emb = to_float64(Embedding(5, 3))
    ids = tt.tensor([[1, 3, 1], [0, 3, 3]])
    assert gradcheck(lambda w: emb(ids), [emb.weight])
    upstream = np.random.default_rng(0).standard_normal((2, 3, 3))
    emb(ids).backward(tt.tensor(upstream))
    grad = emb.weight.grad.numpy()
    assert_allclose(grad[1], upstream[0, 0] + upstream[0, 2])               # id 1 twice
    assert_allclose(grad[3], upstream[0, 1] + upstream[1, 1] + upstream[1, 2])  # id 3 three times
    assert_allclose(grad[[2, 4]], 0.0)                                    # never looked up


def test_embedding_padding_row_is_zero_and_gets_no_gradient():
    tt.manual_seed(0)
    emb = to_float64(Embedding(5, 3, padding_idx=0))
    assert_array_equal(emb.weight.numpy()[0], 0.0)
    ids = tt.tensor([[0, 2, 0], [4, 0, 2]])
    out = emb(ids)
    assert_array_equal(out.numpy()[ids.numpy() == 0], 0.0)
    assert_array_equal(out.numpy()[0, 1], emb.weight.numpy()[2])
    # As torch.nn.Embedding: the padding row is read as it is, but gets no gradient (so
    # finite differences only agree where no padding id is read).
    assert gradcheck(lambda w: emb(tt.tensor([[1, 2], [4, 4]])), [emb.weight])
    out.backward(tt.tensor(np.random.default_rng(1).standard_normal(out.shape)))
    assert_array_equal(emb.weight.grad.numpy()[0], 0.0)
    assert np.all(emb.weight.grad.numpy()[2] != 0.0)


def test_layer_norm_gradients_and_output():
    norm = to_float64(LayerNorm(4))
    norm.weight.data = randn64(4, seed=1).data
    norm.bias.data = randn64(4, seed=2).data
    x = randn64(2, 3, 4)
    assert gradcheck(lambda x, w, b: norm(x), [x, norm.weight, norm.bias])
    plain = to_float64(LayerNorm(4))(x).numpy()
    assert_allclose(plain.mean(axis=-1), 0.0, atol=1e-12)
    variance = x.numpy().var(axis=-1)
    assert_allclose(plain.var(axis=-1), variance / (variance + 1e-5))  # eps=1e-5 as in PyTorch


def test_feed_forward_gradients():
    tt.manual_seed(0)
    ffn = to_float64(FeedForward(3, 5, dropout=0.0))
    x = randn64(2, 2, 3)
    params = list(ffn.parameters())
    assert len(params) == 4
    assert gradcheck(lambda x, *ps: ffn(x), [x, *params])


# -- initialisation ------------------------------------------------------------------------
def test_xavier_uniform_bounds_and_statistics():
    tt.manual_seed(0)
    fan_out, fan_in = 200, 300
    p = xavier_uniform_(Parameter(tt.zeros(fan_out, fan_in)))
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    values = p.numpy()
    assert np.abs(values).max() <= bound
    assert np.abs(values).max() > 0.99 * bound          # the whole range is used
    assert abs(values.mean()) < 1e-3                    # 4 standard errors at n = 60000
    assert values.var() == pytest.approx(bound ** 2 / 3, rel=0.02)   # uniform's variance
    scaled = xavier_uniform_(Parameter(tt.zeros(fan_out, fan_in)), gain=2.0).numpy()
    assert np.abs(scaled).max() <= 2 * bound and np.abs(scaled).max() > 1.98 * bound


def test_default_initialisations():
    tt.manual_seed(0)
    layer = Linear(100, 50)
    bound = 1 / math.sqrt(100)
    assert np.abs(layer.weight.numpy()).max() <= bound
    assert np.abs(layer.bias.numpy()).max() <= bound
    emb = Embedding(1000, 32).weight.numpy()
    assert abs(emb.mean()) < 0.02 and emb.std() == pytest.approx(1.0, rel=0.02)
    assert layer.weight.dtype == tt.float32 and layer.weight.requires_grad


def test_seeding_makes_initialisation_reproducible():
    tt.manual_seed(123)
    first = Tiny().state_dict()
    tt.manual_seed(123)
    second = Tiny().state_dict()
    tt.manual_seed(124)
    third = Tiny().state_dict()
    for name in first:
        assert_array_equal(first[name], second[name])
    assert not np.array_equal(first["embed.weight"], third["embed.weight"])


def test_embedding_accepts_list_ids_and_a_negative_padding_idx():
    tt.manual_seed(0)
    emb = tinytransformer.Embedding(5, 3, padding_idx=-1)
    assert emb.padding_idx == 4
    out = emb([[0, 4], [4, 2]])
    np.testing.assert_array_equal(out.numpy()[0, 1], 0)
    out.sum().backward()
    np.testing.assert_array_equal(emb.weight.grad.numpy()[4], 0)
    assert np.all(emb.weight.grad.numpy()[[0, 2]] == 1)


def test_a_shared_module_is_listed_once():
    shared = tinytransformer.Linear(2, 2)
    model = tinytransformer.Sequential(shared, tinytransformer.ReLU(), shared)
    assert [name for name, _ in model.named_modules()] == ["", "0", "1"]
    assert len(list(model.parameters())) == 2


def test_evaluating_restores_the_mode_even_after_an_error():
    model = tinytransformer.Sequential(Linear(2, 2), Dropout(0.5))
    with tinytransformer.evaluating(model):
        assert not model.training and not model[1].training
    assert model.training and model[1].training
    model.eval()
    with pytest.raises(ZeroDivisionError):
        with tinytransformer.evaluating(model):
            1 / 0
    assert not model.training
    model.train()
    with pytest.raises(ZeroDivisionError):
        with tinytransformer.evaluating(model):
            1 / 0
    assert model.training


def test_zero_row_clears_one_row_in_place_and_keeps_the_parameter():
    tt.manual_seed(0)
    p = tt.Parameter(tt.randn(4, 3))
    before = p.numpy().copy()
    same = tinytransformer.nn.zero_row_(p, 2)
    assert same is p
    after = p.numpy()
    assert (after[2] == 0).all()
    np.testing.assert_array_equal(np.delete(after, 2, axis=0), np.delete(before, 2, axis=0))
