"""tinytensor speaks PyTorch: the same float64 inputs through tinytensor and
torch give the same values and the same gradients (to 1e-7), for every name a
learner brings from PyTorch. Skips without torch (pin: torch==2.13.0, CPU).

Each case is one line: a function of the module (`tt` or `torch`) and the
input tensors, run once with each library. Integer and boolean results are
compared exactly; float results also backpropagate a random upstream gradient
and compare the inputs' gradients.
"""
import numpy as np
import pytest

import tinytensor as tt

torch = pytest.importorskip("torch")

RTOL, ATOL = 1e-7, 1e-9


def as_numpy(value):
    if isinstance(value, torch.Tensor):
        return value.detach().numpy()
    if isinstance(value, tt.Tensor):
        return value.numpy()
    return np.asarray(value)


def flat_outputs(out):
    """A result as a list of tensors (tuples and named tuples are unpacked)."""
    if isinstance(out, (tuple, list)):
        return [o for item in out for o in flat_outputs(item)]
    return [out]


def run_both(fn, arrays, grads=True):
    """fn(lib, *inputs) with lib = tinytensor and lib = torch; returns both results."""
    tt_inputs = [tt.tensor(a, requires_grad=grads and a.dtype.kind == "f") for a in arrays]
    torch_inputs = [torch.tensor(a, requires_grad=grads and a.dtype.kind == "f") for a in arrays]
    return (fn(tt, *tt_inputs), tt_inputs), (fn(torch, *torch_inputs), torch_inputs)


def check_same(fn, *arrays, grads=True, seed=0):
    (ours, our_inputs), (theirs, their_inputs) = run_both(fn, arrays, grads)
    ours_flat, theirs_flat = flat_outputs(ours), flat_outputs(theirs)
    assert len(ours_flat) == len(theirs_flat), "different number of outputs"
    assert type(ours) is not tuple or isinstance(theirs, tuple)
    rng = np.random.default_rng(seed)
    our_loss, their_loss = None, None
    for a, b in zip(ours_flat, theirs_flat):
        a_np, b_np = as_numpy(a), as_numpy(b)
        assert a_np.shape == b_np.shape, f"shape {a_np.shape} vs torch {b_np.shape}"
        assert a_np.dtype.kind == b_np.dtype.kind, f"dtype {a_np.dtype} vs torch {b_np.dtype}"
        if a_np.dtype.kind == "f":
            np.testing.assert_allclose(a_np, b_np, rtol=RTOL, atol=ATOL)
            if isinstance(b, torch.Tensor) and b.requires_grad:
                upstream = rng.standard_normal(b_np.shape)
                term_ours = (a * tt.tensor(upstream)).sum()
                term_theirs = (b * torch.tensor(upstream)).sum()
                our_loss = term_ours if our_loss is None else our_loss + term_ours
                their_loss = term_theirs if their_loss is None else their_loss + term_theirs
        else:
            np.testing.assert_array_equal(a_np, b_np)
    if their_loss is not None:
        our_loss.backward()
        their_loss.backward()
        for x, y in zip(our_inputs, their_inputs):
            if y.grad is None:
                assert x.grad is None or not np.any(x.grad.numpy())
                continue
            np.testing.assert_allclose(x.grad.numpy(), y.grad.numpy(), rtol=RTOL, atol=ATOL)
    return ours, theirs


R = np.random.default_rng(1234)


def normal(*shape):
    return R.standard_normal(shape)


def positive(*shape):
    return R.uniform(0.5, 2.0, size=shape)


def distinct(*shape):
    """Values with no ties, so max/sort/topk pick the same elements in both."""
    return R.permutation(int(np.prod(shape))).reshape(shape).astype(np.float64) / 7 - 1


IDX = np.array([[0, 2, 1, 0], [1, 1, 0, 2]])
MASK = R.uniform(size=(3, 4)) > 0.5

