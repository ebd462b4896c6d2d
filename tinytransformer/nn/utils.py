"""Gradient clipping, as torch.nn.utils: call between backward() and step().

    loss.backward()
    clip_grad_norm_(model.parameters(), max_norm=1.0)
    optimizer.step()
"""
import math

import tinytensor as tt
from tinytensor import Tensor, backend

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _with_grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale the gradients so that their global norm is at most max_norm.

    The norm is taken over all gradients together, as if they were one long
    vector (parameters without a gradient are skipped). When it exceeds
    max_norm, every gradient is multiplied by max_norm / (norm + 1e-6), which
    keeps the update's direction and shortens it. Returns the norm before
    clipping, as a 0-d tensor (as torch; float(norm) for a number) - worth
    logging: spikes show instability.

    The gradients are scaled in place, as torch's: no second copy of them is
    made (at shape M that would be 210 MB). A gradient may share memory with
    another: backward hands one array to both inputs of an Add (scaled once),
    and cat's backward hands out views of one array, side by side (each scaled
    in place); a gradient that overlaps another in any other way gets a new,
    scaled tensor instead.
    """
    max_norm, norm_type = float(max_norm), float(norm_type)
    params = _with_grads(parameters)
    if not params:
        return tt.tensor(0.0)
    device = params[0].grad.device
    with tt.no_grad():
        # One norm per gradient, gathered on one device so the total costs one
        # transfer, then the norm of those norms: torch's way, for any norm_type.
        norms = tt.foreach_norm([p.grad for p in params], norm_type)
        total = tt.norm(tt.stack([n.to(device) for n in norms]), norm_type)
        total_norm = float(total.item())
        if error_if_nonfinite and not math.isfinite(total_norm):
            raise RuntimeError(f"clip_grad_norm_: the total norm of the gradients is {total_norm}; "
                               "a NaN or Inf came out of backward (try tinytensor.detect_anomaly)")
        clip_coef = max_norm / (total_norm + 1e-6)
        if clip_coef < 1.0:
            in_place, overlapping = _memory_once([p.grad for p in params])
            tt.foreach_mul_(in_place, clip_coef)     # shared between the threads
            for p in params:
                if id(p.grad._data) in overlapping:
                    p.grad = p.grad * clip_coef
    return total


def _memory_once(grads):
    """(the gradients to scale in place, each piece of memory once; the ids of the
    arrays that overlap another gradient's memory, whose gradients get new tensors).

    Gradients that are one array count once. The arrays are sorted by where their
    memory starts; a run of them whose memory ranges overlap, one after another,
    is left out whole (as is an array that is not one contiguous range)."""
    arrays, overlapping = {}, set()
    for g in grads:
        arrays.setdefault(id(g._data), g)
    ranges = []
    for key, g in arrays.items():
        span = backend.memory_range(g._data)
        if span is None:
            overlapping.add(key)
        else:
            ranges.append((span, key))
    ranges.sort()
    runs = []                          # [end of the run's memory, the arrays in it]
    for (start, stop), key in ranges:
        if runs and start < runs[-1][0]:
            runs[-1][0] = max(runs[-1][0], stop)
            runs[-1][1].append(key)
        else:
            runs.append([stop, [key]])
    in_place = []
    for _, keys in runs:
        if len(keys) == 1:
            in_place.append(arrays[keys[0]])
        else:
            overlapping.update(keys)
    return in_place, overlapping


def clip_grad_value_(parameters, clip_value):
    """Clamp every gradient element to [-clip_value, clip_value] (each p.grad
    replaced by a new, clamped tensor). Returns None, as torch."""
    clip_value = float(clip_value)
    with tt.no_grad():
        for p in _with_grads(parameters):
            p.grad = p.grad.clamp(-clip_value, clip_value)
