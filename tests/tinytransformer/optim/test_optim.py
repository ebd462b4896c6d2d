"""Optimizers, gradient clipping and learning-rate schedules (tinytransformer.optim, .schedule).

Each optimizer is checked step by step against a NumPy transcription of
PyTorch's update formulas, on a small quadratic in float64.
"""
import io
import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

import tinytensor as tt
from tinytransformer.optim import SGD, Adam, AdamW, Optimizer, clip_grad_norm_
from tinytransformer.optim.lr_scheduler import NoamSchedule, WarmupCosine, WarmupLinear

# loss(p) = sum(0.5 * A * (p - C)^2), so grad(p) = A * (p - C): different
# curvature per element, so a wrong per-element formula shows.
A = np.array([[1.0, 3.0, 0.5], [2.0, 0.2, 1.5]])
C = np.array([[0.5, -1.0, 2.0], [0.0, 1.0, -0.5]])
P0 = np.array([[1.0, 2.0, -1.0], [0.3, -0.7, 0.9]])


def quadratic(p):
    return (0.5 * tt.tensor(A) * (p - tt.tensor(C)) ** 2).sum()


def quadratic_grad(p):
    return A * (p - C)


def run_tinytransformer(make_optimizer, steps):
    p = tt.Parameter(tt.tensor(P0.copy()))
    optimizer = make_optimizer([p])
    trajectory = []
    for _ in range(steps):
        optimizer.zero_grad()
        quadratic(p).backward()
        optimizer.step()
        trajectory.append(p.numpy().copy())
    return trajectory


# -- PyTorch's formulas, transcribed in NumPy (torch/optim/sgd.py, adam.py, adamw.py) -----
def reference_sgd(steps, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    p, buf, trajectory = P0.copy(), None, []
    for _ in range(steps):
        d_p = quadratic_grad(p)
        if weight_decay != 0:
            d_p = d_p + weight_decay * p
        if momentum != 0:
            if buf is None:
                buf = d_p.copy()
            else:
                buf = momentum * buf + (1 - dampening) * d_p
            d_p = d_p + momentum * buf if nesterov else buf
        p = p - lr * d_p
        trajectory.append(p.copy())
    return trajectory


def reference_adam(steps, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                   decoupled=False):
    beta1, beta2 = betas
    p, trajectory = P0.copy(), []
    exp_avg, exp_avg_sq = np.zeros_like(p), np.zeros_like(p)
    for step in range(1, steps + 1):
        grad = quadratic_grad(p)
        if weight_decay != 0:
            if decoupled:
                p = p * (1 - lr * weight_decay)
            else:
                grad = grad + weight_decay * p
        exp_avg = beta1 * exp_avg + (1 - beta1) * grad
        exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * grad * grad
        bias_correction1 = 1 - beta1 ** step
        bias_correction2 = 1 - beta2 ** step
        step_size = lr / bias_correction1
        denom = np.sqrt(exp_avg_sq) / math.sqrt(bias_correction2) + eps
        p = p - step_size * exp_avg / denom
        trajectory.append(p.copy())
    return trajectory


STEPS = 6


@pytest.mark.parametrize("kwargs", [
    dict(lr=0.1),
    dict(lr=0.1, momentum=0.9),
    dict(lr=0.1, momentum=0.9, dampening=0.3),
    dict(lr=0.05, momentum=0.8, nesterov=True),
    dict(lr=0.1, momentum=0.9, weight_decay=0.1),
    dict(lr=0.1, weight_decay=0.5),
], ids=["plain", "momentum", "dampening", "nesterov", "momentum+wd", "wd"])
def test_sgd_matches_pytorch_formulas(kwargs):
    ours = run_tinytransformer(lambda params: SGD(params, **kwargs), STEPS)
    assert_allclose(ours, reference_sgd(STEPS, **kwargs), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(lr=0.1),
    dict(lr=0.1, betas=(0.8, 0.9), eps=1e-3),
    dict(lr=0.1, weight_decay=0.3),
], ids=["defaults", "lr", "betas+eps", "l2"])
def test_adam_matches_pytorch_formulas(kwargs):
    ours = run_tinytransformer(lambda params: Adam(params, **kwargs), STEPS)
    assert_allclose(ours, reference_adam(STEPS, **kwargs), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kwargs", [dict(lr=0.1), dict(lr=0.1, weight_decay=0.3),
                                    dict(lr=0.05, betas=(0.5, 0.9), weight_decay=0.0)],
                         ids=["default-wd", "wd", "no-wd"])
