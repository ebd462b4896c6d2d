"""The autograd engine and the Tensor itself: backward, gradient accumulation,
graph freeing, grad modes, hooks, higher-order gradients, anomaly detection,
dtype rules, tensor attributes and the creation functions."""
import gc
import sys
import weakref

import numpy as np
import pytest

import tinytensor as tt
from tensor_helpers import HAS_CUDA, make_tensor


# ----------------------------------------------------------------------------
# backward
# ----------------------------------------------------------------------------
def test_backward_on_a_scalar(device):
    x = tt.tensor(np.array([1.0, -2.0, 3.0]), device=device, requires_grad=True)
    y = (x * x * x).sum()          # dy/dx = 3 x^2
    assert y.shape == () and y.requires_grad
    y.backward()
    assert x.grad.device == device
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 12.0, 27.0], rtol=1e-14)
    assert x.grad.grad_fn is None and not x.grad.requires_grad


def test_backward_on_a_non_scalar_needs_a_gradient(device):
    x = tt.tensor(np.array([1.0, 2.0, 3.0]), device=device, requires_grad=True)
    y = x * x
    with pytest.raises(RuntimeError, match=r"needs a scalar.*shape \(3,\).*gradient="):
        y.backward()
    with pytest.raises(ValueError,
                       match=r"gradient shape \(2,\) does not match tensor shape \(3,\)"):
        y.backward(gradient=tt.tensor(np.ones(2), device=device))
    y.backward(gradient=tt.tensor(np.array([1.0, 0.0, -2.0]), device=device))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 0.0, -12.0])


def test_backward_without_requires_grad_is_an_error():
    with pytest.raises(RuntimeError, match="does not require grad"):
        (tt.ones(3) * 2).sum().backward()


