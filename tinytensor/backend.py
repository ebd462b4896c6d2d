"""The array backend: NumPy on the CPU, CuPy on an NVIDIA GPU.

This is the only module that imports cupy. Every operation asks it for the
array module (`xp`) of a device and writes its math against that, so the same
code runs on either device.
"""
import ctypes
import math
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np

try:  # CuPy is optional: `pip install "tinytensor[gpu]"`.
    import cupy as _cupy
except Exception as error:  # pragma: no cover - not installed, or its CUDA libraries broken
    _cupy = None
    _CUPY_IMPORT_ERROR = error
else:
    _CUPY_IMPORT_ERROR = None

def keep_freed_memory():
    """Ask glibc's malloc to keep freed blocks for reuse instead of handing them back.

    Every NumPy result is a fresh array. glibc serves a large one (above 128 KiB
    at first) with a fresh mapping from the kernel and returns it on free, so
    the next array of that size faults in every page again: 105,000 page
    faults a training step at benchmark shape M, about a tenth of the step.
    With blocks up to 32 MiB taken from the heap and up to 1 GiB of free heap
    kept, the next step reuses the same memory (about 100 faults a step). Resident
    memory then stays at its peak instead of falling between steps.

    Called once when tinytensor is imported, on Linux with glibc only; it does
    nothing when TINYTENSOR_KEEP_FREED_MEMORY=0 or when MALLOC_MMAP_THRESHOLD_ /
    MALLOC_TRIM_THRESHOLD_ are set (glibc's own settings win). Returns whether
    it changed anything."""
    if sys.platform != "linux" or os.environ.get("TINYTENSOR_KEEP_FREED_MEMORY", "1") == "0" \
            or any(k in os.environ for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt     # the C library this process already runs on
    except (OSError, AttributeError):           # not glibc (musl has no mallopt)
        return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3   # glibc's malloc.h
    return bool(mallopt(M_MMAP_THRESHOLD, 32 * 2**20)) and bool(mallopt(M_TRIM_THRESHOLD, 2**30))


KEEPS_FREED_MEMORY = keep_freed_memory()


def numpy_openblas():
    """NumPy's OpenBLAS library, opened with ctypes, or None (not Linux, another BLAS).

    The library is found among those this process has loaded; where SciPy's
    wheel has brought a second OpenBLAS (scipy.libs/), NumPy's own is taken."""
    if sys.platform != "linux":
        return None
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower() and ".so" in line}
        numpy_libs = os.path.dirname(os.path.dirname(np.__file__)) + os.sep + "numpy.libs" + os.sep
        paths = {path for path in paths if path.startswith(numpy_libs)} or paths
        return ctypes.CDLL(paths.pop()) if len(paths) == 1 else None
    except OSError:
        return None


OPENBLAS = numpy_openblas()

# OpenBLAS's idle threads spin for 2^BLAS_SPIN_LOG2 CPU cycles before they sleep (see below).
BLAS_SPIN_LOG2 = 19


def short_blas_spin():
    """Let OpenBLAS's idle threads sleep after about 0.2 ms (2^19 cycles) instead of 0.1 s.

    After each matrix product, OpenBLAS's worker threads spin, waiting for the
    next one, for 2^28 cycles by default. A training step runs a product every
    few milliseconds, so its other cores never rest: they spin right through the
    elementwise work in between, and the threads of tinytensor's own loops
    (run_in_parts) find them taken. Measured on 2 cores: np.exp over (1280, 4000)
    right after a product took 2.9 ms on one thread and 3.1 ms split over two;
    with the short spin, 1.8 ms. The spin still bridges back-to-back products
    (a Linear's backward makes two); with shorter ones (2^16) each product pays
    for waking a sleeping thread and a small model's step is 7% slower.

    OPENBLAS_THREAD_TIMEOUT is read when OpenBLAS starts its threads, which
    NumPy's import has already done, so this sets it, has OpenBLAS read its
    environment again and stops its threads (as OpenBLAS itself does before a
    fork); the next product starts them with the new setting. The numbers do
    not change, only when idle threads sleep. Called once when tinytensor is
    imported; it does nothing when OPENBLAS_THREAD_TIMEOUT is already set (yours
    wins), when TINYTENSOR_SHORT_BLAS_SPIN=0, or when NumPy's BLAS is not an
    OpenBLAS with its own threads (MKL, Accelerate, an OpenMP build). Returns
    whether it changed anything."""
    if os.environ.get("TINYTENSOR_SHORT_BLAS_SPIN", "1") == "0" \
            or "OPENBLAS_THREAD_TIMEOUT" in os.environ:
        return False
    try:
        read_environment, stop_threads = OPENBLAS.openblas_read_env, OPENBLAS.blas_thread_shutdown_
    except AttributeError:      # no OpenBLAS (None has no attributes either)
        return False
    os.environ["OPENBLAS_THREAD_TIMEOUT"] = str(BLAS_SPIN_LOG2)
    read_environment()
    stop_threads()
    return True