def test_adamw_matches_pytorch_formulas(kwargs):
    ours = run_tinytransformer(lambda params: AdamW(params, **kwargs), STEPS)
    reference = reference_adam(STEPS, decoupled=True, **{"weight_decay": 1e-2, **kwargs})
    assert_allclose(ours, reference, rtol=1e-10, atol=1e-12)


def test_adamw_decay_differs_from_adam_l2():
    adam = run_tinytransformer(lambda params: Adam(params, lr=0.1, weight_decay=0.3), 3)
    adamw = run_tinytransformer(lambda params: AdamW(params, lr=0.1, weight_decay=0.3), 3)
    assert not np.allclose(adam[-1], adamw[-1])


@pytest.mark.parametrize("make_optimizer", [
    lambda params: SGD(params, lr=0.1, momentum=0.9),
    lambda params: Adam(params, lr=0.1),
], ids=["sgd-momentum", "adam"])
def test_optimizer_minimizes_a_quadratic(make_optimizer):
    p = tt.Parameter(tt.tensor(P0.copy()))
    optimizer = make_optimizer([p])
    # A decaying lr lets Adam settle instead of hovering at a distance ~lr.
    scheduler = WarmupCosine(optimizer, peak_lr=0.1, warmup_steps=5, total_steps=300)
    for _ in range(300):
        optimizer.zero_grad()
        loss = quadratic(p)
        loss.backward()
        optimizer.step()
        scheduler.step()
    assert quadratic(p).item() < 1e-6
    assert_allclose(p.numpy(), C, atol=2e-3)


def test_float32_parameters_stay_float32_and_state_lives_with_them():
    p = tt.Parameter(tt.randn(4, 3))
    optimizer = Adam([p], lr=0.01)
    (p * p).sum().backward()
    optimizer.step()
    assert p.dtype == tt.float32
    state = optimizer.state[p]
    assert state["step"] == 1 and isinstance(state["step"], int)
    for key in ("exp_avg", "exp_avg_sq"):
        assert isinstance(state[key], tt.Tensor)
        assert state[key].dtype == tt.float32 and state[key].device == p.device
        assert not state[key].requires_grad


@pytest.mark.parametrize("make_optimizer", [
    lambda params: SGD(params, lr=0.1, momentum=0.9, weight_decay=0.1),
    lambda params: Adam(params, lr=0.1, weight_decay=0.1),
    lambda params: AdamW(params, lr=0.1),
])
def test_parameters_without_grad_are_skipped(make_optimizer):
    used, unused = tt.Parameter(tt.ones(3)), tt.Parameter(tt.ones(2))
    optimizer = make_optimizer([used, unused])
    before = unused.numpy().copy()
    (used * used).sum().backward()
    assert unused.grad is None
    optimizer.step()
    np.testing.assert_array_equal(unused.numpy(), before)
    assert unused not in optimizer.state
    assert not np.allclose(used.numpy(), 1.0)


def test_step_leaves_no_graph_and_zero_grad_sets_none():
    p = tt.Parameter(tt.ones(3))
    optimizer = Adam([p])
    (p * 2).sum().backward()
    optimizer.step()
    assert p.is_leaf and p.requires_grad and p.grad_fn is None
    optimizer.zero_grad()
    assert p.grad is None


def test_step_with_closure_returns_loss():
    p = tt.Parameter(tt.tensor(P0.copy()))
    optimizer = SGD([p], lr=0.1)

    def closure():
        optimizer.zero_grad()
        loss = quadratic(p)
        loss.backward()
        return loss

    with tt.no_grad():  # the closure must still get a graph
        loss = optimizer.step(closure)
    assert loss.item() == pytest.approx(float((0.5 * A * (P0 - C) ** 2).sum()))
    assert_allclose(p.numpy(), reference_sgd(1, lr=0.1)[0])


def test_param_groups_have_their_own_hyperparameters():
    a, b = tt.Parameter(tt.ones(2)), tt.Parameter(tt.ones(2))
    optimizer = SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1, momentum=0.0)
    assert optimizer.param_groups[0]["lr"] == 0.1 and optimizer.param_groups[1]["lr"] == 0.5
    assert optimizer.param_groups[1]["momentum"] == 0.0  # filled from the defaults
    (a.sum() + b.sum()).backward()
    optimizer.step()
    assert_allclose(a.numpy(), [0.9, 0.9])
    assert_allclose(b.numpy(), [0.5, 0.5])