@pytest.fixture
def recursion_limit_1000():
    """Python's default limit, whatever the test runner set: a recursive engine fails."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    yield
    sys.setrecursionlimit(old)


def test_a_chain_of_10000_ops_backpropagates_without_recursion(recursion_limit_1000):
    x = tt.tensor(np.array([0.3, -0.2]), requires_grad=True)
    y, ops = x, 0
    for _ in range(3400):
        y = y * 1.0002             # 1 op
        y = y + 0.01 * tt.tanh(y)  # 3 ops
        ops += 4
    assert ops > 10_000
    y.sum().backward()
    # NumPy: the derivative of the chain, step by step.
    value, slope = np.array([0.3, -0.2]), np.ones(2)
    for _ in range(3400):
        value, slope = value * 1.0002, slope * 1.0002
        t = np.tanh(value)
        value, slope = value + 0.01 * t, slope * (1 + 0.01 * (1 - t * t))
    np.testing.assert_allclose(y.numpy(), value, rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), slope, rtol=1e-10)
    del y
    gc.collect()


def test_gradient_accumulates_when_a_tensor_is_used_twice(device):
    x = tt.tensor(np.array([1.0, 2.0]), device=device, requires_grad=True)
    (x * x + x).sum().backward()  # 2x + 1
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 5.0])


def test_gradient_accumulates_across_backward_calls_and_resets(device):
    x = tt.tensor(np.array([1.0, 2.0]), device=device, requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])
    y.backward()                          # the same graph, a second time
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 8.0])
    (3 * x).sum().backward()              # a new graph adds too
    np.testing.assert_allclose(x.grad.numpy(), [7.0, 11.0])
    x.zero_grad()
    assert x.grad is None
    (3 * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])
    x.grad = None
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])


def test_graph_is_freed_after_backward(rng):
    x = tt.tensor(rng.standard_normal(1000), requires_grad=True)
    hidden = x * 2.0
    saved = weakref.ref(hidden.data)    # Exp keeps `hidden` for its backward
    out = tt.exp(hidden).sum()
    out.backward()
    del hidden
    gc.collect()
    assert saved() is None, "backward() should drop what the graph saved"
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        out.backward()


def test_retain_graph_keeps_the_graph(rng):
    x = tt.tensor(rng.standard_normal(1000), requires_grad=True)
    hidden = x * 2.0
    saved = weakref.ref(hidden.data)
    out = tt.exp(hidden).sum()
    out.backward(retain_graph=True)
    del hidden
    gc.collect()
    assert saved() is not None          # still needed for another backward
    first = x.grad.numpy().copy()
    out.backward()                       # allowed, and frees the graph this time
    np.testing.assert_allclose(x.grad.numpy(), 2 * first)
    np.testing.assert_allclose(first, 2 * np.exp(2 * x.numpy()), rtol=1e-12)
    gc.collect()
    assert saved() is None
    with pytest.raises(RuntimeError, match="retain_graph"):
        out.backward()


# ----------------------------------------------------------------------------
# grad modes
# ----------------------------------------------------------------------------
def test_no_grad_context_manager():
    x = tt.ones(3, requires_grad=True)
    with tt.no_grad():
        assert not tt.is_grad_enabled()
        y = x * 2
    assert tt.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    np.testing.assert_array_equal(y.numpy(), [2.0, 2.0, 2.0])


def test_no_grad_decorator_and_restores_after_an_exception():
    x = tt.ones(3, requires_grad=True)

    @tt.no_grad()
    def double(t):
        """Doubles."""
        return t * 2

    y = double(x)
    assert not y.requires_grad and tt.is_grad_enabled()
    assert double.__name__ == "double" and double.__doc__ == "Doubles."
    with pytest.raises(ZeroDivisionError):
        with tt.no_grad():
            1 / 0
    assert tt.is_grad_enabled()


def test_enable_grad_inside_no_grad():
    x = tt.ones(3, requires_grad=True)
    with tt.no_grad():
        with tt.enable_grad():
            y = x * 2
        z = x * 2
    assert y.requires_grad and y.grad_fn is not None
    assert not z.requires_grad
    with tt.set_grad_enabled(False):
        assert not (x * 2).requires_grad


def test_requires_grad_():
    x = tt.ones(3)
    assert not x.requires_grad
    assert x.requires_grad_() is x
    assert x.requires_grad and x.is_leaf
    (x * 5).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [5.0, 5.0, 5.0])
    y = x * 2
    with pytest.raises(RuntimeError, match="only be turned off on a leaf"):
        y.requires_grad_(False)
    x.requires_grad_(False)
    assert not (x * 2).requires_grad


# ----------------------------------------------------------------------------
# retain_grad and hooks
# ----------------------------------------------------------------------------
def test_retain_grad_on_a_non_leaf(device):
    x = tt.tensor(np.array([1.0, 2.0]), device=device, requires_grad=True)
    y = x * 3
    z = x * 4
    y.retain_grad()
    (y * y + z).sum().backward()
    np.testing.assert_allclose(y.grad.numpy(), [6.0, 12.0])   # 2 y
    assert z.grad is None                                       # not retained
    np.testing.assert_allclose(x.grad.numpy(), [22.0, 40.0])   # 18 x + 4


def test_register_hook_modifies_the_gradient_and_can_be_removed():
    x = tt.tensor(np.array([1.0, 2.0]), requires_grad=True)
    seen = []
    handle = x.register_hook(lambda g: g * 10)
    observer = x.register_hook(lambda g: seen.append(g.numpy().copy()))  # returns None
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [20.0, 40.0])
    np.testing.assert_allclose(seen[0], [20.0, 40.0])     # hooks run in order
    handle.remove()
    observer.remove()
    x.grad = None
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])
    assert len(seen) == 1


def test_hook_on_a_non_leaf_changes_what_flows_back():
    x = tt.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x * x
    y.register_hook(lambda g: g * 0.5)
    (y * 4).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 8.0])  # 4 * 0.5 * 2x
    with pytest.raises(RuntimeError, match="does not require grad"):
        tt.ones(2).register_hook(lambda g: g)


def test_grad_with_respect_to_a_non_leaf_runs_its_hooks_first():
    x = tt.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x * x
    y.register_hook(lambda g: g * 2)
    gy, gx = tt.grad((y * 3).sum(), [y, x])
    np.testing.assert_allclose(gy.numpy(), [6.0, 6.0])
    np.testing.assert_allclose(gx.numpy(), [12.0, 24.0])   # 6 * 2x
    assert x.grad is None and y.grad is None


def test_retain_grad_with_create_graph_keeps_a_graph():
    x = tt.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x * x
    y.retain_grad()
    (y * y).sum().backward(create_graph=True)
    assert y.grad.requires_grad                              # 2y = 2x^2, still a function of x
    np.testing.assert_allclose(tt.grad(y.grad.sum(), x)[0].numpy(), [4.0, 8.0])


# ----------------------------------------------------------------------------
# higher-order gradients
# ----------------------------------------------------------------------------
def test_newtons_method_with_second_derivatives_from_create_graph():
    """Minimize f(x) = x^4 - 3x^2 + x: x <- x - f'(x) / f''(x)."""
    def f(x):
        return x ** 4 - 3 * x ** 2 + x

    x = tt.tensor(np.float64(2.0), requires_grad=True)
    for _ in range(30):
        d1, = tt.grad(f(x), x, create_graph=True)   # a tuple, as torch.autograd.grad
        assert d1.requires_grad
        d2, = tt.grad(d1, x)
        x0 = x.item()
        assert d1.item() == pytest.approx(4 * x0 ** 3 - 6 * x0 + 1, rel=1e-12)
        assert d2.item() == pytest.approx(12 * x0 ** 2 - 6, rel=1e-12)
        x = tt.tensor(np.float64(x0 - d1.item() / d2.item()), requires_grad=True)
    roots = np.roots([4.0, 0.0, -6.0, 1.0])        # f'(x) = 4x^3 - 6x + 1
    roots = np.real(roots[np.isreal(roots)])
    critical = roots[np.argmin(np.abs(roots - 2.0))]
    assert critical == pytest.approx(1.1309, abs=1e-4)
    assert x.item() == pytest.approx(critical, abs=1e-12)
    assert 12 * critical ** 2 - 6 > 0               # a minimum


