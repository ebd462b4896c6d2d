"""The array backend: NumPy on the CPU, CuPy on an NVIDIA GPU.

This is the only module that imports cupy. Every operation asks it for the
array module (`xp`) of a device and writes its math against that, so the same
code runs on either device.
"""
import numpy as np

try:  # CuPy is optional: `pip install "tinytensor[gpu]"`.
    import cupy as _cupy
except ImportError:  # pragma: no cover - depends on the machine
    _cupy = None

DEVICES = ("cpu", "cuda")
_default_device = "cpu"
_generators = {}


def cuda_is_available():
    """True when CuPy is installed and sees at least one GPU."""
    if _cupy is None:
        return False
    try:
        return _cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # CuPy installed but no driver or no GPU
        return False


def check_device(device):
    """Return the canonical device name, or raise a clear error."""
    device = str(device)
    if device.startswith("cuda"):  # accept "cuda:0" as PyTorch users write it
        device = "cuda"
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}: expected 'cpu' or 'cuda'")
    if device == "cuda" and not cuda_is_available():
        if _cupy is None:
            raise RuntimeError(
                "device 'cuda' needs CuPy, which is not installed: "
                'pip install "tinytensor[gpu]" (or cupy-cuda12x / cupy-cuda13x for your CUDA)')
        raise RuntimeError("device 'cuda' asked for, but CuPy sees no GPU on this machine")
    return device


def xp_for(device):
    """The array module (numpy or cupy) that holds arrays on `device`."""
    return _cupy if device == "cuda" else np


def device_of(array):
    """'cuda' for a CuPy array, 'cpu' for anything else."""
    if _cupy is not None and isinstance(array, _cupy.ndarray):
        return "cuda"
    return "cpu"


def get_array_module(array):
    return xp_for(device_of(array))


def to_device(array, device):
    """Copy `array` to `device` (no copy if it is already there)."""
    if device_of(array) == device:
        return array
    if device == "cuda":
        return _cupy.asarray(array)
    return _cupy.asnumpy(array)


def to_numpy(array):
    return to_device(array, "cpu")


def set_default_device(device):
    """Where new tensors are created: 'cpu' (the default) or 'cuda'."""
    global _default_device
    _default_device = check_device(device)


def get_default_device():
    return _default_device


def manual_seed(seed):
    """Seed the random generator of every backend, so runs are reproducible."""
    _generators.clear()
    _generators["seed"] = int(seed)


def get_rng_state(device="cpu"):
    """The state of a device's random generator, as a JSON-friendly dict (for checkpoints)."""
    return {"seed": _generators.setdefault("seed", 0),
            "bit_generator": generator(device).bit_generator.state}


def set_rng_state(state, device="cpu"):
    """Restore what get_rng_state returned, so a resumed run draws the same numbers."""
    _generators["seed"] = state["seed"]
    generator(device).bit_generator.state = state["bit_generator"]


def generator(device):
    """The backend's one seeded random generator (NumPy or CuPy `Generator`)."""
    if device not in _generators:
        seed = _generators.setdefault("seed", 0)
        _generators[device] = xp_for(device).random.default_rng(seed)
    return _generators[device]


def scatter_add(target, indices, values):
    """target[indices] += values, with repeated indices accumulating.

    For whole rows of a 2-D target picked by 1-D integer indices (the embedding
    backward, sparse updates), NumPy's add.at is many times faster on single
    elements than on rows, so the rows are scattered as flat element indices
    row * width + column."""
    xp = xp_for(device_of(target))
    if (target.ndim == 2 and getattr(indices, "ndim", 0) == 1 and indices.dtype.kind in "iu"
            and target.flags.c_contiguous):
        width = target.shape[1]
        dtype = xp.int32 if target.size < 2**31 else xp.int64   # half the memory traffic
        rows = indices.astype(dtype, copy=False) % target.shape[0]
        flat = (rows * dtype(width))[:, None] + xp.arange(width, dtype=dtype)
        target, indices = target.reshape(-1), flat.reshape(-1)
        values = xp.broadcast_to(values, (len(rows), width)).reshape(-1)
    if device_of(target) == "cuda":
        import cupyx
        cupyx.scatter_add(target, indices, values)
    else:
        np.add.at(target, indices, values)