def test_bad_arguments_give_clear_errors():
    p = tt.Parameter(tt.ones(2))
    with pytest.raises(ValueError, match="empty parameter list"):
        Adam([])
    with pytest.raises(TypeError, match="single Tensor"):
        Adam(p)
    with pytest.raises(ValueError, match="more than once"):
        Adam([p, p])
    with pytest.raises(ValueError, match="lr"):
        SGD([p], lr=-1.0)
    with pytest.raises(ValueError, match="nesterov"):
        SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="betas"):
        Adam([p], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="non-leaf"):
        Adam([p * 2])
    with pytest.raises(TypeError, match="only optimize Tensors"):
        Adam([np.ones(2)])


# -- state_dict / load_state_dict ------------------------------------------------------
@pytest.mark.parametrize("make_optimizer", [
    lambda params: SGD(params, lr=0.1, momentum=0.9, nesterov=True),
    lambda params: Adam(params, lr=0.1, weight_decay=0.01),
    lambda params: AdamW(params, lr=0.1, betas=(0.8, 0.95)),
], ids=["sgd", "adam", "adamw"])
def test_state_dict_round_trip_continues_identically(make_optimizer):
    def train(p, optimizer, steps):
        for _ in range(steps):
            optimizer.zero_grad()
            quadratic(p).backward()
            optimizer.step()

    p1 = tt.Parameter(tt.tensor(P0.copy()))
    first = make_optimizer([p1])
    train(p1, first, 3)
    state = first.state_dict()

    # The saved state is host NumPy, so it survives an .npz file.
    buffer = io.BytesIO()
    flat = {f"{i}.{k}": np.asarray(v) for i, entries in state["state"].items()
            for k, v in entries.items()}
    np.savez(buffer, **flat)
    buffer.seek(0)
    with np.load(buffer) as loaded:
        restored_state = {}
        for name in loaded.files:
            i, k = name.split(".", 1)
            restored_state.setdefault(i, {})[k] = loaded[name]  # string keys, as from JSON

    p2 = tt.Parameter(tt.tensor(p1.numpy().copy()))
    second = make_optimizer([p2])
    second.param_groups[0]["lr"] = 123.0  # must be overwritten by the load
    second.load_state_dict({"state": restored_state, "param_groups": state["param_groups"]})
    assert second.param_groups[0]["lr"] == first.param_groups[0]["lr"]

    train(p1, first, 4)
    train(p2, second, 4)
    np.testing.assert_array_equal(p1.numpy(), p2.numpy())