def test_hessian_vector_product_matches_the_analytic_hessian(rng):
    n = 4
    a = rng.standard_normal((n, n))
    x_np, v_np = rng.standard_normal(n), rng.standard_normal(n)
    x = tt.tensor(x_np, requires_grad=True)
    A = tt.tensor(a)

    # f(x) = sum(x^3) + x^T A x + sum(x^2) * sum(x)
    f = (x ** 3).sum() + x @ A @ x + (x * x).sum() * x.sum()
    g, = tt.grad(f, x, create_graph=True)
    hv, = tt.grad((g * tt.tensor(v_np)).sum(), x)
    s1 = x_np.sum()
    hessian = (np.diag(6 * x_np) + a + a.T + 2 * s1 * np.eye(n)
               + 2 * (x_np[:, None] + x_np[None, :]))
    gradient = 3 * x_np ** 2 + (a + a.T) @ x_np + 2 * x_np * s1 + (x_np ** 2).sum()
    np.testing.assert_allclose(g.numpy(), gradient, rtol=1e-12)
    np.testing.assert_allclose(hv.numpy(), hessian @ v_np, rtol=1e-12)


def test_grad_returns_gradients_without_touching_dot_grad():
    x = tt.tensor(np.array([1.0, 2.0]), requires_grad=True)
    w = tt.tensor(np.array([3.0, 4.0]), requires_grad=True)
    unused = tt.tensor(np.array([1.0]), requires_grad=True)
    gx, gw = tt.grad((x * w).sum(), [x, w])
    np.testing.assert_allclose(gx.numpy(), [3.0, 4.0])
    np.testing.assert_allclose(gw.numpy(), [1.0, 2.0])
    assert x.grad is None and w.grad is None
    with pytest.raises(RuntimeError, match="was not used.*allow_unused=True"):
        tt.grad((x * w).sum(), [x, unused])
    assert tt.grad((x * w).sum(), [x, unused], allow_unused=True)[1] is None
    with pytest.raises(RuntimeError, match=r"not a scalar; pass grad_outputs"):
        tt.grad(x * w, x)


# ----------------------------------------------------------------------------
# anomaly detection
# ----------------------------------------------------------------------------
def test_detect_anomaly_names_the_op_in_forward():
    x = tt.tensor(np.array([1.0, -1.0]), requires_grad=True)
    with np.errstate(invalid="ignore"):
        assert np.isnan(tt.log(x).numpy()[1])  # without anomaly mode: just a NaN
        with tt.detect_anomaly():
            with pytest.raises(FloatingPointError, match=r"Log produced NaN or Inf in its forward"):
                tt.log(x)
    tt.log(tt.tensor(np.array([2.0])))  # off again after the block


def test_detect_anomaly_names_the_op_in_backward():
    x = tt.tensor(np.array([0.0, 4.0]), requires_grad=True)
    with np.errstate(divide="ignore"):
        with tt.detect_anomaly():
            y = tt.sqrt(x).sum()  # forward is fine: sqrt(0) = 0
            with pytest.raises(FloatingPointError,
                               match=r"^Sqrt produced NaN or Inf in its backward"):
                y.backward()
        tt.sqrt(x).sum().backward()  # without anomaly mode: an inf gradient, no error
    assert np.isinf(x.grad.numpy()[0])


# ----------------------------------------------------------------------------
# dtype rules
# ----------------------------------------------------------------------------
def test_python_floats_become_float32():
    assert tt.tensor(1.5).dtype == tt.float32
    assert tt.tensor([1.0, 2.0]).dtype == tt.float32
    assert tt.tensor([[1, 2], [3, 4]]).dtype == tt.int64
    assert tt.tensor([True, False]).dtype == tt.bool_
    assert tt.tensor(1.5, dtype=tt.float64).dtype == tt.float64
    assert tt.tensor(0.1).item() == pytest.approx(float(np.float32(0.1)), abs=0)


def test_numpy_arrays_and_scalars_keep_their_dtype():
    assert tt.tensor(np.array([1.0, 2.0])).dtype == tt.float64
    assert tt.tensor(np.array([1.0], dtype=np.float32)).dtype == tt.float32
    assert tt.tensor(np.float64(0.1)).dtype == tt.float64
    assert tt.tensor(np.float64(0.1)).item() == 0.1
    assert tt.tensor(np.arange(3, dtype=np.int32)).dtype == tt.int32


def test_float32_times_python_float_stays_float32():
    x = tt.tensor([1.0, 2.0], requires_grad=True)
    for y in (x * 2.5, 2.5 * x, x + 1, x / 3.0, 1.0 - x, x ** 2.0, tt.maximum(x, 0.5)):
        assert y.dtype == tt.float32
    y = (x * 0.1).sum()
    y.backward()
    assert x.grad.dtype == tt.float32