# (id, function of (lib, *inputs), inputs)
CASES = [
    # -- shapes: PyTorch's meanings -------------------------------------------------------
    ("transpose-2d", lambda m, x: x.transpose(0, 1), [normal(3, 4)]),
    ("transpose-4d-last-two", lambda m, x: x.transpose(-2, -1), [normal(2, 3, 4, 5)]),
    ("transpose-function", lambda m, x: m.transpose(x, 1, 2), [normal(2, 3, 4)]),
    ("permute-varargs", lambda m, x: x.permute(2, 0, 1), [normal(2, 3, 4)]),
    ("permute-tuple", lambda m, x: m.permute(x, (1, 2, 0)), [normal(2, 3, 4)]),
    ("T", lambda m, x: x.T, [normal(3, 4)]),
    ("mT", lambda m, x: x.mT, [normal(2, 3, 4)]),
    ("t", lambda m, x: x.t(), [normal(3, 4)]),
    ("squeeze-dim-not-one", lambda m, x: x.squeeze(0), [normal(3, 1, 4)]),
    ("squeeze-dim", lambda m, x: x.squeeze(1), [normal(3, 1, 4)]),
    ("squeeze-all", lambda m, x: x.squeeze(), [normal(1, 3, 1)]),
    ("unsqueeze-negative", lambda m, x: x.unsqueeze(-1), [normal(3, 4)]),
    ("expand-minus-one", lambda m, x: x.expand(-1, 3, -1), [normal(2, 1, 4)]),
    ("view", lambda m, x: x.view(-1, 4), [normal(2, 3, 4)]),
    ("view-tuple", lambda m, x: x.view((6, 4)), [normal(2, 3, 4)]),
    ("reshape-contiguous", lambda m, x: x.transpose(0, 1).contiguous().reshape(12), [normal(3, 4)]),
    ("flatten", lambda m, x: m.flatten(x, 1), [normal(2, 3, 4)]),
    ("repeat", lambda m, x: x.repeat(2, 1, 3), [normal(2, 3)]),
    ("flip", lambda m, x: m.flip(x, (0, 2)), [normal(2, 3, 4)]),
    ("flip-method", lambda m, x: x.flip(1), [normal(2, 3)]),
    ("split-size", lambda m, x: m.split(x, 2, dim=1), [normal(3, 5)]),
    ("split-sizes", lambda m, x: x.split([1, 2], dim=0), [normal(3, 5)]),
    ("chunk", lambda m, x: x.chunk(3, dim=-1), [normal(2, 7)]),
    ("unbind", lambda m, x: m.unbind(x, dim=1), [normal(2, 3)]),
    ("cat", lambda m, x, y: m.cat([x, y], dim=1), [normal(2, 3), normal(2, 4)]),
    ("concat", lambda m, x, y: m.concat((x, y), dim=0), [normal(2, 3), normal(1, 3)]),
    ("stack", lambda m, x, y: m.stack([x, y], dim=1), [normal(2, 3), normal(2, 3)]),
    # -- reductions with dim / keepdim ----------------------------------------------------
    ("sum-dim-keepdim", lambda m, x: x.sum(dim=1, keepdim=True), [normal(3, 4)]),
    ("sum-dims", lambda m, x: m.sum(x, dim=(0, 2)), [normal(2, 3, 4)]),
    ("mean-dim", lambda m, x: x.mean(dim=-1), [normal(3, 4)]),
    ("max-whole", lambda m, x: x.max(), [distinct(3, 4)]),
    ("max-dim", lambda m, x: x.max(1), [distinct(3, 4)]),
    ("max-dim-keepdim", lambda m, x: m.max(x, dim=0, keepdim=True), [distinct(3, 4)]),
    ("min-dim", lambda m, x: x.min(dim=-1), [distinct(3, 4)]),
    ("max-binary", lambda m, x, y: m.max(x, y), [distinct(3, 4), distinct(3, 4) + 0.01]),
    ("amax", lambda m, x: x.amax(dim=(0, 1)), [distinct(2, 3, 4)]),
    ("amin", lambda m, x: m.amin(x, dim=1, keepdim=True), [distinct(2, 3)]),
    ("var-unbiased", lambda m, x: x.var(dim=1), [normal(3, 5)]),
    ("var-biased", lambda m, x: x.var(dim=1, unbiased=False), [normal(3, 5)]),
    ("var-correction", lambda m, x: m.var(x, dim=0, correction=0, keepdim=True), [normal(3, 5)]),
    ("std", lambda m, x: x.std(dim=0), [normal(4, 3)]),
    ("std-all", lambda m, x: x.std(), [normal(4, 3)]),
    ("logsumexp", lambda m, x: m.logsumexp(x, dim=1), [normal(3, 4)]),
    ("prod", lambda m, x: x.prod(dim=1), [normal(3, 4)]),
    ("prod-all", lambda m, x: x.prod(), [normal(2, 3)]),
    ("cumsum", lambda m, x: x.cumsum(dim=1), [normal(3, 4)]),
    ("norm", lambda m, x: x.norm(), [normal(3, 4)]),
    ("norm-p1-dim", lambda m, x: m.norm(x, p=1, dim=1), [normal(3, 4)]),
    ("norm-dim-keepdim", lambda m, x: x.norm(dim=-1, keepdim=True), [normal(3, 4)]),
    ("argmax", lambda m, x: x.argmax(dim=1), [distinct(3, 4)]),
    ("argmax-all", lambda m, x: m.argmax(x), [distinct(3, 4)]),
    ("argmin-keepdim", lambda m, x: x.argmin(dim=0, keepdim=True), [distinct(3, 4)]),
    ("sort", lambda m, x: x.sort(dim=-1, descending=True), [distinct(3, 4)]),
    ("sort-function", lambda m, x: m.sort(x, dim=0), [distinct(3, 4)]),
    ("argsort", lambda m, x: x.argsort(dim=1), [distinct(3, 4)]),
    ("topk", lambda m, x: x.topk(2, dim=1), [distinct(3, 4)]),
    ("topk-smallest", lambda m, x: m.topk(x, 2, dim=0, largest=False), [distinct(3, 4)]),
    ("any", lambda m, x: (x > 1).any(dim=1), [normal(3, 4)]),
    ("all", lambda m, x: m.all(x > -1), [normal(3, 4)]),
    # -- indexing -------------------------------------------------------------------------
    ("gather", lambda m, x: m.gather(x, 1, m.tensor(IDX)), [normal(2, 3)]),
    ("gather-method", lambda m, x: x.gather(0, m.tensor([[0, 1, 0]])), [normal(2, 3)]),
    ("scatter", lambda m, x, s: x.scatter(1, m.tensor([[0, 2], [1, 0]]), s), [normal(2, 3), normal(2, 2)]),
    ("scatter-add", lambda m, x, s: m.scatter_add(x, 1, m.tensor(IDX[:, :3]), s), [normal(2, 3), normal(2, 3)]),
    ("index-select", lambda m, x: m.index_select(x, 1, m.tensor([2, 0, 2])), [normal(2, 3)]),
    ("masked-fill", lambda m, x: x.masked_fill(m.tensor(MASK), -1.5), [normal(3, 4)]),
    ("where", lambda m, x, y: m.where(m.tensor(MASK), x, y), [normal(3, 4), normal(3, 4)]),
    ("getitem-int-slice", lambda m, x: x[1, 1:3], [normal(3, 4)]),
    ("getitem-bool", lambda m, x: x[m.tensor(MASK)], [normal(3, 4)]),
    # -- elementwise ------------------------------------------------------------------------
    ("clamp", lambda m, x: m.clamp(x, min=-0.5, max=0.5), [normal(3, 4)]),
    ("clamp-method-min", lambda m, x: x.clamp(min=0.1), [normal(3, 4)]),
    ("clip", lambda m, x: x.clip(-0.3, 0.2), [normal(3, 4)]),
    ("sin", lambda m, x: m.sin(x), [normal(3, 4)]),
    ("cos", lambda m, x: x.cos(), [normal(3, 4)]),
    ("square", lambda m, x: x.square(), [normal(3, 4)]),
    ("rsqrt", lambda m, x: m.rsqrt(x), [positive(3, 4)]),
    ("pow-function", lambda m, x, y: m.pow(x, y), [positive(3, 4), normal(3, 4)]),
    ("pow-scalar", lambda m, x: x.pow(3), [normal(3, 4)]),
    # torch has no derivative for floor_divide (backward raises, see
    # test_floor_divide_has_no_derivative_as_in_torch): compare values only.
    ("floor-divide", lambda m, x, y: m.floor_divide(x.detach(), y.detach()),
     [normal(3, 4) * 5, positive(3, 4)]),
    ("floordiv-operator", lambda m, x: x.detach() // 0.7, [normal(3, 4) * 5]),
    ("remainder-operator", lambda m, x: x % 0.7, [normal(3, 4) * 5]),
    ("bool-and-or-xor-not", lambda m, x, y: ((x > 0) & (y > 0), (x > 0) | (y > 0),
                                             (x > 0) ^ (y > 0), ~(x > 0)),
     [normal(3, 4), normal(3, 4)]),
    # nan where x <= 0, inf where x > 0.5: mixed entries, made without dividing by zero (NumPy
    # would warn where torch is silent)
    ("isnan-isinf-isfinite", lambda m, x: (lambda y: (m.isnan(y), m.isinf(y), m.isfinite(y)))(
        m.where(x > 0.5, float("inf"), m.where(x > 0, x, float("nan")))), [normal(3, 4)]),
    ("matmul", lambda m, x, y: m.matmul(x, y), [normal(2, 3, 4), normal(4, 5)]),
    ("mm", lambda m, x, y: m.mm(x, y), [normal(3, 4), normal(4, 2)]),
    ("bmm", lambda m, x, y: m.bmm(x, y), [normal(2, 3, 4), normal(2, 4, 2)]),
    ("einsum", lambda m, x, y: m.einsum("bij,bjk->bik", x, y), [normal(2, 3, 4), normal(2, 4, 2)]),
    ("einsum-trace-outer", lambda m, x, y: m.einsum("ii,j->j", x, y), [normal(3, 3), normal(4)]),
    ("clone", lambda m, x: x.clone() * 2, [normal(3, 4)]),
    # -- neural-network functions -------------------------------------------------------------
    ("softmax-dim", lambda m, x: m.softmax(x, dim=-1), [normal(3, 4)]),
    ("softmax-method", lambda m, x: x.softmax(dim=0), [normal(3, 4)]),
    ("log-softmax", lambda m, x: x.log_softmax(dim=1), [normal(3, 4)]),
]


@pytest.mark.parametrize("case_id, fn, inputs", CASES, ids=[c[0] for c in CASES])
def test_same_values_and_gradients_as_torch(case_id, fn, inputs):
    check_same(fn, *inputs)


@pytest.mark.parametrize("p", [2, 3, 1])
def test_float16_norms_sum_in_float32_as_torch(p):
    """A float16 norm's squares overflow float16 (from 256 on), so torch sums them in
    float32 and rounds only the norm: 1095 for ten 300s among ones, not inf. A norm
    beyond float16's range is inf in both (p=1 here), with no warning."""
    import warnings
    x = np.ones(300000, np.float16)
    x[:10] = 300
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = [tt.norm(tt.tensor(x), p), tt.foreach_norm([tt.tensor(x)], p)[0],
                tt.norm(tt.tensor(x.reshape(600, 500)), p, dim=1)]
    theirs = [torch.norm(torch.from_numpy(x), p), torch._foreach_norm([torch.from_numpy(x)], p)[0],
              torch.norm(torch.from_numpy(x.reshape(600, 500)), p, dim=1)]
    for a, b in zip(ours, theirs):
        assert a.dtype == tt.float16
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert float(ours[0]) == {2: 1095.0, 3: 646.5, 1: np.inf}[p]


def test_floor_divide_has_no_derivative_as_in_torch():
    for m in (tt, torch):
        x = m.tensor(normal(3), requires_grad=True)
        y = (x // 0.7).sum()
        with pytest.raises(RuntimeError, match="floor_divide"):
            y.backward()


def test_max_with_dim_returns_named_values_and_indices():
    x = tt.tensor(distinct(3, 4))
    values, indices = x.max(1)
    result = x.max(dim=1)
    assert result.values.shape == (3,) and result.indices.dtype == np.int64
    np.testing.assert_array_equal(result.indices.numpy(), x.numpy().argmax(1))
    np.testing.assert_array_equal(values.numpy(), x.numpy().max(1))
    assert isinstance(x.max(), tt.Tensor) and x.max().shape == ()
    sorted_ = x.sort(dim=1)
    assert sorted_.values.shape == (3, 4) and sorted_.indices.dtype == np.int64
    top = x.topk(2)
    assert top.values.shape == (3, 2)


# -- sizes and conversions ---------------------------------------------------------------------
def test_sizes_and_conversions_read_as_torch():
    data = normal(2, 3, 4)
    ours, theirs = tt.tensor(data), torch.tensor(data)
    assert tuple(ours.size()) == tuple(theirs.size()) and ours.size(1) == 3 and ours.size(-1) == 4
    assert ours.numel() == theirs.numel() == 24 and ours.dim() == 3
    for name in ["int", "long", "float", "double", "bool"]:
        a, b = getattr(ours, name)(), getattr(theirs, name)()
        assert str(a.dtype).replace("tinytensor.", "") == str(b.dtype).replace("torch.", "") \
            or a.numpy().dtype == b.numpy().dtype, name
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert ours.to(tt.float32).dtype == tt.float32
    assert ours.to("cpu", tt.float32).dtype == tt.float32
    assert ours.to(dtype=tt.float64, device="cpu").dtype == tt.float64
    np.testing.assert_array_equal(np.asarray(ours), data)
    assert ours.shape == (2, 3, 4)


# -- creation ---------------------------------------------------------------------------------
def test_creation_functions_match_torch():
    def same(a, b):
        assert tuple(a.shape) == tuple(b.shape)
        assert a.numpy().dtype == b.numpy().dtype, (a.numpy().dtype, b.numpy().dtype)
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)

    for lib_call in [lambda m: m.zeros(2, 3), lambda m: m.zeros((2, 3)), lambda m: m.ones([2]),
                     lambda m: m.full((2, 2), 1.5), lambda m: m.full((2,), 3),
                     lambda m: m.arange(5), lambda m: m.arange(0, 1, 0.25),
                     lambda m: m.arange(1.0, 4.0), lambda m: m.linspace(0, 1, 5),
                     lambda m: m.eye(3), lambda m: m.eye(2, 3),
                     lambda m: m.tensor([1, 2]), lambda m: m.tensor([1.0, 2.0]),
                     lambda m: m.tensor(True), lambda m: m.as_tensor([1.5]),
                     lambda m: m.zeros(2, dtype=m.int64), lambda m: m.ones(2, dtype=m.bool),
                     lambda m: m.zeros_like(m.ones(2, 3)), lambda m: m.ones_like(m.zeros(2)),
                     lambda m: m.full_like(m.zeros(2), 7.0)]:
        same(lib_call(tt), lib_call(torch))
    for lib_call in [lambda m: m.empty(2, 3), lambda m: m.rand(2, 3), lambda m: m.randn((2, 3)),
                     lambda m: m.randint(0, 10, (4,)), lambda m: m.randint(5, (2, 2)),
                     lambda m: m.randperm(6), lambda m: m.empty_like(m.zeros(3)),
                     lambda m: m.rand_like(m.zeros(3)), lambda m: m.randn_like(m.zeros(3))]:
        a, b = lib_call(tt), lib_call(torch)
        assert tuple(a.shape) == tuple(b.shape) and a.numpy().dtype == b.numpy().dtype
    assert sorted(tt.randperm(6).tolist()) == list(range(6))
    assert tt.zeros(2, requires_grad=True).requires_grad
    shared = np.zeros(3)
    view = tt.from_numpy(shared)
    shared[1] = 5.0
    assert view.tolist() == [0.0, 5.0, 0.0] and view.dtype == tt.float64


# -- dtype promotion ------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda m: m.tensor([1, 2]) + m.tensor([0.5, 1.5]),
    lambda m: m.tensor([1, 2]) * 1.5,
    lambda m: m.tensor([1, 2]) * 2,
    lambda m: m.tensor([1, 2]) / 2,
    lambda m: m.tensor([1.0], dtype=m.float32) + m.tensor([1.0], dtype=m.float64),
    lambda m: m.tensor([1.0], dtype=m.float32) + 2.5,
    lambda m: m.tensor([1.0], dtype=m.float64) * 2,
    lambda m: m.tensor([True, False]) + m.tensor([1, 2]),
    lambda m: m.tensor([True, False]) + 1.5,
    lambda m: m.tensor([1, 2], dtype=m.int32) + m.tensor([1, 2]),
    lambda m: m.tensor([1, 2], dtype=m.int32) + 3,
], ids=["int+float", "int*pyfloat", "int*pyint", "int/pyint", "f32+f64", "f32+pyfloat",
        "f64*pyint", "bool+int", "bool+pyfloat", "i32+i64", "i32+pyint"])
