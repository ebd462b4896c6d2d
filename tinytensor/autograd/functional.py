"""Jacobians, Hessians and their products with vectors, as torch.autograd.functional.

Everything here is built on reverse mode (`grad`):

    vjp(f, x, v)   = v^T J              one backward pass
    jvp(f, x, v)   = J v                two: g(u) = J^T u is linear in u, so
                                        J v = d<g(u), v>/du (the "double-vjp trick")
    jacobian(f, x) = J                  one backward pass per output element
    hessian(f, x)  = the jacobian of the gradient
    vhp(f, x, v)   = v^T H              the gradient of <grad f, v>
    hvp(f, x, v)   = H v                the double-vjp trick on grad f

`inputs` is a tensor or a tuple of tensors, and results come back in the same
form: a tuple where torch gives a tuple. The functions never touch the
inputs' `.grad`. With create_graph=True the results are part of a graph (to
differentiate them again); otherwise they are detached. strict=True raises
where an output does not depend on an input, instead of giving zeros.
"""
from .. import backend
from ..tensor import Tensor
from .engine import grad
from .grad_mode import enable_grad

__all__ = ["vjp", "jvp", "jacobian", "hessian", "vhp", "hvp"]


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T J): the vector-Jacobian product, J the Jacobian of
    func at inputs. v has the outputs' shapes; it may be left out when func
    returns a single element."""
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "vjp")
        inputs = _prepare_inputs(inputs, create_graph)
        is_outputs_tuple, outputs = _as_tuple(func(*inputs), "outputs of the user-provided function",
                                              "vjp")
        if v is None:
            if len(outputs) != 1 or outputs[0].numel() != 1:
                raise RuntimeError("vjp: the vector v can only be None if the user-provided "
                                   "function returns a single tensor with a single element")
        else:
            v = _check_vectors(v, outputs, is_outputs_tuple, "vjp")
        grads = _grads(outputs, inputs, v, create_graph=create_graph)
        result = _zeros_where_unused(grads, inputs, strict, "vjp")
    return (_unpack(_finish(outputs, create_graph), is_outputs_tuple),
            _unpack(_finish(result, create_graph), is_inputs_tuple))


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), J v): the Jacobian-vector product (forward mode), built
    from two reverse passes. v has the inputs' shapes; it may be left out when
    the input is a single element."""
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jvp")
        inputs = _prepare_inputs(inputs, create_graph)
        if v is None:
            if len(inputs) != 1 or inputs[0].numel() != 1:
                raise RuntimeError("jvp: the vector v can only be None if the input to the "
                                   "user-provided function is a single tensor with a single element")
        else:
            v = _check_vectors(v, inputs, is_inputs_tuple, "jvp")
        is_outputs_tuple, outputs = _as_tuple(func(*inputs), "outputs of the user-provided function",
                                              "jvp")
        # g(u) = J^T u, with u a dummy that requires grad; g is linear in u, so d<g(u), v>/du = J v.
        dummies = tuple(_zeros(out, requires_grad=True) for out in outputs)
        g = _grads(outputs, inputs, dummies, create_graph=True)
        if v is None:
            v = (_ones(inputs[0]),)
        used = [(gi, vi) for gi, vi in zip(g, v) if gi is not None]
        jv = _grads([gi for gi, _ in used], dummies, [vi for _, vi in used],
                    create_graph=create_graph) if used else (None,) * len(dummies)
        result = _zeros_where_unused(jv, outputs, strict, "jvp")
    return (_unpack(_finish(outputs, create_graph), is_outputs_tuple),
            _unpack(_finish(result, create_graph), is_outputs_tuple))


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False,
             strategy="reverse-mode"):
    """The Jacobian of func at inputs: for output i and input j, a tensor of
    shape outputs[i].shape + inputs[j].shape. One tensor for one output and
    one input; a tuple over inputs (or outputs) where those are a tuple, and a
    tuple of tuples [i][j] where both are. (vectorize and strategy are
    accepted for torch's signature; the rows are computed one by one.)"""
    if strategy not in ("reverse-mode", "forward-mode"):
        raise ValueError(f"jacobian: strategy must be 'reverse-mode' or 'forward-mode', got "
                         f"{strategy!r}")
    from .. import ops
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jacobian")
        inputs = _prepare_inputs(inputs, create_graph)
        is_outputs_tuple, outputs = _as_tuple(func(*inputs), "outputs of the user-provided function",
                                              "jacobian")
        rows_per_output = []
        for i, out in enumerate(outputs):
            rows = [[] for _ in inputs]  # rows[j]: d out.flat[k] / d inputs[j], for each k
            flat = out.reshape(-1)
            for k in range(out.numel()):
                grads = _grads((flat[k],), inputs, retain_graph=True, create_graph=create_graph)
                for j, (g, x) in enumerate(zip(grads, inputs)):
                    if g is None:
                        if strict:
                            raise RuntimeError(f"jacobian: output {i} of the user-provided function "
                                               f"is independent of input {j}; this is not allowed "
                                               "in strict mode")
                        g = _zeros(x)
                    rows[j].append(g)
            rows_per_output.append(tuple(
                ops.stack(r, 0).reshape(out.shape + x.shape) if r else _zeros_shaped(out.shape + x.shape, x)
                for r, x in zip(rows, inputs)))
        result = tuple(_finish(r, create_graph) for r in rows_per_output)
    return _unpack(result, (is_outputs_tuple, is_inputs_tuple))


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False,
            outer_jacobian_strategy="reverse-mode"):
    """The Hessian of a function with a single-element output: for inputs i
    and j, a tensor of shape inputs[i].shape + inputs[j].shape (one tensor for
    one input, a tuple of tuples for a tuple of inputs)."""
    is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "hessian")

    def scalar_func(*args):
        out = _single_element(func(*args), "hessian")
        return out.reshape(())

    def gradient(*args):
        return jacobian(scalar_func, args, create_graph=True, strict=strict)

    result = jacobian(gradient, inputs, create_graph=create_graph, strict=strict)
    return _unpack(result, (is_inputs_tuple, is_inputs_tuple))


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T H): the vector-Hessian product of a function with a
    single-element output, the gradient of <grad func, v>."""
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "vhp")
        inputs = _prepare_inputs(inputs, create_graph)
        v = _vectors_for_inputs(v, inputs, is_inputs_tuple, "vhp")
        output = _single_element(func(*inputs), "vhp")
        first = _grads((output,), inputs, create_graph=True)
        used = [(g, vi, x) for g, vi, x in zip(first, v, inputs) if g is not None]
        second = _grads([g for g, _, _ in used], inputs, [vi for _, vi, _ in used],
                        create_graph=create_graph) if used else (None,) * len(inputs)
        result = _zeros_where_unused(second, inputs, strict, "vhp")
    return _finish((output,), create_graph)[0], _unpack(_finish(result, create_graph), is_inputs_tuple)


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), H v): the Hessian-vector product of a function with a
    single-element output, by the double-vjp trick on its gradient. (For a
    function with continuous second derivatives H is symmetric, and hvp
    equals vhp.)"""
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "hvp")
        inputs = _prepare_inputs(inputs, create_graph)
        v = _vectors_for_inputs(v, inputs, is_inputs_tuple, "hvp")
        output = _single_element(func(*inputs), "hvp")
        first = _grads((output,), inputs, create_graph=True)
        dummies = tuple(_zeros(x, requires_grad=True) for x in inputs)
        used = [(g, u) for g, u in zip(first, dummies) if g is not None]
        # H^T u as a function of the dummy u; its vjp with v is H v
        back = _grads([g for g, _ in used], inputs, [u for _, u in used], create_graph=True) \
            if used else (None,) * len(inputs)
        used = [(b, vi) for b, vi in zip(back, v) if b is not None]
        second = _grads([b for b, _ in used], dummies, [vi for _, vi in used],
                        create_graph=create_graph) if used else (None,) * len(inputs)
        result = _zeros_where_unused(second, inputs, strict, "hvp")
    return _finish((output,), create_graph)[0], _unpack(_finish(result, create_graph), is_inputs_tuple)