def test_float32_times_float64_is_float64_and_grads_keep_each_dtype():
    a = tt.tensor([1.0, 2.0], requires_grad=True)                 # float32
    b = tt.tensor(np.array([3.0, 4.0]), requires_grad=True)       # float64
    y = a * b
    assert y.dtype == tt.float64
    y.sum().backward()
    assert a.grad.dtype == tt.float32 and b.grad.dtype == tt.float64
    np.testing.assert_allclose(a.grad.numpy(), [3.0, 4.0])
    np.testing.assert_allclose(b.grad.numpy(), [1.0, 2.0])
    assert a.double().dtype == tt.float64 and b.float().dtype == tt.float32
    c = tt.tensor(np.array([1.0, 2.0]), requires_grad=True)
    (c.float() * 3).sum().backward()   # cast is differentiable, the gradient is cast back
    assert c.grad.dtype == tt.float64
    np.testing.assert_allclose(c.grad.numpy(), [3.0, 3.0])


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(TypeError, match="only floating-point tensors can require grad"):
        tt.tensor([1, 2], requires_grad=True)
    with pytest.raises(TypeError, match="int64"):
        tt.arange(4, requires_grad=True)
    i = tt.arange(4)
    x = tt.ones(4, requires_grad=True)
    assert not (i * 2).requires_grad
    assert (x * i).requires_grad


# ----------------------------------------------------------------------------
# Tensor attributes
# ----------------------------------------------------------------------------
def test_tensor_attributes(device):
    data = np.arange(6.0).reshape(2, 3)
    x = tt.tensor(data, device=device, requires_grad=True)
    assert x.shape == (2, 3) and x.ndim == 2 and x.numel() == 6 and x.size() == (2, 3) and len(x) == 2
    assert x.dtype == tt.float64 and x.device == device
    assert x.is_leaf and x.grad_fn is None
    assert isinstance(x.numpy(), np.ndarray)
    np.testing.assert_array_equal(x.numpy(), data)
    assert x.tolist() == data.tolist()
    assert x[1, 2].item() == 5.0 and isinstance(x[1, 2].item(), float)
    assert float(x[0, 1]) == 1.0
    with pytest.raises(RuntimeError, match=r"item\(\): a tensor with 6 elements"):
        x.item()
    y = x * 2
    d = y.detach()
    assert d.grad_fn is None and not d.requires_grad
    np.testing.assert_array_equal(d.numpy(), 2 * data)
    assert y.grad_fn is not None and not y.is_leaf
    assert x.to(device) is x
    assert x.T.shape == (3, 2)
    np.testing.assert_array_equal(x.argmax(axis=1).numpy(), [2, 2])


def test_to_cpu_returns_the_same_tensor():
    x = tt.ones(2)
    assert x.to("cpu") is x and x.cpu() is x
    assert x.to("cpu", dtype=tt.float64).dtype == tt.float64


def test_repr_shows_values_dtype_and_grad_fn():
    x = tt.tensor(np.array([1.5, 2.25]), requires_grad=True)
    text = repr(x * 2)
    assert text.startswith("tensor([3. , 4.5]")
    assert "dtype=float64" in text and "grad_fn=<Mul>" in text
    assert "requires_grad=True" in repr(x)
    assert repr(tt.tensor([1, 2])) == "tensor([1, 2], dtype=int64)"


def test_comparisons_give_boolean_tensors():
    x = tt.tensor([1.0, 2.0, 3.0], requires_grad=True)
    mask = x > 1.5
    assert mask.dtype == tt.bool_ and not mask.requires_grad
    np.testing.assert_array_equal(mask.numpy(), [False, True, True])
    np.testing.assert_array_equal((x == 2.0).numpy(), [False, True, False])
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(x > 0)


# ----------------------------------------------------------------------------
# creation functions and seeding
# ----------------------------------------------------------------------------
def test_zeros_ones_full_eye(device):
    z = tt.zeros(2, 3, device=device)
    assert z.shape == (2, 3) and z.dtype == tt.float32 and z.device == device
    np.testing.assert_array_equal(z.numpy(), np.zeros((2, 3)))
    assert tt.zeros((2, 3)).shape == (2, 3) and tt.zeros([4]).shape == (4,)
    np.testing.assert_array_equal(tt.ones(3, dtype=tt.float64, device=device).numpy(), [1, 1, 1])
    assert tt.ones(3, dtype=tt.float64).dtype == tt.float64
    f = tt.full((2, 2), 7.5, device=device)
    np.testing.assert_array_equal(f.numpy(), [[7.5, 7.5], [7.5, 7.5]])
    assert f.dtype == tt.float32
    np.testing.assert_array_equal(tt.eye(3, device=device).numpy(), np.eye(3))
    np.testing.assert_array_equal(tt.eye(2, 3).numpy(), np.eye(2, 3))
    assert tt.zeros(2, requires_grad=True).requires_grad