def test_state_dict_is_a_copy_with_indices_and_hyperparameters():
    a, b = tt.Parameter(tt.ones(2)), tt.Parameter(tt.ones(3))
    optimizer = Adam([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    (a.sum() + b.sum()).backward()
    optimizer.step()
    state = optimizer.state_dict()
    assert [g["params"] for g in state["param_groups"]] == [[0], [1]]
    assert state["param_groups"][1]["lr"] == 0.5
    assert state["param_groups"][0]["betas"] == (0.9, 0.999)
    assert state["state"][1]["step"] == 1
    assert isinstance(state["state"][1]["exp_avg"], np.ndarray)
    saved = state["state"][1]["exp_avg"].copy()
    optimizer.step()
    np.testing.assert_array_equal(state["state"][1]["exp_avg"], saved)


def test_load_state_dict_rejects_a_different_layout():
    a, b = tt.Parameter(tt.ones(2)), tt.Parameter(tt.ones(3))
    source = Adam([a, b])
    (a.sum() + b.sum()).backward()
    source.step()
    state = source.state_dict()
    with pytest.raises(ValueError, match="group 0 has 2 parameters, this optimizer's has 1"):
        Adam([tt.Parameter(tt.ones(2))]).load_state_dict(state)
    with pytest.raises(ValueError, match="parameter groups"):
        Adam([{"params": [tt.Parameter(tt.ones(2))]},
              {"params": [tt.Parameter(tt.ones(3))]}]).load_state_dict(state)
    with pytest.raises(ValueError, match=r"shape \(3,\).*shape \(4,\)"):
        Adam([tt.Parameter(tt.ones(2)), tt.Parameter(tt.ones(4))]).load_state_dict(state)


# -- clip_grad_norm_ ------------------------------------------------------------------
def with_grad(values):
    p = tt.Parameter(tt.zeros(len(values)))
    p.grad = tt.tensor(values)
    return p


def test_clip_grad_norm_scales_to_max_norm_and_returns_the_old_norm():
    a, b, no_grad = with_grad([3.0, 4.0]), with_grad([12.0]), tt.Parameter(tt.ones(2))
    old_grad = a.grad
    total = clip_grad_norm_([a, b, no_grad], max_norm=1.0)
    assert isinstance(total, tt.Tensor) and total.shape == ()      # a 0-d tensor, as torch
    assert float(total) == pytest.approx(13.0)
    scale = 1.0 / (13.0 + 1e-6)
    assert_allclose(a.grad.numpy(), [3 * scale, 4 * scale], rtol=1e-6)
    assert_allclose(b.grad.numpy(), [12 * scale], rtol=1e-6)
    assert no_grad.grad is None
    # Scaled in place, as torch's clip_grad_norm_: the gradient tensor is the same one.
    assert a.grad is old_grad
    torch = pytest.importorskip("torch")
    t, u = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(1))
    t.grad, u.grad = torch.tensor([3.0, 4.0]), torch.tensor([12.0])
    held = t.grad
    torch.nn.utils.clip_grad_norm_([t, u], max_norm=1.0)
    assert t.grad is held
    assert_allclose(a.grad.numpy(), held.numpy(), rtol=1e-6)
    assert_allclose(b.grad.numpy(), u.grad.numpy(), rtol=1e-6)


def _thread_names_of_parts(monkeypatch):
    """The names of the threads backend.run_in_parts runs parts on, from now on in the test."""
    import threading
    from tinytensor import backend
    names, real = set(), backend.run_in_parts

    def spy(size, work, min_part):
        def recorded(start, stop):
            names.add(threading.current_thread().name)
            return work(start, stop)
        return real(size, recorded, min_part)
    monkeypatch.setattr(backend, "run_in_parts", spy)
    return names


def test_foreach_mul_scales_each_tensor_once_in_place_on_the_threads_as_torch(monkeypatch):
    """tt.foreach_mul_ (torch._foreach_mul_): every tensor of the list multiplied
    in place (the same objects, their version counters bumped as by mul_), the
    large ones on two threads, empty ones included; the numbers are mul_'s."""
    rng = np.random.default_rng(0)
    shapes = [(3,), (600, 500), (0,), (700, 400), (5, 2), (0, 3)]
    values = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    tensors = [tt.tensor(v) for v in values]
    versions = [t._version for t in tensors]
    names = _thread_names_of_parts(monkeypatch)
    before = tt.get_num_threads()
    tt.set_num_threads(2)
    try:
        out = tt.foreach_mul_(tensors, 0.3)
    finally:
        tt.set_num_threads(before)
    assert out is tensors and any(n.startswith("tinytensor") for n in names)
    for t, v, version in zip(tensors, values, versions):
        expected = tt.tensor(v).mul_(0.3).numpy()
        assert t.dtype == tt.float32 and t._version == version + 1
        np.testing.assert_array_equal(t.numpy(), expected)
    torch = pytest.importorskip("torch")
    theirs = [torch.from_numpy(v.copy()) for v in values]
    torch._foreach_mul_(theirs, 0.3)
    for t, u in zip(tensors, theirs):
        np.testing.assert_allclose(t.numpy(), u.numpy(), rtol=1e-6)


def test_clip_grad_norm_leaves_small_gradients_alone():
    a = with_grad([0.3, 0.4])
    before = a.grad
    assert float(clip_grad_norm_([a], max_norm=1.0)) == pytest.approx(0.5)
    assert a.grad is before


def test_clip_grad_norm_with_gradient_arrays_shared_between_parameters():
    # Add's backward hands the same gradient to both inputs, so after this
    # backward x.grad and y.grad may share one array; scaling it in place would
    # scale both gradients twice.
    x, y = tt.Parameter(tt.zeros(2)), tt.Parameter(tt.zeros(2))
    (x + y).sum().backward()
    total = clip_grad_norm_([x, y], max_norm=1.0)
    assert float(total) == pytest.approx(2.0)
    expected = np.ones(2) / (2.0 + 1e-6)
    assert_allclose(x.grad.numpy(), expected, rtol=1e-6)
    assert_allclose(y.grad.numpy(), expected, rtol=1e-6)


def test_clip_grad_norm_scales_views_side_by_side_in_place_and_overlapping_ones_once():
    """Gradients that are views of one array, side by side (cat's backward hands
    out such), are scaled in place: the same tensors afterwards, as torch's
    _foreach_mul_ leaves them. Views whose memory overlaps get new tensors, so no
    element is scaled twice."""
    base = np.arange(1.0, 13.0, dtype=np.float32)
    side = [tt.Parameter(tt.zeros(4)) for _ in range(3)]
    shared = tt.tensor(base.copy())
    for i, p in enumerate(side):
        p.grad = shared[4 * i:4 * (i + 1)]
    held = [p.grad for p in side]
    total = clip_grad_norm_(side, max_norm=1.0)
    norm = float(np.linalg.norm(base))
    assert float(total) == pytest.approx(norm, rel=1e-6)
    assert all(p.grad is g for p, g in zip(side, held))
    assert_allclose(shared.numpy(), base / (norm + 1e-6), rtol=1e-6)

    overlapping = [tt.Parameter(tt.zeros(6)), tt.Parameter(tt.zeros(6)), tt.Parameter(tt.zeros(2))]
    shared = tt.tensor(base.copy())
    overlapping[0].grad, overlapping[1].grad = shared[0:6], shared[3:9]
    overlapping[2].grad = shared[10:12]                       # apart from the other two
    held = overlapping[2].grad
    total = clip_grad_norm_(overlapping, max_norm=1.0)
    parts = [base[0:6], base[3:9], base[10:12]]
    norm = float(np.sqrt(sum((part ** 2).sum() for part in parts)))
    assert float(total) == pytest.approx(norm, rel=1e-6)
    for p, part in zip(overlapping, parts):
        assert_allclose(p.grad.numpy(), part / (norm + 1e-6), rtol=1e-6)
    assert overlapping[2].grad is held
    assert_allclose(shared.numpy()[3:9], base[3:9])           # the overlapping ones: new tensors


def test_clip_grad_norm_of_attention_matches_torch_and_keeps_its_gradient_tensors():
    """A MultiHeadAttention's q, k and v weights get views of one gradient (their
    product is one, see _self_attention): clipped in place, the same numbers as
    torch clipping the same gradients."""
    torch = pytest.importorskip("torch")
    from tinytransformer import MultiHeadAttention
    tt.manual_seed(0)
    attention = MultiHeadAttention(8, 2)
    x = tt.randn(3, 5, 8)
    out, _ = attention(x, x, x, need_weights=False)
    (out * out).sum().backward()
    params = list(attention.parameters())
    held = [p.grad for p in params]
    before = [p.grad.numpy().copy() for p in params]
    assert any(p.grad._data.base is not None for p in params)    # views, as expected
    total = clip_grad_norm_(params, max_norm=0.1)
    theirs = [torch.nn.Parameter(torch.zeros(g.shape)) for g in before]
    for t, g in zip(theirs, before):
        t.grad = torch.from_numpy(g.copy())
    torch_total = torch.nn.utils.clip_grad_norm_(theirs, max_norm=0.1)
    assert float(total) == pytest.approx(float(torch_total), rel=1e-5) and float(total) > 0.1
    for p, g, t in zip(params, held, theirs):
        assert p.grad is g
        assert_allclose(p.grad.numpy(), t.grad.numpy(), rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("ord", [2, 1, 3, math.inf, -math.inf, 0])
def test_foreach_norm_is_each_tensors_norm_as_torch(ord):
    """tt.foreach_norm (torch._foreach_norm): one 0-d tensor per tensor of the
    list, its norm over every element, in its dtype, outside the graph; the
    numbers are tt.norm's and torch's (an empty tensor's norm is 0; its inf norm
    is an error in both)."""
    rng = np.random.default_rng(5)
    values = [rng.standard_normal((4, 3)).astype(np.float32), np.float32(-2.5),
              rng.standard_normal(7), np.array([0.0, 3.0, 0.0], np.float32)]
    if math.isfinite(ord):
        values.append(np.zeros((0, 2), np.float32))
    tensors = [tt.tensor(v, requires_grad=True) for v in values]
    norms = tt.foreach_norm(tensors, ord)
    assert len(norms) == len(tensors)
    for n, t in zip(norms, tensors):
        assert n.shape == () and n.dtype == t.dtype and not n.requires_grad
        assert float(n) == pytest.approx(float(tt.norm(t, ord)), rel=1e-6)
    torch = pytest.importorskip("torch")
    theirs = torch._foreach_norm([torch.from_numpy(np.asarray(v)) for v in values], ord)
    for n, u in zip(norms, theirs):
        assert float(n) == pytest.approx(float(u), rel=1e-5)
    if math.isinf(ord):
        with pytest.raises(RuntimeError):
            tt.foreach_norm([tt.zeros(0)], ord)


def test_foreach_norm_shares_large_tensors_between_the_threads(monkeypatch):
    """The 2-norms of large tensors are taken on two threads, each norm whole on
    one of them: the same numbers, bit for bit, as on one thread and as tt.norm,
    in the list's order, a tensor listed twice included."""
    rng = np.random.default_rng(6)
    big = [tt.tensor(rng.standard_normal(s).astype(np.float32))
           for s in [(600, 500), (3,), (700, 400), (0,), (5, 2)]]
    tensors = big + [big[2]]
    names = _thread_names_of_parts(monkeypatch)
    before = tt.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            tt.set_num_threads(threads)
            results.append([float(n) for n in tt.foreach_norm(tensors)])
    finally:
        tt.set_num_threads(before)
    assert any(n.startswith("tinytensor") for n in names)
    assert results[0] == results[1] == [float(tt.norm(t)) for t in tensors]
    assert results[0][3] == 0.0 and results[0][5] == results[0][2] == pytest.approx(529, rel=0.01)


def test_clip_grad_norm_inf_norm_and_edge_cases():
    a = with_grad([-7.0, 2.0])
    assert float(clip_grad_norm_(a, max_norm=100.0, norm_type=math.inf)) == pytest.approx(7.0)
    assert float(clip_grad_norm_([tt.Parameter(tt.ones(2))], max_norm=1.0)) == 0.0
    bad = with_grad([float("nan"), 1.0])
    with pytest.raises(RuntimeError, match="NaN or Inf"):
        clip_grad_norm_([bad], 1.0, error_if_nonfinite=True)
    # Any norm_type is the norm of the gradients' norms, as torch takes it: for 0,
    # the number of gradients that are not all zeros (not of nonzero elements).
    grads = [[0.0, 3.0], [0.0, 0.0], [1.0, 2.0, 0.0]]
    ours = clip_grad_norm_([with_grad(g) for g in grads], max_norm=100.0, norm_type=0)
    assert float(ours) == 2.0
    torch = pytest.importorskip("torch")
    theirs = [torch.nn.Parameter(torch.zeros(len(g))) for g in grads]
    for t, g in zip(theirs, grads):
        t.grad = torch.tensor(g)
    assert float(torch.nn.utils.clip_grad_norm_(theirs, max_norm=100.0, norm_type=0)) == 2.0


# -- schedules ------------------------------------------------------------------------
def make_optimizer(lr=1.0):
    return SGD([tt.Parameter(tt.ones(1))], lr=lr)


def lrs_used_by_optimizer_steps(scheduler, steps):
    """The lr each optimizer.step() sees, with the documented calling order."""
    used = []
    for _ in range(steps):
        used.append(scheduler.optimizer.param_groups[0]["lr"])   # optimizer.step() here
        scheduler.step()
    return used


def noam(step, d_model, warmup, factor=1.0):
    return factor * d_model ** -0.5 * min(step ** -0.5, step * warmup ** -1.5)


def test_noam_matches_the_paper():
    d_model, warmup = 512, 4000
    scheduler = NoamSchedule(make_optimizer(), d_model, warmup, factor=2.0)
    for step in (1, warmup, 2 * warmup):
        assert scheduler.lr_at(step) == pytest.approx(noam(step, d_model, warmup, 2.0), rel=1e-12)
    assert scheduler.lr_at(1) == pytest.approx(2.0 * d_model ** -0.5 * warmup ** -1.5)
    assert scheduler.lr_at(warmup) == pytest.approx(2.0 * (d_model * warmup) ** -0.5)
    assert scheduler.lr_at(2 * warmup) == pytest.approx(2.0 * (d_model * 2 * warmup) ** -0.5)
    values = [scheduler.lr_at(s) for s in range(1, 3 * warmup)]
    assert int(np.argmax(values)) + 1 == warmup


def test_schedule_convention_first_update_uses_step_one():
    scheduler = NoamSchedule(make_optimizer(lr=123.0), d_model=16, warmup_steps=4)
    assert scheduler.get_last_lr() == [pytest.approx(noam(1, 16, 4))]
    used = lrs_used_by_optimizer_steps(scheduler, 8)
    assert used == pytest.approx([noam(s, 16, 4) for s in range(1, 9)])
    assert scheduler.step_num == 9


@pytest.mark.parametrize("cls", [WarmupCosine, WarmupLinear])
def test_warmup_decay_endpoints(cls):
    scheduler = cls(make_optimizer(), peak_lr=1e-3, warmup_steps=10, total_steps=110, min_lr=1e-5)
    assert scheduler.get_last_lr() == [pytest.approx(1e-4)]   # step 1: 1/10 of the way up
    assert scheduler.lr_at(5) == pytest.approx(5e-4)
    assert scheduler.lr_at(10) == pytest.approx(1e-3)         # peak at the end of warm-up
    assert scheduler.lr_at(60) == pytest.approx((1e-3 + 1e-5) / 2)  # halfway, both shapes
    assert scheduler.lr_at(110) == pytest.approx(1e-5)
    assert scheduler.lr_at(500) == pytest.approx(1e-5)
    values = [scheduler.lr_at(s) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(values, values[1:]))    # decays monotonically


def test_cosine_and_linear_differ_between_the_endpoints():
    cosine = WarmupCosine(make_optimizer(), peak_lr=1.0, warmup_steps=0, total_steps=100)
    linear = WarmupLinear(make_optimizer(), peak_lr=1.0, warmup_steps=0, total_steps=100)
    assert linear.lr_at(25) == pytest.approx(0.75)
    assert cosine.lr_at(25) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))


