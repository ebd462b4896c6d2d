"""Gradient clipping, as torch.nn.utils: call between backward() and step().

    loss.backward()
    clip_grad_norm_(model.parameters(), max_norm=1.0)
    optimizer.step()
"""
import math

import tinytensor as tt
from tinytensor import Tensor

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
    made (at shape M that would be 210 MB). Backward can hand one array to two
    parameters (Add's gradient goes to both inputs), so each array is scaled
    once; a gradient that is a view of another array gets a new tensor instead.
    """
    max_norm, norm_type = float(max_norm), float(norm_type)
    params = _with_grads(parameters)
    if not params:
        return tt.tensor(0.0)
    device = params[0].grad.device
    with tt.no_grad():
        # One norm per gradient, gathered on one device so the total costs one transfer.
        if norm_type == math.inf:
            norms = [p.grad.abs().max().to(device) for p in params]
            total = norms[0]
            for n in norms[1:]:
                total = tt.maximum(total, n)
        elif norm_type == 2.0:  # the common case: each gradient's norm is one dot product
            total = sum(tt.norm(p.grad).to(device) ** 2 for p in params) ** 0.5
        else:
            total = sum((p.grad.abs() ** norm_type).sum().to(device) for p in params)
            total = total ** (1.0 / norm_type)
        total_norm = float(total.item())
        if error_if_nonfinite and not math.isfinite(total_norm):
            raise RuntimeError(f"clip_grad_norm_: the total norm of the gradients is {total_norm}; "
                               "a NaN or Inf came out of backward (try tinytensor.detect_anomaly)")
        clip_coef = max_norm / (total_norm + 1e-6)
        if clip_coef < 1.0:
            scaled, in_place = set(), []
            for p in params:
                data = p.grad.data
                if getattr(data, "base", None) is not None:    # a view: maybe shares memory
                    p.grad = p.grad * clip_coef
                elif id(data) not in scaled:
                    scaled.add(id(data))
                    in_place.append(p.grad)
            tt.foreach_mul_(in_place, clip_coef)   # shared between the threads
    return total


def clip_grad_value_(parameters, clip_value):
    """Clamp every gradient element to [-clip_value, clip_value] (each p.grad
    replaced by a new, clamped tensor). Returns None, as torch."""
    clip_value = float(clip_value)
    with tt.no_grad():
        for p in _with_grads(parameters):
            p.grad = p.grad.clamp(-clip_value, clip_value)