# ----------------------------------------------------------------------------
# The helpers: torch's conventions for inputs, outputs and unused inputs
# ----------------------------------------------------------------------------
def _as_tuple(value, what, fn_name):
    """(was it a tuple or list, the tensors as a tuple)."""
    is_tuple = isinstance(value, (tuple, list))
    values = tuple(value) if is_tuple else (value,)
    for i, x in enumerate(values):
        if not isinstance(x, Tensor):
            raise TypeError(f"{fn_name}: the {what} must be a tensor or a tuple of tensors, but "
                            f"element {i} is a {type(x).__name__}")
    return is_tuple, values


def _prepare_inputs(inputs, create_graph):
    """Inputs that require grad, as tensors of their own: with create_graph and
    an input that already requires grad, a differentiable copy (the results can
    then be differentiated with respect to the caller's tensor); else a
    detached one."""
    prepared = []
    for x in inputs:
        if create_graph and x.requires_grad:
            prepared.append(x.clone())
        else:
            prepared.append(x.detach().requires_grad_(True))
    return tuple(prepared)


def _check_vectors(v, tensors, is_tuple, fn_name):
    _, v = _as_tuple(v, "v", fn_name)
    if len(v) != len(tensors):
        raise RuntimeError(f"{fn_name}: v has {len(v)} tensors, but there are {len(tensors)}")
    for i, (vi, t) in enumerate(zip(v, tensors)):
        if vi.shape != t.shape:
            raise RuntimeError(f"{fn_name}: mismatch in shape for v[{i}]: expected {t.shape}, "
                               f"got {vi.shape}")
    return v