def test_scheduler_sets_every_param_group_and_round_trips():
    a, b = tt.Parameter(tt.ones(1)), tt.Parameter(tt.ones(1))
    optimizer = Adam([{"params": [a]}, {"params": [b], "lr": 5.0}])
    scheduler = WarmupLinear(optimizer, peak_lr=0.1, warmup_steps=4, total_steps=20)
    for _ in range(6):
        scheduler.step()
    assert [g["lr"] for g in optimizer.param_groups] == scheduler.get_last_lr()
    assert scheduler.get_last_lr() == [pytest.approx(scheduler.lr_at(7))] * 2

    fresh_optimizer = Adam([{"params": [a]}, {"params": [b]}])
    restored = WarmupLinear(fresh_optimizer, peak_lr=0.1, warmup_steps=4, total_steps=20)
    restored.load_state_dict(scheduler.state_dict())
    assert restored.step_num == 7
    assert [g["lr"] for g in fresh_optimizer.param_groups] == scheduler.get_last_lr()
    scheduler.step(), restored.step()
    assert restored.get_last_lr() == scheduler.get_last_lr()


def test_schedule_arguments_are_checked():
    with pytest.raises(ValueError, match="warmup_steps"):
        NoamSchedule(make_optimizer(), d_model=8, warmup_steps=0)
    with pytest.raises(ValueError, match="total_steps"):
        WarmupCosine(make_optimizer(), peak_lr=1.0, warmup_steps=10, total_steps=10)
    with pytest.raises(ValueError, match="min_lr"):
        WarmupLinear(make_optimizer(), peak_lr=1.0, warmup_steps=1, total_steps=10, min_lr=2.0)
    with pytest.raises(TypeError, match="optimizer"):
        NoamSchedule(object(), d_model=8, warmup_steps=4)