def test_arange_int_and_float(device):
    a = tt.arange(5, device=device)
    assert a.dtype == tt.int64
    np.testing.assert_array_equal(a.numpy(), [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(tt.arange(2, 8, 3).numpy(), [2, 5])
    b = tt.arange(0.0, 1.0, 0.25, device=device)
    assert b.dtype == tt.float32
    np.testing.assert_array_equal(b.numpy(), [0.0, 0.25, 0.5, 0.75])
    assert tt.arange(3, dtype=tt.float64).dtype == tt.float64


def test_rand_randn_and_like(device):
    tt.manual_seed(0)
    r = tt.rand(200, 100, device=device)
    assert r.shape == (200, 100) and r.dtype == tt.float32
    values = r.numpy()
    assert values.min() >= 0.0 and values.max() < 1.0
    assert abs(values.mean() - 0.5) < 0.01
    n = tt.randn(200, 100, dtype=tt.float64, device=device).numpy()
    assert abs(n.mean()) < 0.02 and abs(n.std() - 1.0) < 0.02
    base = tt.tensor(np.ones((2, 3)), device=device)
    for like, check in [(tt.zeros_like, 0.0), (tt.ones_like, 1.0)]:
        t = like(base)
        assert t.shape == (2, 3) and t.dtype == tt.float64 and t.device == device
        assert np.all(t.numpy() == check)
    assert np.all(tt.full_like(base, 4.0).numpy() == 4.0)
    assert tt.zeros_like(base, dtype=tt.float32).dtype == tt.float32
    for like in (tt.rand_like, tt.randn_like):
        t = like(base)
        assert t.shape == (2, 3) and t.dtype == tt.float64
    assert len(np.unique(tt.randn_like(base).numpy())) == 6


def test_manual_seed_makes_random_tensors_reproducible(device):
    tt.manual_seed(42)
    a, b = tt.rand(5, device=device).numpy(), tt.randn(5, device=device).numpy()
    tt.manual_seed(42)
    a2, b2 = tt.rand(5, device=device).numpy(), tt.randn(5, device=device).numpy()
    np.testing.assert_array_equal(a, a2)
    np.testing.assert_array_equal(b, b2)
    assert not np.array_equal(a, tt.rand(5, device=device).numpy())  # the stream moves on
    tt.manual_seed(43)
    assert not np.array_equal(a, tt.rand(5, device=device).numpy())


def test_helper_makes_seeded_float64_tensors(device):
    first = make_tensor(np.random.default_rng(5), (2, 3), device)
    again = make_tensor(np.random.default_rng(5), (2, 3), device)
    assert first.dtype == tt.float64 and first.requires_grad and first.device == device
    np.testing.assert_array_equal(first.numpy(), again.numpy())
    np.testing.assert_array_equal(first.numpy(), np.random.default_rng(5).standard_normal((2, 3)))


# ----------------------------------------------------------------------------
# devices
# ----------------------------------------------------------------------------
@pytest.mark.skipif(HAS_CUDA, reason="CUDA is available here, so asking for it succeeds")
def test_asking_for_cuda_without_it_says_what_to_install():
    try:
        import cupy  # noqa: F401
        message = "CuPy sees no GPU"
    except ImportError:
        message = r"needs CuPy, which is not installed: pip install"
    with pytest.raises(RuntimeError, match=message):
        tt.set_default_device("cuda")
    assert tt.get_default_device() == "cpu"
    with pytest.raises(RuntimeError, match=message):
        tt.zeros(2, device="cuda")
    with pytest.raises(RuntimeError, match=message):
        tt.ones(2).to("cuda")


def test_unknown_device_is_an_error():
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        tt.set_default_device("tpu")


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="CUDA is not available (needs CuPy and an NVIDIA GPU)")
def test_default_device_cuda():
    tt.set_default_device("cuda")
    assert tt.zeros(2).device == "cuda" and tt.tensor([1.0]).device == "cuda"
    tt.set_default_device("cpu")
    assert tt.zeros(2).device == "cpu"



def test_in_place_updates_match_numpy_and_refuse_to_run_under_grad():
    rng = np.random.default_rng(0)
    p0, a, b = (rng.standard_normal(5).astype(np.float32) for _ in range(3))
    b = np.abs(b) + 0.5
    p = tt.Parameter(p0.copy())
    with pytest.raises(RuntimeError, match="add_.*no_grad"):
        p.add_(tt.tensor(a))
    with tt.no_grad():
        p.mul_(0.5).add_(tt.tensor(a), alpha=2.0).addcmul_(tt.tensor(a), tt.tensor(b), value=-0.25)
        p.addcdiv_(tt.tensor(a), tt.tensor(b), value=3.0)
    expected = p0 * 0.5 + 2.0 * a - 0.25 * a * b + 3.0 * a / b
    np.testing.assert_allclose(p.numpy(), expected, rtol=1e-6)
    assert p.dtype == np.float32


def test_leaves_fed_by_one_array_get_separate_gradients():
    x = tt.tensor([1.0, 2.0], requires_grad=True)
    y = tt.tensor([3.0, 4.0], requires_grad=True)
    (x + y).sum().backward()
    assert x.grad.data is not y.grad.data
    with tt.no_grad():
        x.grad.mul_(10.0)
    np.testing.assert_array_equal(y.grad.numpy(), [1.0, 1.0])


# ----------------------------------------------------------------------------
# In place, as torch: version counters, saved tensors, the graph after a change
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("op, call", [
    ("add_", lambda x: x.add_(1.0)), ("sub_", lambda x: x.__isub__(1.0)),
    ("mul_", lambda x: x.mul_(2.0)), ("div_", lambda x: x.__itruediv__(2.0)),
    ("fill_", lambda x: x.zero_()), ("copy_", lambda x: x.copy_(tt.ones(3))),
    ("clamp_", lambda x: x.clamp_(0, 1)), ("index_put_", lambda x: x.__setitem__(0, 1.0)),
    ("masked_fill_", lambda x: x.masked_fill_(x.detach() > 0, 0.0)),
])
def test_in_place_on_a_leaf_that_requires_grad_names_the_operation(op, call):
    x = tt.tensor([1.0, -2.0, 3.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=rf"{op}.*leaf tensor that requires grad"):
        call(x)
    with tt.no_grad():          # an optimizer step: allowed, and counted
        call(x)
    assert x._version == 1 and x.is_leaf


def test_versions_count_in_place_changes_and_views_share_them():
    x = tt.zeros(2, 3)
    assert x._version == 0
    x += 1
    x[0, 1] = 5.0
    x.mul_(2)
    assert x._version == 3
    view, copy = x[0], x.clone()
    view.add_(1.0)                       # a view shares the memory and the counter
    assert x._version == view._version == 4 and copy._version == 0
    assert x.tolist()[0] == [3.0, 11.0, 3.0]
    detached = x.detach()
    detached.zero_()
    assert x._version == 5 and x.sum().item() == 0.0
    x.data -= 1                          # get .data, change the array in place, set it back
    assert x._version == 6
    x.data = np.ones((2, 3), dtype=np.float32)   # new values: not an in-place change
    assert x._version == 6


@pytest.mark.parametrize("name, build, modify", [
    ("Exp", lambda x: x.exp(), lambda y, x: y.add_(1.0)),            # saves its output
    ("Mul", lambda x: x * x, lambda y, x: _no_grad(lambda: x.mul_(2.0))),  # saves its inputs
    ("Sin", lambda x: x.sin(), lambda y, x: _no_grad(lambda: x.__setitem__(0, 0.0))),
    ("Mul", lambda x: x * x, lambda y, x: _sub_from_data(x)),
])
def test_backward_refuses_a_saved_tensor_changed_in_place(name, build, modify):
    x = tt.tensor(np.array([0.5, 1.5, -1.0]), requires_grad=True)
    y = build(x)
    loss = (y * 1.0).sum()
    modify(y, x)
    with pytest.raises(RuntimeError, match=rf"gradient of {name} has been modified by an inplace "
                                           r"operation.*version 1; expected version 0"):
        loss.backward()


def _no_grad(fn):
    with tt.no_grad():
        return fn()


def _sub_from_data(x):
    x.data -= 1.0        # Python: x.data = x.data.__isub__(1.0), the same array set back


def test_changing_a_tensor_no_backward_reads_is_fine():
    x = tt.tensor(np.array([0.5, 1.5]), requires_grad=True)
    y = x * 3.0
    z = (y + 1.0).reshape(2, 1).sum() + y[0]     # Add, Reshape, Sum, GetItem read only shapes
    with tt.no_grad():
        y.mul_(100.0)
    z.backward()
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 3.0])


