"""Weight initialisations, as torch.nn.init: each fills a parameter in place
(keeping its identity, so optimizers still hold it) from tinytensor's seeded
generator, so `tinytensor.manual_seed` makes a model's starting point repeatable."""
import math

import tinytensor as tt

__all__ = ["uniform_", "normal_", "zeros_", "xavier_uniform_", "zero_row_"]


def uniform_(p, low, high):
    """Fill p with values drawn uniformly from [low, high)."""
    with tt.no_grad():
        p.data = (tt.rand(p.shape, dtype=p.dtype, device=p.device) * (high - low) + low).data
    return p


def normal_(p, std=1.0):
    """Fill p with values drawn from N(0, std^2)."""
    with tt.no_grad():
        p.data = (tt.randn(p.shape, dtype=p.dtype, device=p.device) * std).data
    return p


def zeros_(p):
    """Fill p with zeros."""
    with tt.no_grad():
        p.data = tt.zeros(p.shape, dtype=p.dtype, device=p.device).data
    return p


def xavier_uniform_(p, gain=1.0):
    """Glorot & Bengio (2010): U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)),
    so activations and gradients keep their variance from layer to layer."""
    if p.ndim != 2:
        raise ValueError(f"xavier_uniform_ needs a 2-D weight (fan_out, fan_in), got shape {p.shape}")
    fan_out, fan_in = p.shape
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(p, -bound, bound)


def zero_row_(p, row):
    """Set row `row` of a 2-D weight to zero (an embedding's padding row)."""
    with tt.no_grad():
        is_row = tt.arange(p.shape[0], device=p.device) == row      # (rows,) bool
        p.data = tt.masked_fill(p, is_row.reshape(-1, 1), 0.0).data
    return p