def test_optimizer_is_the_base_of_all():
    assert all(issubclass(cls, Optimizer) for cls in (SGD, Adam, AdamW))
    assert "lr: 0.1" in repr(SGD([tt.Parameter(tt.ones(1))], lr=0.1))


def small_blocks_on_threads(monkeypatch, threads):
    """Adam's blocks of 7 elements on `threads` threads; returns the list that
    records each part (start, stop) that run_in_parts hands out."""
    from tinytensor.ops import updates
    monkeypatch.setattr(updates, "ADAM_BLOCK", 7)
    monkeypatch.setitem(tt.backend._threads, "count", threads)
    monkeypatch.setitem(tt.backend._threads, "pool", None)
    parts = []
    run_in_parts = tt.backend.run_in_parts
    monkeypatch.setattr(tt.backend, "run_in_parts", lambda size, work, min_part: run_in_parts(
        size, lambda a, b: parts.append((a, b)) or work(a, b), min_part))
    return parts


def assert_equal_to_rounding(ours, plain):
    """The block walk's axpby lines may round once (OpenBLAS's SkylakeX kernel fuses
    the multiply and the add; its Haswell kernel rounds as NumPy does) where the
    plain lines round two or three times, so the two may differ in the last bits:
    allow 16 units in the last place of the largest value, far below any slip in
    a formula (a wrong constant moves the numbers by a whole percent)."""
    assert ours.dtype == plain.dtype
    np.testing.assert_allclose(ours, plain, rtol=0,
                               atol=16 * np.finfo(plain.dtype).eps * np.abs(plain).max())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_in_blocks_gives_the_plain_lines_numbers(monkeypatch, dtype):
    """Adam.step's update, tt.adam_step_, walks each parameter in blocks
    (_adam_in_blocks), split between threads; the plain in-place lines it stands
    for must give the same numbers to rounding over several steps (with weight
    decay), and the walk the same numbers bit for bit whatever its blocks and
    threads: blocks of 7 on 3 threads (which divide neither the size nor the
    threads' parts) and one block on one thread."""
    from tinytensor.ops import updates
    rng = np.random.default_rng(0)
    start, grads = rng.standard_normal((5, 9)).astype(dtype), rng.standard_normal((4, 5, 9))

    def run(blocks):
        if not blocks:
            monkeypatch.setattr(updates, "_walkable", lambda *args: None)
        p = tt.Parameter(tt.tensor(start.copy()))
        opt = Adam([p], lr=0.1, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.01)
        for g in grads:
            p.grad = tt.tensor(g.astype(dtype))
            opt.step()
        state = opt.state[p] if hasattr(opt, "state") else opt._param_state(p)
        return p.numpy(), state["exp_avg"].numpy(), state["exp_avg_sq"].numpy(), p._version
    one_thread = run(True)
    parts = small_blocks_on_threads(monkeypatch, 3)
    blocked, plain = run(True), run(False)
    assert sorted(set(parts)) == [(0, 15), (15, 30), (30, 45)]
    for ours, same, theirs in zip(blocked[:3], one_thread[:3], plain[:3]):
        np.testing.assert_array_equal(ours, same)
        assert_equal_to_rounding(ours, theirs)
    assert blocked[3] == plain[3] == 4
    # four steps of about lr each have moved p: the agreement above is not the start's
    assert np.abs(blocked[0] - start).mean() > 0.1