def test_dtype_promotion_as_torch(make):
    ours, theirs = make(tt), make(torch)
    assert ours.numpy().dtype == theirs.numpy().dtype, (ours.numpy().dtype, theirs.numpy().dtype)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy())


# -- dims out of range ------------------------------------------------------------------------------
@pytest.mark.parametrize("call", [
    lambda x: x.unsqueeze(7), lambda x: x.permute(3, 0), lambda x: x.sum(dim=2),
    lambda x: x.transpose(0, 2), lambda x: x.softmax(dim=-3), lambda x: x.max(dim=5),
    lambda x: x.squeeze(4), lambda x: x.cumsum(dim=2), lambda x: x.flip(2),
    lambda x: tt.cat([x, x], dim=2), lambda x: x.argmax(dim=-3), lambda x: x.split(1, dim=9),
], ids=["unsqueeze", "permute", "sum", "transpose", "softmax", "max", "squeeze", "cumsum",
        "flip", "cat", "argmax", "split"])
def test_out_of_range_dims_raise_index_error_naming_dim_and_shape(call):
    x = tt.tensor(normal(2, 3))
    with pytest.raises(IndexError, match=r"dim") as info:
        call(x)
    assert "(2, 3)" in str(info.value) or "2, 3" in str(info.value)


def test_permute_must_name_every_dim_once():
    x = tt.tensor(normal(2, 3))
    with pytest.raises((IndexError, ValueError, RuntimeError)):
        x.permute(0, 0)
    with pytest.raises((IndexError, ValueError, RuntimeError)):
        x.permute(0)