SHORTENS_BLAS_SPIN = short_blas_spin()


def _cblas(library, routine, argtypes):
    """{dtype: function} for float32 and float64 from NumPy's OpenBLAS: CBLAS's
    s<routine> and d<routine>, called with ctypes (which lets go of the GIL
    during the call, as NumPy does). argtypes(scalar) gives the arguments' C
    types, scalar the dtype's. Only the 64-bit-integer builds NumPy's wheels
    ship (their symbols end in 64_); {} for any other BLAS, whose integer
    width we cannot know."""
    found = {}
    for dtype, letter, scalar in ((np.float32, "s", ctypes.c_float), (np.float64, "d", ctypes.c_double)):
        for name in (f"scipy_cblas_{letter}{routine}64_", f"cblas_{letter}{routine}64_"):
            function = getattr(library, name, None)     # None (no OpenBLAS) has none
            if function is not None:
                function.argtypes = argtypes(scalar)
                function.restype = None
                found[np.dtype(dtype)] = function
                break
    return found


_INTEGER, _POINTER = ctypes.c_int64, ctypes.c_void_p
# gemm(layout, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc): C = alpha A B + beta C
_GEMM = _cblas(OPENBLAS, "gemm", lambda scalar: [ctypes.c_int] * 3 + [_INTEGER] * 3 + [
    scalar, _POINTER, _INTEGER, _POINTER, _INTEGER, scalar, _POINTER, _INTEGER])
# axpby(n, alpha, x, incx, beta, y, incy): y = alpha x + beta y (OpenBLAS's extension of BLAS)
_AXPBY = _cblas(OPENBLAS, "axpby", lambda scalar: [_INTEGER, scalar, _POINTER, _INTEGER,
                                                   scalar, _POINTER, _INTEGER])
_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112    # CBLAS's enum values


def _blas_layout(a):
    """(transposed, leading dimension) for a 2-D array that BLAS can read as it
    lies in memory: rows or columns contiguous, each at a fixed positive stride;
    None otherwise (it would need a copy)."""
    size = a.itemsize
    rows, columns = a.strides
    if columns == size and rows >= max(1, a.shape[1]) * size and rows % size == 0:
        return _NO_TRANS, rows // size
    if rows == size and columns >= max(1, a.shape[0]) * size and columns % size == 0:
        return _TRANS, columns // size
    return None


def addmm(bias, a, b):
    """bias + a @ b for 2-D arrays, bias broadcast to the product's shape (m, n), as
    torch.addmm(bias, a, b), on which torch's linear layer runs too.

    With NumPy's own OpenBLAS (float32, float64) it is one BLAS call: the output
    starts as a copy of the bias, and gemm adds the product to it (C = A B + C).
    NumPy's a @ b + bias makes BLAS zero a fresh output first, then takes a second
    pass over it for the sum; at benchmark shape M the Linear layers' bias sums
    took about 20 ms a step. The numbers equal a @ b + bias to rounding (BLAS adds
    the product to the bias a block of k at a time). Anything else - CuPy, another
    BLAS, an array BLAS cannot read in place - is a @ b, then += bias."""
    gemm = _GEMM.get(a.dtype) if type(a) is np.ndarray and type(b) is np.ndarray else None
    layouts = (_blas_layout(a), _blas_layout(b)) if gemm is not None and a.ndim == b.ndim == 2 \
        and a.dtype == b.dtype == bias.dtype and a.shape[1] == b.shape[0] else (None,)
    if None in layouts or 0 in a.shape + b.shape:
        out = get_array_module(a).matmul(a, b)
        out += bias
        return out
    (m, k), n = a.shape, b.shape[1]
    (trans_a, lda), (trans_b, ldb) = layouts
    out = np.empty((m, n), dtype=a.dtype)
    bias = np.broadcast_to(bias, (m, n))

    def start_from_bias(rows):  # the copy of a large output's bias shared between the threads,
        out[rows] = bias[rows]  # as torch's copy is: one core alone took 3 ms of 26 for vocab 8000
    run_on_rows(out, start_from_bias)
    gemm(_ROW_MAJOR, trans_a, trans_b, m, n, k, 1.0, a.ctypes.data, lda, b.ctypes.data, ldb,
         1.0, out.ctypes.data, n)
    return out


