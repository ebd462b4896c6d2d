"""tinytensor: a small tensor library with reverse-mode automatic differentiation.

    import tinytensor as tt
    x = tt.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    x.grad          # tensor([2., 4., 6.])
"""
from .backend import (cuda_is_available, get_default_device, get_num_threads, get_rng_state,
                      manual_seed, set_default_device, set_num_threads, set_rng_state)
# tensor.py comes first: it imports the engine (autograd/) and the operations at its end.
from .dtypes import (DEFAULT_FLOAT, bool_, can_cast, complex64, complex128, double, float16,
                     float32, float64, get_default_dtype, half, int8, int16, int32, int64,
                     is_floating_point, long, promote_types, result_type, short, uint8)
from .tensor import Parameter, Tensor
from . import autograd  # tinytensor.autograd, as torch.autograd (with .functional)
from .autograd import (Function, detect_anomaly, enable_grad, grad, is_grad_enabled, no_grad,
                       set_grad_enabled)
from .creation import *  # noqa: F401,F403
from .ops import *  # noqa: F401,F403
from .ops import OPS, reference  # reference: the fused operations written plainly
from . import nn  # tinytensor.nn.functional, as torch.nn.functional
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .graph import draw_graph, render_graph, save_graph  # graphviz is imported only when used

# torch's dtype names that are also Python's: tt.bool, tt.float, tt.int (as torch.bool, ...).
# Set last, so that the builtins keep their meaning in this file above.
bool = bool_  # noqa: A001
float = float32  # noqa: A001
int = int32  # noqa: A001

__version__ = "0.1.0"