# -- in place, with torch's safety ------------------------------------------------------------------
def test_sgd_step_written_the_torch_way_updates_the_parameter_itself():
    from tinytransformer.nn import Linear
    layer = Linear(3, 2)
    before = layer.weight.numpy().copy()
    weight = layer.weight
    loss = (layer(tt.ones(4, 3)) ** 2).sum()
    loss.backward()
    with tt.no_grad():
        for p in layer.parameters():
            p -= 0.1 * p.grad
    assert layer.weight is weight and any(p is weight for p in layer.parameters())
    np.testing.assert_allclose(weight.numpy(), before - 0.1 * weight.grad.numpy(), rtol=1e-6)
    with tt.no_grad():
        layer.weight -= 0.1
    assert layer.weight is weight


@pytest.mark.parametrize("op", ["add_", "sub_", "mul_", "div_"])
def test_in_place_arithmetic_matches_torch(op):
    data, other = normal(3, 4), positive(3, 4)
    ours, theirs = tt.tensor(data), torch.tensor(data)
    assert getattr(ours, op)(tt.tensor(other)) is ours
    getattr(theirs, op)(torch.tensor(other))
    np.testing.assert_allclose(ours.numpy(), theirs.numpy())


def test_augmented_assignment_zero_fill_copy_clamp():
    data = normal(3, 4)
    ours, theirs = tt.tensor(data), torch.tensor(data)
    for fn in [lambda x, m: x.__iadd__(1.0), lambda x, m: x.__isub__(m.tensor(data)),
               lambda x, m: x.__imul__(3.0), lambda x, m: x.__itruediv__(2.0),
               lambda x, m: x.clamp_(-0.5, 0.5), lambda x, m: x.fill_(2.0),
               lambda x, m: x.copy_(m.tensor(data)), lambda x, m: x.zero_()]:
        ident = id(ours)
        ours = fn(ours, tt)
        theirs = fn(theirs, torch)
        assert id(ours) == ident
        np.testing.assert_allclose(ours.numpy(), theirs.numpy())


