"""tinytransformer.nn and .optim follow torch.nn and torch.optim: the same names,
defaults and return types, checked against torch itself where it is installed."""
import numpy as np
import pytest

import tinytensor as tt
import tinytransformer
from tinytransformer import nn, optim


def test_dropout_defaults_to_half_as_torch():
    assert nn.Dropout().p == 0.5
    torch = pytest.importorskip("torch")
    assert torch.nn.Dropout().p == nn.Dropout().p


def test_multi_head_attention_returns_output_and_weights():
    tt.manual_seed(0)
    mha = nn.MultiHeadAttention(8, 2)
    x = tt.randn(2, 5, 8)
    out, weights = mha(x, x, x)
    assert out.shape == (2, 5, 8) and weights.shape == (2, 5, 5)          # averaged over heads
    np.testing.assert_allclose(weights.numpy().sum(-1), 1.0, rtol=1e-5)
    out2, per_head = mha(x, x, x, need_weights=True, average_attn_weights=False)
    assert per_head.shape == (2, 2, 5, 5)
    np.testing.assert_allclose(per_head.numpy().mean(1), weights.numpy(), rtol=1e-5)
    out3, none = mha(x, x, x, need_weights=False)
    assert none is None
    np.testing.assert_allclose(out3.numpy(), out.numpy(), rtol=1e-5)
    pad = np.zeros((2, 5), dtype=bool)
    pad[:, -1] = True
    _, w = mha(x, x, x, key_padding_mask=pad)
    assert np.all(w.numpy()[:, :, -1] == 0)
    _, w = mha(x, x, x, is_causal=True, attn_mask=nn.causal_mask(5) == False)  # noqa: E712
    assert np.all(np.triu(w.numpy()[0], 1) == 0)


def test_register_buffer_apply_modules_children_moduledict():
    class Net(nn.Module):
        def __init__(self):
            self.lin = nn.Linear(3, 2)
            self.blocks = nn.ModuleDict({"a": nn.Linear(2, 2), "b": nn.Identity()})
            self.register_buffer("running", tt.zeros(2))

    net = Net()
    state = net.state_dict()
    assert "running" in state and "blocks.a.weight" in state
    assert [name for name, _ in net.named_children()] == ["lin", "blocks"]
    assert len(list(net.modules())) == 5
    seen = []
    assert net.apply(lambda m: seen.append(type(m).__name__)) is net
    assert set(seen) == {"Net", "Linear", "ModuleDict", "Identity"}
    net.double()
    assert net.running.dtype == tt.float64
    assert net.requires_grad_(False) is net and not net.lin.weight.requires_grad
    assert list(net.blocks.keys()) == ["a", "b"] and isinstance(net.blocks["b"], nn.Identity)
    x = tt.randn(2, 2)
    assert net.blocks["b"](x) is x


def test_embedding_from_pretrained_and_activation_and_loss_modules():
    weights = tt.tensor(np.arange(6.0).reshape(3, 2))
    emb = nn.Embedding.from_pretrained(weights)
    assert not emb.weight.requires_grad
    np.testing.assert_array_equal(emb(np.array([2, 0])).numpy(), [[4, 5], [0, 1]])
    assert nn.Embedding.from_pretrained(weights, freeze=False).weight.requires_grad
    x = tt.tensor([-1.0, 0.5, 2.0])
    for module, fn in [(nn.ReLU(), tt.relu), (nn.Tanh(), tt.tanh), (nn.Sigmoid(), tt.sigmoid),
                       (nn.GELU(), tt.nn.functional.gelu)]:
        np.testing.assert_allclose(module(x).numpy(), fn(x).numpy())
    np.testing.assert_allclose(nn.Softmax(dim=-1)(x).numpy(), x.softmax(dim=-1).numpy())
    logits, target = tt.randn(4, 3), tt.tensor([0, 2, 1, 1])
    np.testing.assert_allclose(nn.CrossEntropyLoss(label_smoothing=0.1)(logits, target).numpy(),
                               tt.nn.functional.cross_entropy(logits, target, label_smoothing=0.1).numpy())
    np.testing.assert_allclose(nn.MSELoss()(x, x * 2).numpy(), ((x - x * 2) ** 2).mean().numpy())
    np.testing.assert_allclose(nn.BCEWithLogitsLoss()(x, tt.tensor([0.0, 1.0, 1.0])).numpy(),
                               tt.nn.functional.binary_cross_entropy_with_logits(
                                   x, tt.tensor([0.0, 1.0, 1.0])).numpy())


def test_zero_grad_set_to_none_and_clip_grad_value():
    lin = nn.Linear(2, 2)
    opt = optim.SGD(lin.parameters(), lr=0.1)
    (lin(tt.ones(1, 2)) * 100).sum().backward()
    optim.clip_grad_value_(lin.parameters(), 0.5) if hasattr(optim, "clip_grad_value_") else \
        nn.utils.clip_grad_value_(lin.parameters(), 0.5)
    assert np.abs(lin.weight.grad.numpy()).max() <= 0.5
    opt.zero_grad(set_to_none=False)
    assert lin.weight.grad is not None and not lin.weight.grad.numpy().any()
    opt.zero_grad()
    assert lin.weight.grad is None


@pytest.mark.parametrize("make", [
    lambda lib, o: lib.optim.lr_scheduler.LambdaLR(o, lambda step: 0.9 ** step),
    lambda lib, o: lib.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5),
    lambda lib, o: lib.optim.lr_scheduler.CosineAnnealingLR(o, T_max=7, eta_min=0.01),
    lambda lib, o: lib.optim.lr_scheduler.LinearLR(o, start_factor=0.25, total_iters=4),
    lambda lib, o: lib.optim.lr_scheduler.SequentialLR(
        o, [lib.optim.lr_scheduler.LinearLR(o, start_factor=0.5, total_iters=3),
            lib.optim.lr_scheduler.StepLR(o, step_size=2, gamma=0.5)], milestones=[3]),
], ids=["LambdaLR", "StepLR", "CosineAnnealingLR", "LinearLR", "SequentialLR"])
def test_lr_schedulers_follow_torch(make):
    torch = pytest.importorskip("torch")
    ours_p, theirs_p = [tt.Parameter(tt.zeros(1))], [torch.nn.Parameter(torch.zeros(1))]
    ours_o = tinytransformer.optim.SGD(ours_p, lr=0.2)
    theirs_o = torch.optim.SGD(theirs_p, lr=0.2)
    ours_s, theirs_s = make(tinytransformer, ours_o), make(torch, theirs_o)
    for _ in range(10):
        assert ours_o.param_groups[0]["lr"] == pytest.approx(theirs_o.param_groups[0]["lr"], rel=1e-12)
        assert ours_s.get_last_lr()[0] == pytest.approx(theirs_s.get_last_lr()[0], rel=1e-12)
        ours_o.step()
        theirs_o.step()
        ours_s.step()
        theirs_s.step()
