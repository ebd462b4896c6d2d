"""Shared fixtures: the devices to run on, and seeded float64 test tensors.

`device` runs a test once per device: "cpu" always, and "cuda" (marked
`gpu`) where CuPy sees a GPU; elsewhere the cuda run is skipped with a reason.
"""
import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

# tests/tinytensor and tests/tinytransformer have the packages' names and no __init__.py. When
# pytest is run as `pytest` (not `python -m pytest`), the repository root is not on sys.path,
# and `import tinytensor` would find the test folder (a namespace package) instead of the package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))   # for tensor_helpers

from tinytensor import backend as _backend  # noqa: E402
# what test modules import too: from a module of its own name, since `from conftest import`
# finds whichever conftest.py pytest imported last (tests/tinytransformer/translation has one)
from tensor_helpers import HAS_CUDA, NO_CUDA_REASON, make_tensor  # noqa: E402,F401

_tensor_module = importlib.import_module("tinytensor.tensor")  # the module, not tt.tensor()

DEVICE_PARAMS = [
    pytest.param("cpu", id="cpu"),
    pytest.param("cuda", id="cuda",
                 marks=[pytest.mark.gpu, pytest.mark.skipif(not HAS_CUDA, reason=NO_CUDA_REASON)]),
]


@pytest.fixture(params=DEVICE_PARAMS)
def device(request):
    """The device name a test runs on: "cpu", or "cuda" where there is a GPU."""
    return request.param


@pytest.fixture
def backend(device):
    """The array module (numpy or cupy) of the device under test."""
    return _backend.xp_for(device)


@pytest.fixture
def rng():
    """A NumPy generator with a fixed seed, fresh for every test."""
    return np.random.default_rng(1234)


@pytest.fixture
def make(rng, device):
    """make(shape, **kw): a float64 tensor from the test's seeded rng, on the test's device."""
    def factory(shape, **kwargs):
        return make_tensor(rng, shape, device, **kwargs)
    return factory


@pytest.fixture(autouse=True)
def _restore_global_state():
    """Leave grad mode, anomaly mode and the default device as a test found them."""
    grad_enabled = _tensor_module._Mode.grad_enabled
    anomaly = _tensor_module._Mode.detect_anomaly
    default_device = _backend.get_default_device()
    yield
    _tensor_module._Mode.grad_enabled = grad_enabled
    _tensor_module._Mode.detect_anomaly = anomaly
    _backend._default_device = default_device