def test_setitem_is_differentiable_where_torch_is():
    def build(m, x, v):
        y = x * 1.0
        y[1] = v * 2
        y[:, 0] = 0.0
        return y

    check_same(build, normal(3, 4), normal(4))


def test_grad_zero_and_requires_grad_():
    x = tt.tensor(normal(3), requires_grad=True)
    (x * x).sum().backward()
    x.grad.zero_()
    assert x.grad.tolist() == [0.0, 0.0, 0.0]
    y = tt.tensor(normal(3)).requires_grad_()
    assert y.requires_grad and y.requires_grad_(False) is y and not y.requires_grad


def test_in_place_on_a_leaf_that_requires_grad_raises():
    x = tt.tensor(normal(3), requires_grad=True)
    for call in [lambda: x.add_(1.0), lambda: x.zero_(), lambda: x.fill_(1.0),
                 lambda: x.__iadd__(1.0), lambda: x.__setitem__(0, 1.0)]:
        with pytest.raises(RuntimeError, match="leaf|in place|in-place"):
            call()
    torch_x = torch.tensor(normal(3), requires_grad=True)
    with pytest.raises(RuntimeError):
        torch_x.add_(1.0)


@pytest.mark.parametrize("modify", [
    lambda saved, leaf: saved.add_(1.0),
    lambda saved, leaf: saved.__imul__(2.0),
    lambda saved, leaf: saved.__setitem__(0, 5.0),
], ids=["add_", "imul", "setitem"])
def test_backward_through_a_tensor_modified_in_place_raises(modify):
    x = tt.tensor(normal(3), requires_grad=True)
    y = x.exp()          # Exp keeps its output for backward
    z = (y * 1.0).sum()
    modify(y, x)
    with pytest.raises(RuntimeError, match=r"(?i)modified by an in-?place operation") as info:
        (z + y.sum()).backward()
    assert "Exp" in str(info.value) or "exp" in str(info.value)