def test_in_place_changes_are_differentiable_and_pass_gradcheck():
    def f(x, w):
        y = x * 1.0
        y[0] = w[1] * 2          # index_put_: y's old row 0 gets no gradient
        y *= w                   # the old y is kept for w's gradient, as torch keeps it
        y[1:] += x[:2] ** 2      # a view changed in place: recorded as a change of y
        y.clamp_(-2.0, 2.0)
        y -= 0.5
        return y
    rng = np.random.default_rng(3)
    x, w = make_tensor(rng, (3,)), make_tensor(rng, (3,))
    assert tt.gradcheck(f, [x, w])
    assert tt.gradgradcheck(f, [x, w])
    y = f(x, w)
    assert type(y.grad_fn).__name__ == "Sub" and not y.is_leaf


def test_a_tensor_changed_in_place_becomes_part_of_the_graph():
    w = tt.tensor([1.0, 2.0], requires_grad=True)
    buf = tt.zeros(3)                    # a leaf without grad: it may take a graph
    buf[1:] = w * 3
    assert buf.requires_grad and type(buf.grad_fn).__name__ == "IndexPut"
    buf.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [3.0, 3.0])


def test_functions_recorded_before_a_change_keep_the_old_value():
    x = tt.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x * 2
    z = y * 5                            # uses y before the change
    y.add_(1.0)                          # y now stands for x * 2 + 1, z still for (x * 2) * 5
    y.mul_(x)                            # y = (2x + 1) x
    (z.sum() + y.sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), 10 + 4 * x.numpy() + 1)


