"""Reverse-mode automatic differentiation, the whole of it, top to bottom.

1. Grad modes: whether operations record a graph, and anomaly detection.
2. Function: one operation. Calling it computes the output from the inputs'
   arrays and, when an input requires grad, links the output back to it
   (`output.grad_fn` is the Function, `Function.inputs` its input tensors).
   That chain of Functions is the computation graph.
3. run_backward: walks the graph from the output back to the leaves, asks each
   Function for the gradients of its inputs (the chain rule) and adds up the
   gradients of a tensor that was used more than once.
4. grad: the same walk, returning the gradients instead of storing them.

`Tensor.backward()` (in tensor.py) and `grad()` both end in `run_backward`.
"""
import heapq
import itertools
import weakref

from . import backend
from .tensor import Tensor, as_tensors


# ----------------------------------------------------------------------------
# Grad modes: recording the graph, and anomaly detection
# ----------------------------------------------------------------------------
class _Mode:
    grad_enabled = True
    detect_anomaly = False


class set_grad_enabled:
    """Turn graph recording on or off, as a context manager or a decorator."""

    def __init__(self, mode):
        self.mode = bool(mode)

    def __enter__(self):
        self.previous = _Mode.grad_enabled
        _Mode.grad_enabled = self.mode

    def __exit__(self, *exc):
        _Mode.grad_enabled = self.previous

    def __call__(self, func):
        def wrapper(*args, **kwargs):
            with set_grad_enabled(self.mode):
                return func(*args, **kwargs)
        wrapper.__name__, wrapper.__doc__ = func.__name__, func.__doc__
        return wrapper


class no_grad(set_grad_enabled):
    """Run without recording a graph: inference, optimizer steps, evaluation."""

    def __init__(self):
        super().__init__(False)


class enable_grad(set_grad_enabled):
    """Record a graph again inside a `no_grad` block."""

    def __init__(self):
        super().__init__(True)


def is_grad_enabled():
    return _Mode.grad_enabled


class detect_anomaly:
    """Check every forward and backward result for NaN/Inf and name the culprit."""

    def __enter__(self):
        self.previous = _Mode.detect_anomaly
        _Mode.detect_anomaly = True

    def __exit__(self, *exc):
        _Mode.detect_anomaly = self.previous


def _check_finite(array, where, fn, inputs):
    if array is None or array.dtype.kind != "f":
        return
    xp = backend.get_array_module(array)
    if not bool(xp.isfinite(array).all()):
        shapes = ", ".join(str(tuple(x.shape)) for x in inputs)
        raise FloatingPointError(
            f"{type(fn).__name__} produced NaN or Inf in its {where} "
            f"(input shapes {shapes}, result shape {tuple(array.shape)})")


# ----------------------------------------------------------------------------
# Function: one node of the graph
# ----------------------------------------------------------------------------
class Function:
    """One operation: `forward` computes on raw arrays, `backward` maps the
    output's gradient to the inputs' gradients.

    Backward is written with Tensor operations, so that with
    `create_graph=True` the gradient is itself part of a graph and can be
    differentiated again. Fused operations whose backward works on raw arrays
    for speed set `twice_differentiable = False`.

    Attributes kept for backward: `inputs` (the input tensors), `output` (a
    weak reference to the output tensor) and whatever `forward` saves on self.
    """

    twice_differentiable = True

    def __call__(self, *inputs):
        inputs = as_tensors(inputs, type(self).__name__)
        y = self.forward(*[x.data for x in inputs])
        if _Mode.detect_anomaly:
            _check_finite(y, "forward", self, inputs)
        out = Tensor._wrap(y)
        if _Mode.grad_enabled and any(x._requires_grad for x in inputs) and y.dtype.kind == "f":
            out._requires_grad = True
            out.grad_fn = self
            self.inputs = inputs
            self.output = weakref.ref(out)  # weak: the output must not keep itself alive
            # One more than any input's Function: backward visits the larger generations first.
            self.generation = 1 + max(x.grad_fn.generation if x.grad_fn else 0 for x in inputs)
        return out

    def forward(self, *arrays):
        raise NotImplementedError

    def backward(self, grad_output):
        """Return the gradient of each input (a Tensor, or None for no gradient)."""
        raise NotImplementedError

    def release(self):
        """Drop everything saved for backward, so its memory returns."""
        generation = self.generation
        self.__dict__.clear()
        self.inputs, self.generation = None, generation

    def __repr__(self):
        return f"<{type(self).__name__}>"