@pytest.mark.parametrize("modify", [
    lambda w: w.__setattr__("data", w.data - 0.0) if False else _sub_data(w),
    lambda w: _under_no_grad(lambda: w.add_(1.0)),
], ids=["data -= 1", "add_ under no_grad"])
def test_backward_after_changing_a_saved_leaf_raises(modify):
    w = tt.tensor(normal(3, 3), requires_grad=True)
    x = tt.tensor(normal(2, 3))
    loss = (x @ w).sum()         # MatMul keeps w for the gradient of x, and x for w
    loss2 = (w * w).sum()        # Mul keeps w
    modify(w)
    with pytest.raises(RuntimeError, match=r"(?i)modified by an in-?place operation"):
        loss2.backward()


def _sub_data(w):
    w.data -= 1


def _under_no_grad(fn):
    with tt.no_grad():
        fn()


def test_in_place_change_of_a_tensor_not_saved_is_fine():
    x = tt.tensor(normal(3), requires_grad=True)
    y = x * 2.0
    z = y + 1.0          # Add does not need y's values
    with tt.no_grad():
        y.add_(100.0)
    z.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0, 2.0])


# -- negative tests: wrong index dtypes name the operation ----------------------------------------------
@pytest.mark.parametrize("call, name", [
    (lambda x: x.gather(1, tt.tensor([[0.0, 1.0]])), "gather"),
    (lambda x: tt.index_select(x, 0, tt.tensor([0.5])), "index_select"),
    (lambda x: x[tt.tensor([0.0, 1.0])], "index"),
])
def test_float_indices_are_rejected_with_the_operation_named(call, name):
    x = tt.tensor(normal(2, 3))
    with pytest.raises((TypeError, IndexError), match=name):
        call(x)