def _vectors_for_inputs(v, inputs, is_inputs_tuple, fn_name):
    if v is None:
        if len(inputs) != 1 or inputs[0].numel() != 1:
            raise RuntimeError(f"{fn_name}: the vector v can only be None if the input to the "
                               "user-provided function is a single tensor with a single element")
        return (_ones(inputs[0]),)
    return _check_vectors(v, inputs, is_inputs_tuple, fn_name)


def _single_element(out, fn_name):
    if not isinstance(out, Tensor):
        raise RuntimeError(f"{fn_name}: the function should return a single tensor, got "
                           f"{type(out).__name__}")
    if out.numel() != 1:
        raise RuntimeError(f"{fn_name}: the tensor returned by the function should contain a "
                           f"single element, got shape {out.shape}")
    return out


def _grads(outputs, inputs, grad_outputs=None, create_graph=False, retain_graph=None):
    """grad() over the outputs that require grad; None for every input if none does."""
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    kept = [(out, g) for out, g in zip(outputs, grad_outputs) if out is not None and out.requires_grad]
    if not kept:
        return (None,) * len(inputs)
    return grad([out for out, _ in kept], list(inputs), [g for _, g in kept],
                retain_graph=retain_graph, create_graph=create_graph, allow_unused=True)


def _zeros_where_unused(grads, like, strict, fn_name):
    result = []
    for i, (g, x) in enumerate(zip(grads, like)):
        if g is None:
            if strict:
                raise RuntimeError(f"{fn_name}: the output of the user-provided function is "
                                   f"independent of input {i}; this is not allowed in strict mode")
            g = _zeros(x)
        result.append(g)
    return tuple(result)


def _ones(like):
    return Tensor(backend.xp_for(like.device).ones(like.shape, dtype=like.dtype))


def _zeros(like, requires_grad=False):
    return _zeros_shaped(like.shape, like, requires_grad)


def _zeros_shaped(shape, like, requires_grad=False):
    zeros = backend.xp_for(like.device).zeros(shape, dtype=like.dtype)
    return Tensor(zeros, requires_grad=requires_grad)


def _finish(tensors, create_graph):
    """Without create_graph, results come back cut off from the graph."""
    return tuple(t if create_graph else t.detach() for t in tensors)


def _unpack(result, was_tuple):
    """Give back a bare tensor where the caller gave one (torch's _tuple_postprocess).
    was_tuple is one flag, or (outputs were a tuple, inputs were a tuple)."""
    if isinstance(was_tuple, tuple):
        outputs_tuple, inputs_tuple = was_tuple
        if not inputs_tuple:
            result = tuple(row[0] for row in result)
        if not outputs_tuple:
            result = result[0]
        return result
    return result if was_tuple else result[0]
