"""Check analytic gradients against finite differences.

For a function f and a random upstream gradient v, backward computes
J^T v, the gradient of the scalar <f(x), v>. Central differences estimate
the same thing one element at a time:
    d<f, v>/dx_i ~ (<f(x + eps e_i), v> - <f(x - eps e_i), v>) / (2 eps)
with an error of order eps^2, small enough in float64. A random v (not all
ones) catches backward rules that only work when every output counts alike.
"""
import numpy as np

from . import backend
from .autograd.engine import grad
from .autograd.grad_mode import enable_grad, no_grad
from .tensor import Tensor, float64

__all__ = ["GradcheckError", "gradcheck", "gradgradcheck"]


class GradcheckError(AssertionError):
    """An analytic gradient disagrees with its finite-difference estimate."""


def _outputs(result):
    return list(result) if isinstance(result, (tuple, list)) else [result]


def _weighted_sum(outputs, weights):
    """<f(x), v> as a Python float, summed over all outputs."""
    return float(sum((o.data * w).sum() for o, w in zip(outputs, weights)))


# torch.autograd.gradcheck's options that change nothing here: our operations
# are deterministic, and the check is always the full (slow) one.
_TORCH_OPTIONS = {"nondet_tol", "check_undefined_grad", "check_grad_dtypes", "check_batched_grad",
                  "check_batched_forward_grad", "check_forward_ad", "check_backward_ad",
                  "fast_mode", "masked", "gen_non_contig_grad_outputs", "check_fwd_over_rev",
                  "check_rev_over_rev"}


def _check_options(options, name):
    unknown = set(options) - _TORCH_OPTIONS
    if unknown:
        raise TypeError(f"{name}() got unexpected keyword arguments {sorted(unknown)}")


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, seed=0,
              **options):
    """Compare func's backward with central differences for every input that
    requires grad, as torch.autograd.gradcheck. `inputs` is a tensor or a
    sequence; inputs that are checked must be float64.

    Returns True, or raises GradcheckError naming the input, the index of its
    worst element, and the analytic and numeric values there (returns False
    instead with raise_exception=False).
    """
    _check_options(options, "gradcheck")
    if not raise_exception:
        try:
            return gradcheck(func, inputs, eps=eps, atol=atol, rtol=rtol, seed=seed)
        except GradcheckError:
            return False
    fn = func
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad, nothing to check")
    for i in checked:
        if inputs[i].dtype != float64:
            raise TypeError(f"gradcheck: input {i} is {inputs[i].dtype}; finite differences need "
                            "float64 inputs (use .double())")
    outputs = _outputs(fn(*inputs))
    rng = np.random.default_rng(seed)
    weights = [backend.to_device(rng.standard_normal(o.shape), o.device) for o in outputs]
    differentiable = [o for o in outputs if o.requires_grad]
    if differentiable:
        seeds = [Tensor(w) for o, w in zip(outputs, weights) if o.requires_grad]
        analytic = grad(differentiable, [inputs[i] for i in checked], grad_outputs=seeds,
                        allow_unused=True)
    else:
        # No graph reaches the inputs, so the analytic gradient is zero. That is right
        # when fn is constant, as the gradient of a linear op is (see gradgradcheck);
        # if fn wrongly cut its graph, the numeric gradient below is not zero.
        analytic = [None] * len(checked)

    for i, g in zip(checked, analytic):
        x = inputs[i]
        exact = np.zeros(x.shape) if g is None else backend.to_numpy(g.data).astype(np.float64)
        numeric = np.zeros(x.shape)
        flat = x.data.reshape(-1)  # a view: editing it edits x
        with no_grad():
            for j in range(flat.size):
                original = flat[j].item()
                flat[j] = original + eps
                plus = _weighted_sum(_outputs(fn(*inputs)), weights)
                flat[j] = original - eps
                minus = _weighted_sum(_outputs(fn(*inputs)), weights)
                flat[j] = original
                numeric.reshape(-1)[j] = (plus - minus) / (2 * eps)
        error = np.abs(exact - numeric) - (atol + rtol * np.abs(numeric))
        if error.size and error.max() > 0:
            worst = np.unravel_index(int(error.argmax()), x.shape)
            name = f" ({x.name})" if x.name else ""
            cut = "" if differentiable else " (no output requires grad: the function cut the graph)"
            raise GradcheckError(
                f"gradcheck: gradient of input {i}{name}, shape {x.shape}, is wrong at index "
                f"{tuple(int(k) for k in worst)}: analytic {exact[worst]:.8g}, numeric "
                f"{numeric[worst]:.8g} (atol {atol}, rtol {rtol}); "
                f"{int((error > 0).sum())} of {error.size} elements differ{cut}")
    return True


def gradgradcheck(func, inputs, grad_outputs=None, *, eps=1e-6, atol=1e-5, rtol=1e-3,
                  raise_exception=True, seed=0, **options):
    """Check second derivatives, as torch.autograd.gradgradcheck: gradcheck the
    function x -> sum_i <d<f(x), v>/dx_i, u_i> (a Hessian-vector product),
    whose analytic gradient needs backward(create_graph=True) to be right.
    v is grad_outputs when given, random otherwise; u is random."""
    _check_options(options, "gradgradcheck")
    if not raise_exception:
        try:
            return gradgradcheck(func, inputs, grad_outputs, eps=eps, atol=atol, rtol=rtol, seed=seed)
        except GradcheckError:
            return False
    fn = func
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    rng = np.random.default_rng(seed + 1)
    first = _outputs(fn(*inputs))
    if grad_outputs is not None:
        v = _outputs(grad_outputs)
    else:
        v = [Tensor(backend.to_device(rng.standard_normal(o.shape), o.device)) for o in first]
    u = [backend.to_device(rng.standard_normal(inputs[i].shape), inputs[i].device)
         for i in checked]

    def directional_gradient(*args):
        with enable_grad():  # gradcheck evaluates us under no_grad; we need a graph inside
            outputs = [o for o in _outputs(fn(*args)) if o.requires_grad]
            grads = grad(outputs, [args[i] for i in checked], grad_outputs=v,
                         create_graph=True, allow_unused=True)
        total = None
        for g, direction in zip(grads, u):
            if g is not None:
                term = (g * Tensor(direction)).sum()
                total = term if total is None else total + term
        if total is None:
            raise GradcheckError("gradgradcheck: the gradient does not depend on the inputs")
        return total

    return gradcheck(directional_gradient, inputs, eps=eps, atol=atol, rtol=rtol, seed=seed)