def axpby_(alpha, x, beta, y):
    """y = alpha x + beta y, in place on y, for NumPy arrays x and y of one shape
    and dtype, y contiguous and writable (BLAS's axpby). Returns y.

    With NumPy's OpenBLAS (float32, float64) it is one call and one pass over
    x and y, which lets go of the GIL. Its kernel may round differently from
    NumPy's y * beta + alpha * x, which rounds three times: the one picked on
    CPUs with AVX-512 (SkylakeX: an Intel and an AMD EPYC Zen 4 here) rounds
    alpha x + (beta y) once, a fused multiply-add, so the last bit can differ;
    the one picked on an AVX2 AMD EPYC (Haswell) gives NumPy's bits. The bits do not depend on where the
    arrays are cut. Anything else (another BLAS, a strided x) is those NumPy
    lines: y *= beta, then y += alpha * x. Adam's walk (tt.adam_step_) is
    three of these and four NumPy calls a block, where it was thirteen NumPy
    calls."""
    axpby = _AXPBY.get(y.dtype) if type(x) is np.ndarray and type(y) is np.ndarray else None
    if axpby is None or x.dtype != y.dtype or x.shape != y.shape or not (
            x.flags.c_contiguous and y.flags.c_contiguous and y.flags.writeable):
        y *= beta
        y += alpha * x
    elif y.size:
        axpby(y.size, alpha, _address(x), 1, beta, _address(y), 1)
    return y


def _address(a):
    """The address of a contiguous NumPy array's first element, for ctypes. A
    writable array's is read from ctypes' view of its buffer (0.3 us), anything
    else's from a.ctypes (0.9 us): on the small parameters of a model Adam
    calls axpby_ often enough for the difference to show."""
    if a.flags.writeable:
        return ctypes.addressof(ctypes.c_char.from_buffer(a))
    return a.ctypes.data


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
        raise RuntimeError(_why_no_cuda())
    return device


def _why_no_cuda():
    """What stands between this machine and device 'cuda', and what to install."""
    install = ('pip install -e ".[gpu]" for CUDA 12 or ".[gpu-cuda13]" for CUDA 13 '
               "(the CuPy wheel must match the CUDA major version of the NVIDIA driver, "
               "which `nvidia-smi` shows)")
    if _cupy is None:
        if isinstance(_CUPY_IMPORT_ERROR, ImportError) and "cupy" in str(_CUPY_IMPORT_ERROR):
            return f"device 'cuda' needs CuPy, which is not installed: {install}"
        return f"device 'cuda': CuPy is installed but failed to import ({_CUPY_IMPORT_ERROR}); {install}"
    try:
        count = _cupy.cuda.runtime.getDeviceCount()
    except Exception as error:  # no driver, or a driver too old for this CuPy
        return (f"device 'cuda': CuPy {_cupy.__version__} is installed but cannot reach an NVIDIA "
                f"GPU ({type(error).__name__}: {error}); this needs an NVIDIA GPU with its driver, "
                f"and {install}")
    return f"device 'cuda': CuPy {_cupy.__version__} sees {count} GPUs on this machine"


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
    device = check_device(device)
    return {"seed": _generators.setdefault("seed", 0), "device": device,
            "bit_generator": generator(device).state}


def set_rng_state(state, device="cpu"):
    """Restore what get_rng_state returned, so a resumed run draws the same numbers."""
    device = check_device(device)
    if state.get("device", "cpu") != device:
        raise ValueError(f"set_rng_state: this state is of the {state.get('device', 'cpu')} "
                         f"generator, not of {device}'s")
    _generators["seed"] = state["seed"]
    generator(device).state = state["bit_generator"]


