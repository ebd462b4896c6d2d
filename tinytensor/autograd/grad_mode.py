"""Grad modes, as torch.autograd.grad_mode: whether operations record a graph
(no_grad, enable_grad, set_grad_enabled), and anomaly detection, which checks
every forward and backward result for NaN/Inf and names the operation."""
from .. import backend


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