# ----------------------------------------------------------------------------
# The backward engine
# ----------------------------------------------------------------------------
def run_backward(roots, root_grads, retain_graph, create_graph, inputs=None):
    """Propagate gradients from `roots` back through the graph.

    Functions are visited in decreasing generation (a Function always has a
    higher generation than the Functions that made its inputs), so when a
    Function is visited, every use of its output has already sent its
    gradient. The visit order comes from a heap, not recursion, so a chain of
    any length works.

    With `inputs` given (tinytensor.grad), their gradients are returned instead
    of being added to `.grad`.
    """
    pending = {}     # Function -> [its output, the gradient summed so far]
    results = {}     # id(tensor) -> [tensor, its gradient]: leaves, and the wanted inputs
    wanted = {id(t) for t in inputs} if inputs is not None else set()
    heap, order = [], itertools.count()  # order: first come, first served among equals

    def send(tensor, grad):
        """Deliver one gradient to `tensor`; the first one queues its Function."""
        fn = tensor.grad_fn
        if fn is None:
            _add_to(results, id(tensor), tensor, grad)
            return
        if fn not in pending:
            heapq.heappush(heap, (-fn.generation, next(order), fn))
        _add_to(pending, fn, tensor, grad)

    with set_grad_enabled(create_graph):  # a graph of the backward pass, if asked for
        for root, grad in zip(roots, root_grads):
            send(root, grad)
        while heap:
            fn = heapq.heappop(heap)[2]
            output, grad = pending.pop(fn)
            _check_graph_kept(fn)
            grad = _apply_hooks(output, grad)
            _keep_retained_grad(output, grad, create_graph)
            if id(output) in wanted:
                results[id(output)] = [output, grad]
            _check_twice_differentiable(fn, create_graph)
            for x, gx in _input_grads(fn, grad):
                send(x, gx)
            if not retain_graph:
                fn.release()

    for slot in results.values():
        if slot[0].grad_fn is None:  # a non-leaf's hooks already ran above
            slot[1] = _apply_hooks(slot[0], slot[1])
    if inputs is not None:
        return [results[id(t)][1] if id(t) in results else None for t in inputs]
    _hand_out_leaf_grads(results.values(), create_graph)
    return None


def _add_to(totals, key, tensor, grad):
    """A tensor used twice receives two gradients: they add up."""
    slot = totals.get(key)
    if slot is None:
        totals[key] = [tensor, grad]
    else:
        slot[1] = slot[1] + grad


def _check_graph_kept(fn):
    if fn.inputs is None:
        raise RuntimeError(
            f"trying to backward through {type(fn).__name__} a second time: its graph "
            "was freed by the first backward(); pass retain_graph=True to keep it")


def _apply_hooks(tensor, grad):
    """Call the tensor's hooks in turn; a hook that returns a tensor replaces the gradient."""
    for hook in tensor._hooks:
        replaced = hook(grad)
        if replaced is not None:
            grad = replaced
    return grad


def _keep_retained_grad(tensor, grad, create_graph):
    """A non-leaf that asked for retain_grad() adds its gradient to `.grad`."""
    if tensor._retains_grad:
        kept = grad if create_graph else grad.detach()
        tensor.grad = kept if tensor.grad is None else tensor.grad + kept


def _check_twice_differentiable(fn, create_graph):
    if create_graph and not fn.twice_differentiable:
        raise RuntimeError(
            f"{type(fn).__name__} is a fused operation whose backward is not "
            "differentiable; create_graph=True cannot go through it")


def _input_grads(fn, grad):
    """fn's backward: (input, gradient) for each input that requires grad.

    Each gradient is made to fit its input here, in one place, so that no
    operation has to: summed back over the axes broadcasting added (sum_to),
    and cast to the input's dtype (float32 * float64 gives each its own).
    """
    anomaly, _Mode.detect_anomaly = _Mode.detect_anomaly, False
    try:  # anomaly mode checks what fn's backward returns, naming fn, not each step inside
        input_grads = fn.backward(grad)
    finally:
        _Mode.detect_anomaly = anomaly
    if not isinstance(input_grads, tuple):
        input_grads = (input_grads,)
    fitted = []
    for x, gx in zip(fn.inputs, input_grads):
        if gx is None or not x._requires_grad:
            continue
        if gx.shape != x.shape:
            gx = sum_to(gx, x.shape)
        if gx.dtype != x.dtype:
            gx = cast(gx, x.dtype)
        if _Mode.detect_anomaly:
            _check_finite(gx.data, "backward", fn, fn.inputs)
        fitted.append((x, gx))
    return fitted


def _hand_out_leaf_grads(leaf_grads, create_graph):
    """Add each leaf's gradient to its `.grad`.

    Without create_graph, a leaf's .grad holds an array of its own that may be
    written: backward may send one array to two leaves (x + y), or a read-only
    broadcast view (the backward of a sum).
    """
    handed_out = set()
    for leaf, grad in leaf_grads:
        if not create_graph:
            data = grad.data
            if id(data) in handed_out or not data.flags.c_contiguous or not getattr(
                    data.flags, "writeable", True):
                data = data.copy()
            handed_out.add(id(data))
            grad = Tensor(data)
        leaf.grad = grad if leaf.grad is None else leaf.grad + grad


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=False):
    """The gradients of `outputs` with respect to `inputs`, returned as a list
    (the inputs' `.grad` is left alone), as `torch.autograd.grad`."""
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    seeds = []
    for out, g in zip(outputs, grad_outputs):
        if g is None:
            if out.size != 1:
                raise RuntimeError(f"grad(): output of shape {out.shape} is not a scalar; "
                                   "pass grad_outputs")
            g = out._ones_like()
        seeds.append(g)
    retain = create_graph if retain_graph is None else retain_graph
    grads = run_backward(outputs, seeds, retain, create_graph, inputs=inputs)
    for t, g in zip(inputs, grads):
        if g is None and not allow_unused:
            raise RuntimeError(f"grad(): an input of shape {t.shape} was not used to compute "
                               "the outputs; pass allow_unused=True to get None for it")
    return grads[0] if single else grads


# The operations are built on Function (above), so they can only be imported once it exists.
from .ops import cast, sum_to  # noqa: E402