def generator(device):
    """The backend's one seeded random generator of a device."""
    if device not in _generators:
        seed = _generators.setdefault("seed", 0)
        _generators[device] = _CudaGenerator(seed) if device == "cuda" else _CpuGenerator(seed)
    return _generators[device]


class _CpuGenerator:
    """NumPy's default generator (PCG64), whose state is a plain dict."""

    def __init__(self, seed):
        self._rng = np.random.default_rng(seed)

    @property
    def state(self):
        return self._rng.bit_generator.state

    @state.setter
    def state(self, value):
        self._rng.bit_generator.state = value

    def random(self, shape, dtype="float64"):
        return self._rng.random(shape, dtype=dtype)

    def standard_normal(self, shape, dtype="float64"):
        return self._rng.standard_normal(shape, dtype=dtype)

    def keep_mask(self, shape, p):
        """Dropout's mask: a boolean array, each element True with probability 1 - p.

        Think of each element's uniform number as u = (b + v) / 256, b a random
        byte and v uniform in [0, 1); the element is dropped when u < p. Only b
        is drawn for every element (a quarter of the random bits of a float32):
        b below floor(256 p) is dropped, above it kept, and only the elements
        whose b is exactly floor(256 p) (one in 256) draw v. So the probability
        is p itself, not p rounded to a multiple of 1/256."""
        n = math.prod(shape)
        level = 256 * p
        whole = int(level)
        raw = self._rng.bit_generator.random_raw(-(-n // 8)).view(np.uint8)[:n]
        edge = np.flatnonzero(raw == whole)
        keep = np.greater(raw, whole, out=raw.view(np.bool_))  # over the bytes: one array fewer
        keep[edge] = self._rng.random(len(edge)) >= level - whole
        return keep.reshape(shape)

    def integers(self, low, high, shape, dtype="int64"):
        return self._rng.integers(low, high, shape, dtype=dtype)

    def permutation(self, n):
        return self._rng.permutation(n)


class _CudaGenerator:
    """CuPy's generators keep their state on the GPU and cannot be saved
    ("Random states cannot be serialized", CuPy's docs), so a resumed run could
    not draw the same numbers. This one is counter-based instead: draw number n
    comes from a fresh Philox4x32-10 stream keyed by (seed, n), so the whole
    state is two integers, saved in a checkpoint like the CPU's."""

    def __init__(self, seed):
        self.seed, self.draws = int(seed), 0

    @property
    def state(self):
        return {"seed": self.seed, "draws": self.draws}

    @state.setter
    def state(self, value):
        self.seed, self.draws = int(value["seed"]), int(value["draws"])

    def _next(self, shape):
        count = max(1, int(np.prod(shape, dtype=np.int64)))
        self.draws += 1
        bits = _cupy.random.Philox4x3210(seed=[self.seed, self.draws], size=count)
        return _cupy.random.Generator(bits)

    def random(self, shape, dtype="float64"):
        return self._next(shape).random(shape, dtype=dtype)

    def standard_normal(self, shape, dtype="float64"):
        return self._next(shape).standard_normal(shape, dtype=dtype)

    def keep_mask(self, shape, p):
        """Dropout's mask: True with probability 1 - p (a float32 draw each)."""
        return self.random(shape, dtype="float32") >= p

    def integers(self, low, high, shape, dtype="int64"):
        return self._next(shape).integers(low, high, shape, dtype=dtype)

    def permutation(self, n):
        return _cupy.argsort(self.random((n,)))


def memory_range(array):
    """(its first byte's address, one past its last byte's) for an array whose
    elements lie in one contiguous range of memory (NumPy or CuPy); None for one
    with gaps (a strided view), whose range would say nothing about what it holds."""
    if not (array.flags.c_contiguous or array.flags.f_contiguous):
        return None
    start = array.ctypes.data if type(array) is np.ndarray else array.data.ptr
    return start, start + array.nbytes


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


# ----------------------------------------------------------------------------
# Threads
# ----------------------------------------------------------------------------
def _default_num_threads():
    """torch's default: OMP_NUM_THREADS when it is set, else the cores this
    process may run on."""
    given = os.environ.get("OMP_NUM_THREADS", "").strip()
    if given.isdigit() and int(given) > 0:
        return int(given)
    cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
    return max(1, len(cores))


_threads = {"count": _default_num_threads(), "pool": None}


def set_num_threads(n):
    """How many threads tinytensor's own CPU loops may use (torch.set_num_threads).

    NumPy runs every operation on one thread, except its matrix products, whose
    BLAS library has threads of its own (set by OPENBLAS_NUM_THREADS or
    OMP_NUM_THREADS before NumPy is imported). The loops that split work over
    these threads are the large ones where one thread leaves the other cores
    idle: Adam's update, foreach_mul_, and the fused operations' large arrays
    (run_on_rows: layer norm with its residual, ReLU with dropout, attention,
    cross-entropy)."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise RuntimeError(f"set_num_threads expects an int, but got {type(n).__name__}")
    if n < 1:
        raise RuntimeError(f"set_num_threads expects a positive integer, got {n}")
    if n != _threads["count"]:
        _drop_pool()
        _threads["count"] = n


def get_num_threads():
    """The number of threads set by set_num_threads (torch.get_num_threads)."""
    return _threads["count"]


def _drop_pool():
    pool, _threads["pool"] = _threads["pool"], None
    if pool is not None:
        pool.shutdown(wait=False)


if hasattr(os, "register_at_fork"):  # a forked child has none of its parent's threads
    os.register_at_fork(after_in_child=lambda: _threads.update(pool=None))


def run_in_parts(size, work, min_part):
    """Call work(start, stop) on contiguous parts of range(size), one part per
    thread, each at least min_part long, and return when all are done.

    NumPy releases Python's lock (the GIL) while its loops run, so a part made
    of a few large NumPy calls runs on a core of its own; the calling thread
    does the first part itself. An exception in any part is raised here."""
    parts = max(1, min(_threads["count"], size // max(1, min_part)))
    if parts == 1:
        work(0, size)
        return
    if _threads["pool"] is None:
        _threads["pool"] = ThreadPoolExecutor(_threads["count"] - 1, thread_name_prefix="tinytensor")
    bounds = [size * i // parts for i in range(parts + 1)]
    others = [_threads["pool"].submit(work, bounds[i], bounds[i + 1]) for i in range(1, parts)]
    try:
        work(bounds[0], bounds[1])
    finally:
        for future in others:   # wait for every part, even when this one failed
            future.exception()
    for future in others:
        future.result()


# A part handed to another thread must be large: waking an idle thread takes about
# 0.1 ms on a virtual machine whose idle core has halted, one in-place pass over 2 MB.
MIN_ELEMENTS_PER_THREAD = 1 << 18


# run_on_rows cuts an array into at most this many parts, whatever the threads.
MAX_ROW_PARTS = 16


def run_on_rows(array, work, min_elements=None):
    """Call work(rows) on parts of a large NumPy array's first axis, rows a slice,
    the parts shared between the threads (run_in_parts); on a small array, one
    of fewer than 2 dims or a CuPy one (the GPU runs the loops), call work(...)
    once, the whole array.

    For work made of a few NumPy passes over each row (elementwise, or along the
    last axis) that writes each element once: each thread's part stays in its
    core's cache. Pass a smaller min_elements for work of many passes.

    The parts depend on the array's size only - a power of two of them, each of
    at least min_elements, at most MAX_ROW_PARTS - and one thread runs them one
    after the other: so the numbers do not depend on the number of threads, even
    where a part's rounding depends on its rows (BLAS's row sums do)."""
    min_elements = min_elements or MIN_ELEMENTS_PER_THREAD
    parts = min(MAX_ROW_PARTS, array.shape[0] if array.ndim else 1, array.size // min_elements)
    if type(array) is not np.ndarray or array.ndim < 2 or parts < 2:
        work(...)
        return
    parts = 1 << (parts.bit_length() - 1)       # a power of two: even shares for 2, 4, 8 threads
    bounds = [array.shape[0] * i // parts for i in range(parts + 1)]

    def run_parts(first, last):
        for part in range(first, last):
            work(slice(bounds[part], bounds[part + 1]))
    run_in_parts(parts, run_parts, min_part=1)