# -- tinytensor.nn.functional, as torch.nn.functional ---------------------------------------------------
F_TT = pytest.importorskip("tinytensor.nn.functional") if False else None


def functional(m):
    return m.nn.functional


TARGETS_NC = np.array([0, 2, 1, 2, 0])
TARGETS_NCT = np.array([[0, 2, 1], [1, 1, 0]])
WEIGHTS_C = np.array([0.2, 1.0, 2.5])

SDPA_KEEP = R.uniform(size=(3, 5)) > 0.3   # drawn once: the same mask for both libraries

F_CASES = [
    ("cross-entropy-NC", lambda m, x: functional(m).cross_entropy(x, m.tensor(TARGETS_NC)),
     [normal(5, 3)]),
    ("cross-entropy-NCd", lambda m, x: functional(m).cross_entropy(x, m.tensor(TARGETS_NCT)),
     [normal(2, 3, 3)]),                              # C == T: class dim 1, not last
    ("cross-entropy-C", lambda m, x: functional(m).cross_entropy(x, m.tensor(1)), [normal(3)]),
    ("cross-entropy-weight-ignore-smoothing",
     lambda m, x: functional(m).cross_entropy(x, m.tensor(TARGETS_NCT), weight=m.tensor(WEIGHTS_C),
                                              ignore_index=1, label_smoothing=0.2),
     [normal(2, 3, 3)]),
    ("cross-entropy-sum", lambda m, x: functional(m).cross_entropy(
        x, m.tensor(TARGETS_NC), reduction="sum", label_smoothing=0.1), [normal(5, 3)]),
    ("cross-entropy-none", lambda m, x: functional(m).cross_entropy(
        x, m.tensor(TARGETS_NCT), reduction="none", ignore_index=0), [normal(2, 3, 3)]),
    ("cross-entropy-probabilities", lambda m, x, p: functional(m).cross_entropy(x, p.softmax(dim=1)),
     [normal(4, 3), normal(4, 3)]),
    ("nll-loss", lambda m, x: functional(m).nll_loss(x.log_softmax(dim=1), m.tensor(TARGETS_NC),
                                                    weight=m.tensor(WEIGHTS_C)), [normal(5, 3)]),
    ("gelu-exact", lambda m, x: functional(m).gelu(x), [normal(4, 5) * 3]),
    ("gelu-tanh", lambda m, x: functional(m).gelu(x, approximate="tanh"), [normal(4, 5) * 3]),
    ("softmax", lambda m, x: functional(m).softmax(x, dim=0), [normal(3, 4)]),
    ("log-softmax", lambda m, x: functional(m).log_softmax(x, dim=-1), [normal(3, 4)]),
    ("one-hot", lambda m, x: functional(m).one_hot(m.tensor(TARGETS_NC), 4), [normal(1)]),
    ("mse-loss", lambda m, x, y: functional(m).mse_loss(x, y), [normal(3, 4), normal(3, 4)]),
    ("mse-loss-sum", lambda m, x, y: functional(m).mse_loss(x, y, reduction="sum"), [normal(3), normal(3)]),
    ("l1-loss", lambda m, x, y: functional(m).l1_loss(x, y), [normal(3, 4), normal(3, 4)]),
    ("bce", lambda m, x, y: functional(m).binary_cross_entropy(x.sigmoid(), y.sigmoid()),
     [normal(3, 4), normal(3, 4)]),
    ("bce-with-logits", lambda m, x, y: functional(m).binary_cross_entropy_with_logits(x, y.sigmoid()),
     [normal(3, 4), normal(3, 4)]),
    ("bce-with-logits-pos-weight", lambda m, x, y: functional(m).binary_cross_entropy_with_logits(
        x, y.sigmoid(), pos_weight=m.tensor([1.0, 2.0, 0.5, 3.0])), [normal(3, 4), normal(3, 4)]),
    ("dropout-eval", lambda m, x: functional(m).dropout(x, p=0.5, training=False), [normal(3, 4)]),
    ("layer-norm", lambda m, x, w, b: functional(m).layer_norm(x, (4,), w, b, eps=1e-5),
     [normal(2, 3, 4), normal(4), normal(4)]),
    ("layer-norm-no-affine", lambda m, x: functional(m).layer_norm(x, [3, 4]), [normal(2, 3, 4)]),
    ("embedding", lambda m, w: functional(m).embedding(m.tensor(IDX), w), [normal(5, 3)]),
    ("linear", lambda m, x, w, b: functional(m).linear(x, w, b), [normal(2, 3, 4), normal(5, 4), normal(5)]),
    ("linear-no-bias", lambda m, x, w: functional(m).linear(x, w), [normal(3, 4), normal(2, 4)]),
    ("sdpa", lambda m, q, k, v: functional(m).scaled_dot_product_attention(q, k, v),
     [normal(2, 3, 4), normal(2, 5, 4), normal(2, 5, 6)]),
    ("sdpa-causal", lambda m, q, k, v: functional(m).scaled_dot_product_attention(q, k, v, is_causal=True),
     [normal(2, 2, 4, 8), normal(2, 2, 4, 8), normal(2, 2, 4, 8)]),
    ("sdpa-bool-mask", lambda m, q, k, v: functional(m).scaled_dot_product_attention(
        q, k, v, attn_mask=m.tensor(SDPA_KEEP) | m.tensor(np.eye(3, 5, dtype=bool))),
     [normal(2, 3, 4), normal(2, 5, 4), normal(2, 5, 4)]),
    ("sdpa-float-mask", lambda m, q, k, v, bias: functional(m).scaled_dot_product_attention(
        q, k, v, attn_mask=bias), [normal(2, 3, 4), normal(2, 5, 4), normal(2, 5, 4), normal(3, 5)]),
]


