"""tinytensor.autograd, as torch.autograd.

engine.py is the whole of reverse-mode differentiation (grad modes, Function,
the backward walk, grad), read top to bottom; functional.py builds
jacobian, hessian and the vector products of torch.autograd.functional on it.
"""
from .engine import (Function, _Mode, backward, detect_anomaly, enable_grad, grad,
                     is_grad_enabled, no_grad, run_backward, set_grad_enabled)
from ..gradcheck import GradcheckError, gradcheck, gradgradcheck  # noqa: E402
from . import functional  # noqa: E402,F401

__all__ = ["Function", "backward", "detect_anomaly", "enable_grad", "functional", "grad",
           "gradcheck", "gradgradcheck", "GradcheckError", "is_grad_enabled", "no_grad",
           "set_grad_enabled"]