def test_a_view_made_before_its_base_changed_follows_the_new_graph():
    x = tt.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    w = tt.tensor(np.array(4.0), requires_grad=True)
    y = x * 1.0
    first_two = y[:2]
    y[1] = w                             # first_two shows w now, and its gradient goes there
    assert first_two.tolist() == [1.0, 4.0]
    (first_two * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 0.0, 0.0])
    assert w.grad.item() == 2.0


def test_views_tinytensor_cannot_rebuild_say_so():
    x = tt.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x * 1.0
    column = y.reshape(2, 1)
    with pytest.raises(RuntimeError, match="add_: this tensor is a view.*Reshape"):
        column.add_(x.reshape(2, 1))
    flat = y.reshape(2, 1).reshape(2)
    y[0] = 3.0
    with pytest.raises(RuntimeError, match="view .* used after its base .* changed in place"):
        flat * 2
    with tt.no_grad():                   # without a graph, any view may be changed
        column.add_(1.0)
    assert y.tolist() == [4.0, 3.0]


def test_in_place_errors_name_the_operation():
    ints = tt.tensor([1, 2, 3])
    with pytest.raises(RuntimeError, match="add_: .*int64"):
        ints += 1.5                      # torch: result type Float can't be cast to Long
    with pytest.raises(RuntimeError, match="div_"):
        ints /= 2
    with pytest.raises(RuntimeError, match="add_"):
        tt.zeros(3).add_(tt.ones(2, 3))  # an in-place result cannot grow
    with pytest.raises(RuntimeError, match="can't be cast"):
        tt.zeros(3, dtype=tt.int64).add_(tt.tensor([1.0, 2.0, 3.0], requires_grad=True))
    with pytest.raises(RuntimeError, match="fill_: only a 0-dimensional"):
        tt.zeros(3).fill_(tt.ones(3))
    with pytest.raises(RuntimeError, match="read-only"):
        tt.zeros(1, 3).expand(2, 3).add_(1.0)
    with pytest.raises(IndexError, match="index_put_"):
        tt.zeros(3)[tt.tensor([0.0, 1.0])] = 1.0
    with pytest.raises(RuntimeError, match="bitwise_and.*float32"):
        tt.ones(2) & tt.ones(2)
    with pytest.raises(TypeError, match="where: condition must be a boolean"):
        tt.where(tt.tensor([1, 0]), tt.ones(2), tt.zeros(2))
    ints += 2
    ints //= 2
    assert ints.tolist() == [1, 2, 2] and ints.dtype == tt.int64


def test_index_add_along_a_dim_as_torch():
    x = tt.zeros(2, 3)
    out = x.index_add_(1, tt.tensor([0, 2, 0]), tt.ones(2, 3), alpha=2.0)
    assert out is x and x.tolist() == [[4.0, 0.0, 2.0], [4.0, 0.0, 2.0]]
    with pytest.raises(IndexError, match="index_add_.*dim"):
        x.index_add_(2, tt.tensor([0]), tt.ones(2, 1))


# ----------------------------------------------------------------------------
# grad, backward(inputs=), autograd.functional
# ----------------------------------------------------------------------------
def test_grad_always_returns_a_tuple_and_materializes_zeros_when_asked():
    x = tt.tensor([1.0, 2.0], requires_grad=True)
    unused = tt.tensor([3.0], requires_grad=True)
    result = tt.grad((x * x).sum(), x)
    assert isinstance(result, tuple) and len(result) == 1
    assert tt.autograd.grad is tt.grad
    gx, gu = tt.grad((x * x).sum(), [x, unused], materialize_grads=True)
    assert gu.tolist() == [0.0] and gx.tolist() == [2.0, 4.0]
    with pytest.raises(RuntimeError, match="output 0 does not require grad"):
        tt.grad(tt.ones(2).sum(), x)


def test_backward_into_chosen_inputs_only():
    x = tt.tensor([1.0, 2.0], requires_grad=True)
    w = tt.tensor([3.0, 4.0], requires_grad=True)
    (x * w).sum().backward(inputs=[x])
    assert x.grad.tolist() == [3.0, 4.0] and w.grad is None
    tt.autograd.backward([(x * w).sum()], inputs=w)
    assert w.grad.tolist() == [1.0, 2.0]