@pytest.mark.parametrize("case_id, fn, inputs", F_CASES, ids=[c[0] for c in F_CASES])
def test_functional_same_values_and_gradients_as_torch(case_id, fn, inputs):
    check_same(fn, *inputs)


def test_functional_is_importable_as_F():
    import tinytensor.nn.functional as F
    assert F.cross_entropy is tt.nn.functional.cross_entropy


def test_gelu_exact_is_accurate_to_float64_round_off():
    import tinytensor.nn.functional as F
    import math
    xs = np.linspace(-9, 9, 2001)
    exact = np.array([0.5 * x * (1 + math.erf(x / math.sqrt(2))) for x in xs])
    np.testing.assert_allclose(F.gelu(tt.tensor(xs)).numpy(), exact, rtol=1e-14, atol=1e-15)


# -- torch.autograd.functional -------------------------------------------------------------------------
def _cubic(x):
    return (x ** 3).sum() + (x[0] * x[1])


def _vector_fn(x, y):
    return (x * y.sum()).sin(), x.exp()


def test_jacobian_hessian_vjp_jvp_hvp_vhp_match_torch():
    from tinytensor.autograd import functional as AF
    import torch.autograd.functional as TF
    x0, v0 = normal(3), normal(3)
    xt, vt = torch.tensor(x0), torch.tensor(v0)
    xs, vs = tt.tensor(x0), tt.tensor(v0)

    np.testing.assert_allclose(AF.jacobian(lambda x: x.sin() * 2, xs).numpy(),
                               TF.jacobian(lambda x: x.sin() * 2, xt).numpy(), rtol=RTOL)
    np.testing.assert_allclose(AF.hessian(_cubic, xs).numpy(), TF.hessian(_cubic, xt).numpy(), rtol=RTOL)
    for ours, theirs in [(AF.vjp(lambda x: x.sin(), xs, vs), TF.vjp(lambda x: x.sin(), xt, vt)),
                         (AF.jvp(lambda x: x.sin(), xs, vs), TF.jvp(lambda x: x.sin(), xt, vt)),
                         (AF.hvp(_cubic, xs, vs), TF.hvp(_cubic, xt, vt)),
                         (AF.vhp(_cubic, xs, vs), TF.vhp(_cubic, xt, vt))]:
        assert len(ours) == len(theirs) == 2
        for a, b in zip(ours, theirs):
            np.testing.assert_allclose(as_numpy(a), as_numpy(b), rtol=RTOL, atol=ATOL)
    y0 = normal(2)
    ours = AF.jacobian(_vector_fn, (xs, tt.tensor(y0)))
    theirs = TF.jacobian(_vector_fn, (xt, torch.tensor(y0)))
    for row_ours, row_theirs in zip(ours, theirs):
        for a, b in zip(row_ours, row_theirs):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=RTOL, atol=ATOL)


def test_gradcheck_has_torch_autograd_names():
    from tinytensor.autograd import gradcheck, gradgradcheck
    x = tt.tensor(normal(3), requires_grad=True)
    assert gradcheck(lambda t: (t * t).sin(), (x,), eps=1e-6, atol=1e-5, rtol=1e-3)
    assert gradgradcheck(lambda t: (t * t).sin(), (x,))
