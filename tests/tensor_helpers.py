"""What the test modules share besides fixtures: whether CUDA is here, and seeded
float64 test tensors. Test modules import it by name (`from tensor_helpers import
make_tensor`); tests/conftest.py puts this folder on sys.path."""
import numpy as np

import tinytensor as tt

HAS_CUDA = tt.cuda_is_available()
NO_CUDA_REASON = "CUDA is not available (needs CuPy and an NVIDIA GPU)"


def make_tensor(rng, shape, device="cpu", requires_grad=True, low=None, high=None,
                dtype=np.float64):
    """A float64 tensor on `device` with values from the seeded NumPy `rng`:
    standard normal, or uniform in [low, high) when both are given."""
    if low is not None and high is not None:
        values = rng.uniform(low, high, size=shape)
    else:
        values = rng.standard_normal(shape)
    return tt.tensor(np.asarray(values, dtype=dtype), device=device, requires_grad=requires_grad)