def test_adam_step_shares_a_models_parameters_between_threads(monkeypatch):
    """adam_step_ lays the walkable parameters end to end and splits that range
    between the threads, so a part can begin inside one parameter and end inside
    another. The plain lines' numbers to rounding, for parameters of two dtypes,
    at different steps, with a transposed one among them (plain lines)."""
    from tinytensor.ops import updates
    parts = small_blocks_on_threads(monkeypatch, 3)
    rng = np.random.default_rng(1)
    shapes, dtypes = [(5,), (3, 4), (9,), (4, 5), (2, 3)], [np.float32, np.float64]
    starts = [rng.standard_normal(s).astype(dtypes[i % 2]) for i, s in enumerate(shapes)]

    def run(blocks):
        if not blocks:
            monkeypatch.setattr(updates, "_walkable", lambda *args: None)
        params = [tt.tensor(a.copy()) for a in starts]
        params[4] = tt.tensor(starts[4].T.copy()).T          # transposed: the plain lines
        state = [(tt.zeros_like(p), tt.zeros_like(p)) for p in params]
        for step in range(1, 4):
            grads = [tt.tensor(rng_g.standard_normal(p.shape).astype(p.dtype)) for p in params]
            tt.adam_step_(params, grads, [m for m, _ in state], [v for _, v in state], lr=0.1,
                          betas=(0.8, 0.95), eps=1e-6, steps=[step, step + 2, step, step, step])
        return [p.numpy() for p in params] + [t.numpy() for pair in state for t in pair]
    rng_g = np.random.default_rng(2)
    blocked = run(True)
    rng_g = np.random.default_rng(2)
    plain = run(False)
    for a, b in zip(blocked, plain):
        assert_equal_to_rounding(a, b)
    np.testing.assert_array_equal(blocked[4], plain[4])          # the transposed one: plain lines
    assert sorted(set(parts)) == [(0, 15), (15, 30), (30, 46)]   # 5 + 12 + 9 + 20 walked
    with pytest.raises(ValueError, match="lists of one length"):
        tt.adam_step_([tt.zeros(2)], [], [], [], lr=0.1, betas=(0.9, 0.9),
                      eps=1e-8, steps=[1])


def test_adam_step_on_a_non_contiguous_parameter_takes_the_plain_lines():
    """A transposed parameter cannot be walked in blocks; adam_step_ then runs the
    plain lines, which give Adam's first step: p - lr * sign(g) (to within eps)."""
    from tinytensor.ops.updates import _walkable
    p = tt.tensor(np.ones((4, 6), np.float32)).T
    zeros = tt.zeros(6, 4)
    assert _walkable(p, zeros, zeros, zeros) is None
    g = tt.tensor(np.where(np.arange(24).reshape(6, 4) % 2, 2.0, -0.5).astype(np.float32))
    m, v = tt.zeros(6, 4), tt.zeros(6, 4)
    tt.adam_step_([p], [g], [m], [v], lr=0.1, betas=(0.9, 0.999), eps=1e-8, steps=[1])
    np.testing.assert_allclose(p.numpy(), 1 - 0.1 * np.sign(g.numpy()), rtol=1e-6)
    np.testing.assert_allclose(m.numpy(), 0.1 * g.numpy(), rtol=1e-6)
    np.testing.assert_allclose(v.numpy(), 0.001 * g.numpy() ** 2, rtol=1e-5)
