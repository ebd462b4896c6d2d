"""Reverse-mode automatic differentiation, the whole of it, top to bottom.

1. Function: one operation. Calling it computes the output from the inputs'
   arrays and, when an input requires grad, links the output back to it
   (`output.grad_fn` is the Function, `Function.next_functions` where each
   input's gradient goes). That chain of Functions is the computation graph.
   It also records the versions of the tensors its backward will read, so a
   tensor changed in place in between is caught (check_saved).
2. run_backward: walks the graph from the output back to the leaves, asks each
   Function for the gradients of its inputs (the chain rule) and adds up the
   gradients of a tensor that was used more than once.
3. grad: the same walk, returning the gradients instead of storing them.

`Tensor.backward()` (in tensor.py) and `grad()` both end in `run_backward`.
Whether a graph is recorded at all is switched in grad_mode.py (no_grad, ...).
"""
import heapq
import itertools
import weakref

from .. import backend
from ..tensor import Tensor, as_tensors
from .grad_mode import _Mode, _check_finite, set_grad_enabled


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

    Kept for backward: `inputs` (the input tensors), `output()` (the output
    tensor) and whatever `forward` saves on self. `next_functions` says where
    each input's gradient goes: the Function that made it, the tensor itself
    for a leaf that requires grad, or None.

    An operation whose backward does not read its inputs' values (add: dx =
    gy) sets `saves_inputs = False`, so that changing an input in place
    afterwards is allowed, as in torch; one that reads only some of them
    overrides `saved_inputs`.
    """

    twice_differentiable = True
    saves_inputs = True

    def __call__(self, *inputs):
        # The common case, kept cheap: every input already a tensor, all of one
        # array type (one device). Anything else goes through as_tensors.
        arrays, kind = [], None
        for x in inputs:
            if not isinstance(x, Tensor) or (kind is not None and type(x._data) is not kind):
                inputs = as_tensors(inputs, type(self).__name__)
                arrays = [x._data for x in inputs]
                break
            kind = type(x._data)
            arrays.append(x._data)
        y = self.forward(*arrays)
        if _Mode.detect_anomaly:
            _check_finite(y, "forward", self, inputs)
        out = Tensor._wrap(y)
        if getattr(y, "base", None) is not None:
            _share_memory_record(self, out, y, inputs)
        if not _Mode.grad_enabled or y.dtype.kind != "f":
            return out
        # Where each input's gradient goes, and whether any goes anywhere.
        next_functions, generation, requires_grad = [], 0, False
        for x in inputs:
            if x._base is not None and x._base.grad_fn is not x._base_grad_fn:
                _refresh_view(x)
            fn = x.grad_fn
            if fn is not None:
                next_functions.append(fn)
                if fn.generation > generation:
                    generation = fn.generation
            else:
                next_functions.append(x if x._requires_grad else None)
            requires_grad = requires_grad or x._requires_grad
        if requires_grad:
            out._requires_grad = True
            out.grad_fn = self
            self.inputs = inputs
            self.next_functions = next_functions
            if self.saves_inputs:
                self.saved_versions = [x._versions[0] for x in inputs]
            self._output = weakref.ref(out)
            self._output_version = out._versions[0]
            # One more than any input's Function: backward visits the larger generations first.
            self.generation = 1 + generation
        return out

    def forward(self, *arrays):
        raise NotImplementedError

    def backward(self, grad_output):
        """Return the gradient of each input (a Tensor, or None for no gradient)."""
        raise NotImplementedError

    def output(self):
        """The output tensor, for backward formulas written with it (exp: dx =
        gy * y). Raises if it was changed in place since forward."""
        out = self._output()
        if out._versions[0] != self._output_version:
            raise _modified_error(self, "its output", out, out._versions[0], self._output_version)
        return out

    def _set_output(self, out, keep_version=False):
        """Record `out` as the output: weakly, so the output does not keep
        itself alive through its own grad_fn. An in-place operation moves a
        tensor to the end of the graph and calls this (see Tensor._in_place)."""
        self._output = weakref.ref(out)
        if not keep_version:
            self._output_version = out._versions[0]

    @property
    def needs_input_grad(self):
        """For each input, whether backward must compute its gradient (torch's ctx.needs_input_grad)."""
        return tuple(edge is not None for edge in self.next_functions)

    def saved_inputs(self):
        """The positions of the inputs whose values backward reads."""
        return range(len(self.inputs)) if self.saves_inputs else ()

    def check_saved(self):
        """Raise if an input that backward reads was changed in place since forward."""
        for x, version in zip(self.inputs, self.saved_versions):  # the common case: none changed
            if x._versions[0] != version:
                break
        else:
            return
        for i in self.saved_inputs():
            x = self.inputs[i]
            if x._versions[0] != self.saved_versions[i]:
                raise _modified_error(self, f"input {i}", x, x._versions[0], self.saved_versions[i])

    def release(self):
        """Drop everything saved for backward, so its memory returns."""
        generation = self.generation
        self.__dict__.clear()
        self.inputs, self.generation = None, generation

    def __repr__(self):
        return f"<{type(self).__name__}>"


def _share_memory_record(fn, out, y, inputs):
    """A view (reshape, transpose, basic indexing) shares its input's memory:
    then it shares its version counter too, as in torch, so that changing
    either in place shows in both. A view picked by an index straight from its
    base remembers the index, so that an in-place change of the view can be
    recorded as one of the base (y[0:2] += w, see Tensor._in_place)."""
    for x in inputs:
        owner = x._data if x._data.base is None else x._data.base
        if y.base is owner or y.base is x._data:
            out._versions = x._versions
            out._base = x._base if x._base is not None else x
            out._base_grad_fn = out._base.grad_fn
            if x._base is None and getattr(fn, "index", None) is not None and len(inputs) == 1:
                out._view_index = fn.index
            return


def _refresh_view(view):
    """The base of this view was changed in place by a recorded operation after
    the view was made: the view shows the new values, so its place in the graph
    must be the new base's (torch regenerates it the same way)."""
    base = view._base
    if view._view_index is None:
        made_by = type(view.grad_fn).__name__ if view.grad_fn else "a view operation"
        raise RuntimeError(
            f"a view of shape {view.shape} (made by {made_by}) is used after its base (shape "
            f"{base.shape}) was changed in place by a recorded operation; tinytensor can "
            "rebuild the graph of views picked by an index only: make the view again after "
            "the change")
    from ..ops import getitem  # the operations are built on this module
    fresh = getitem(base, view._view_index)
    view.grad_fn, view._requires_grad = fresh.grad_fn, fresh._requires_grad
    if fresh.grad_fn is not None:
        fresh.grad_fn._set_output(view)
    view._base_grad_fn = base.grad_fn


def _modified_error(fn, what, tensor, version, expected):
    name = type(fn).__name__
    return RuntimeError(
        f"one of the tensors needed for the gradient of {name} has been modified by an "
        f"inplace operation: {what} of {name}, of shape {tensor.shape} and dtype "
        f"{tensor.dtype}, is at version {version}; expected version {expected} instead. "
        "Hint: change it out of place (y = y + 1 rather than y += 1), or change a "
        ".clone() of it")


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

    def send(edge, tensor, grad):
        """Deliver the gradient of `tensor` along an edge: to a leaf, where it
        adds up in results, or to a Function, which the first one queues."""
        if isinstance(edge, Tensor):
            _add_to(results, id(edge), edge, grad)
            return
        slot = pending.get(edge)
        if slot is not None:
            slot[1] = slot[1] + grad  # a tensor used twice receives two gradients: they add up
            return
        heapq.heappush(heap, (-edge.generation, next(order), edge))
        if tensor.grad_fn is not edge:  # changed in place since: the gradient is of its old value
            tensor = edge._output()
        pending[edge] = [tensor, grad]

    with set_grad_enabled(create_graph):  # a graph of the backward pass, if asked for
        for root, grad in zip(roots, root_grads):
            send(root if root.grad_fn is None else root.grad_fn, root, grad)
        while heap:
            fn = heapq.heappop(heap)[2]
            output, grad = pending.pop(fn)
            if fn.inputs is None:
                _check_graph_kept(fn)
            if output._hooks:
                grad = _apply_hooks(output, grad)
            if output._retains_grad:
                _keep_retained_grad(output, grad, create_graph)
            if wanted and id(output) in wanted:
                results[id(output)] = [output, grad]
            if create_graph:
                _check_twice_differentiable(fn, create_graph)
            for edge, x, gx in zip(fn.next_functions, fn.inputs, _backward(fn, grad)):
                if gx is None or edge is None:
                    continue
                if gx._data.shape != x._data.shape or gx._data.dtype != x._data.dtype:
                    gx = _fit(gx, x)
                if _Mode.detect_anomaly:
                    _check_finite(gx._data, "backward", fn, fn.inputs)
                send(edge, x, gx)
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


def _backward(fn, grad):
    """fn's backward: the gradients of its inputs, as a tuple (None: no gradient).
    run_backward then makes each fit its input (see _fit)."""
    if fn.saves_inputs:
        fn.check_saved()
    if _Mode.detect_anomaly:
        _Mode.detect_anomaly = False
        try:  # anomaly mode checks what fn's backward returns, naming fn, not each step inside
            input_grads = fn.backward(grad)
        finally:
            _Mode.detect_anomaly = True
    else:
        input_grads = fn.backward(grad)
    return input_grads if type(input_grads) is tuple else (input_grads,)


def _fit(gx, x):
    """Each gradient is made to fit its input here, in one place, so that no
    operation has to: summed back over the axes broadcasting added (sum_to),
    and cast to the input's dtype (float32 * float64 gives each its own)."""
    if gx._data.shape != x._data.shape:
        gx = gx.sum_to_size(x.shape)
    if gx._data.dtype != x._data.dtype:
        gx = gx.to(x.dtype)
    return gx


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
         only_inputs=True, allow_unused=None, is_grads_batched=False, materialize_grads=False):
    """The gradients of `outputs` with respect to `inputs`, as torch.autograd.grad:
    a tuple with one gradient per input (also for a single input tensor); the
    inputs' `.grad` is left alone.

    grad_outputs: the gradient to start from for each output (may be left out
    for scalar outputs). allow_unused: give None for an input the outputs do
    not depend on, instead of raising; materialize_grads: give zeros there.
    """
    if is_grads_batched:
        raise NotImplementedError("grad(): is_grads_batched=True is not supported; call grad() "
                                  "once per row of grad_outputs")
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    if len(grad_outputs) != len(outputs):
        raise RuntimeError(f"grad(): got {len(grad_outputs)} grad_outputs for {len(outputs)} outputs")
    seeds = []
    for i, (out, g) in enumerate(zip(outputs, grad_outputs)):
        if not out.requires_grad:
            raise RuntimeError(f"grad(): output {i} does not require grad and has no grad_fn "
                               "(no input of its graph has requires_grad=True)")
        if g is None:
            if out._data.size != 1:
                raise RuntimeError(f"grad(): output {i} of shape {out.shape} is not a scalar; "
                                   "pass grad_outputs (one gradient per output)")
            g = out._ones_like()
        elif g.shape != out.shape:
            raise RuntimeError(f"grad(): grad_outputs[{i}] has shape {g.shape}, but output {i} "
                               f"has shape {out.shape}")
        seeds.append(g)
    retain = create_graph if retain_graph is None else retain_graph
    grads = run_backward(outputs, seeds, retain, create_graph, inputs=inputs)
    for i, (t, g) in enumerate(zip(inputs, grads)):
        if g is None:
            if materialize_grads:
                grads[i] = Tensor(backend.xp_for(t.device).zeros(t.shape, dtype=t.dtype))
            elif not allow_unused:
                raise RuntimeError(f"grad(): input {i} (shape {t.shape}) was not used to compute "
                                   "the outputs; pass allow_unused=True to get None for it")
    return tuple(grads)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """torch.autograd.backward: tensor.backward() for several tensors at once,
    their gradients adding up in the leaves' `.grad`."""
    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    if grad_tensors is None or isinstance(grad_tensors, Tensor):
        grad_tensors = [grad_tensors] * len(tensors) if grad_tensors is None else [grad_tensors]
    seeds = []
    for t, g in zip(tensors, grad_tensors):
        if g is None:
            if t._data.size != 1:
                raise RuntimeError(f"backward(): a tensor of shape {t.shape} is not a scalar; "
                                   "pass grad_tensors")
            g = t._ones_like()
        seeds.append(g)
    retain = create_graph if retain_graph is None else retain_graph
    if inputs is None:
        run_backward(tensors, seeds, retain, create_graph)
        return
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    for t, g in zip(inputs, run_backward(tensors, seeds, retain, create_graph, inputs=inputs)):
        if g is not None:
            g = g if create_graph else g.detach().clone()
            t.grad = g if t.grad is None else t.grad + g