def test_autograd_functional_shapes_strict_and_create_graph():
    from tinytensor.autograd import functional as F
    x = tt.tensor(np.array([1.0, 2.0, 3.0]))
    jac = F.jacobian(lambda t: t[:2] * t[1:], x)
    np.testing.assert_allclose(jac.numpy(), [[2.0, 1.0, 0.0], [0.0, 3.0, 2.0]])
    rows = F.jacobian(lambda a, b: (a * b.sum(), b), (x, tt.tensor(np.array([1.0, 1.0]))))
    assert [[r.shape for r in row] for row in rows] == [[(3, 3), (3, 2)], [(2, 3), (2, 2)]]
    with pytest.raises(RuntimeError, match="independent of input 1.*strict"):
        F.vjp(lambda a, b: a * 2, (x, x), tt.ones(3), strict=True)
    out, (va, vb) = F.vjp(lambda a, b: a * 2, (x, x), tt.ones(3))
    assert vb.tolist() == [0.0, 0.0, 0.0] and not va.requires_grad
    with pytest.raises(RuntimeError, match="vector v can only be None"):
        F.jvp(lambda t: t * 2, x)
    # create_graph: the result depends on the caller's tensor, and can be differentiated
    p = tt.tensor(np.array([0.5, -1.0]), requires_grad=True)
    _, hv = F.hvp(lambda t: (t ** 3).sum(), p, tt.tensor(np.array([1.0, 0.0])), create_graph=True)
    np.testing.assert_allclose(hv.numpy(), [3.0, 0.0])       # 6 t v
    hv.sum().backward()
    np.testing.assert_allclose(p.grad.numpy(), [6.0, 0.0])
    hessian = F.hessian(lambda t: (t ** 3).sum(), p.detach())
    np.testing.assert_allclose(hessian.numpy(), np.diag([3.0, -6.0]))


def test_gradcheck_takes_torchs_arguments():
    x = tt.tensor(np.array([0.3, -0.7]), requires_grad=True)
    assert tt.autograd.gradcheck(tt.sin, x, eps=1e-6, atol=1e-5, rtol=1e-3, fast_mode=False)
    assert not tt.gradcheck(lambda t: tt.Tensor(t.data * 2), (x,), raise_exception=False)
    assert tt.autograd.gradgradcheck(tt.sin, (x,), grad_outputs=tt.ones(2, dtype=tt.float64))
    with pytest.raises(TypeError, match="unexpected keyword"):
        tt.gradcheck(tt.sin, (x,), epsilon=1e-6)


# ----------------------------------------------------------------------------
# Conversions, creation and promotion, the torch way
# ----------------------------------------------------------------------------
def test_to_reads_dtype_device_and_other_tensor():
    x = tt.ones(2)
    assert x.to(tt.float64).dtype == tt.float64 and x.to("float16").dtype == tt.half
    assert x.to(tt.zeros(1, dtype=tt.int32)).dtype == tt.int32
    assert x.to("cpu") is x and x.to("cpu", copy=True) is not x
    assert x.int().dtype == tt.int and x.bool().dtype == tt.bool and x.long().dtype == tt.long
    assert x.to(device="cpu", dtype=tt.double).dtype == tt.float64
    with pytest.raises(TypeError, match="to\\(\\): expected a dtype"):
        x.to(object())
    with pytest.raises(IndexError, match="size.*out of range"):
        x.size(1)


def test_tensor_copies_while_as_tensor_and_from_numpy_share():
    a = np.zeros(3)
    copied, shared, view = tt.tensor(a), tt.as_tensor(a), tt.from_numpy(a)
    a[0] = 7.0
    assert copied.tolist()[0] == 0.0 and shared.tolist()[0] == 7.0 and view.tolist()[0] == 7.0
    with pytest.raises(TypeError, match="from_numpy: expected a numpy.ndarray"):
        tt.from_numpy([1.0])
    assert tt.full((2,), True).dtype == tt.bool and tt.full((2,), 3).dtype == tt.int64
    assert tt.arange(1, 2, 0.25).tolist() == [1.0, 1.25, 1.5, 1.75]
    assert tt.randint(3, 5, (4,)).dtype == tt.int64 and tt.randint(3, (4,)).max().item() < 3
    assert tt.empty_like(tt.ones(2, dtype=tt.int32)).dtype == tt.int32


@pytest.mark.parametrize("operands, expected", [
    ((np.array([1, 2]), 1.5), "float32"), ((np.array([1, 2], dtype=np.int32), 3), "int32"),
    ((np.array([True]), 1), "int64"), ((np.array([1.0], dtype=np.float32), np.array(1.0)), "float32"),
    ((np.array([1], dtype=np.int32), np.array(1.0)), "float64"), ((np.array([1]), 1j), "complex64"),
    ((np.array([1.0], dtype=np.float32), np.array([1.0])), "float64"),
])
def test_result_type_follows_torch(operands, expected):
    operands = [tt.tensor(o) if isinstance(o, np.ndarray) else o for o in operands]
    assert tt.result_type(*operands) == np.dtype(expected)
    assert tt.promote_types(tt.int64, tt.float32) == tt.float32   # NumPy says float64
