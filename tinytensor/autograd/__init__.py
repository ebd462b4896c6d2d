"""tinytensor.autograd, as torch.autograd.

engine.py is the whole of reverse-mode differentiation (Function, the backward
walk, grad), read top to bottom; grad_mode.py switches recording on and off; functional.py builds
jacobian, hessian and the vector products of torch.autograd.functional on it.
"""
from .grad_mode import (_Mode, detect_anomaly, enable_grad, is_grad_enabled, no_grad,
                        set_grad_enabled)
from .engine import Function, backward, grad, run_backward
from ..gradcheck import GradcheckError, gradcheck, gradgradcheck  # noqa: E402
from . import functional  # noqa: E402,F401

__all__ = ["Function", "backward", "detect_anomaly", "enable_grad", "functional", "grad",
           "gradcheck", "gradgradcheck", "GradcheckError", "is_grad_enabled", "no_grad",
           "set_grad_enabled"]
