"""The backend: device errors that say what to install, and random generator
states that a checkpoint can hold (CPU, and the counter-based CUDA generator's
logic checked on NumPy, since CuPy's own states cannot be saved)."""
import os
import subprocess
import sys
import types

import numpy as np
import pytest

import tinytensor as tt
from tinytensor import backend


def test_cuda_without_cupy_says_what_to_install(monkeypatch):
    monkeypatch.setattr(backend, "_cupy", None)
    monkeypatch.setattr(backend, "_CUPY_IMPORT_ERROR", ImportError("No module named 'cupy'"))
    with pytest.raises(RuntimeError, match=r'needs CuPy.*pip install -e "\.\[gpu\]"'):
        tt.set_default_device("cuda")
    assert tt.get_default_device() == "cpu"


def test_cuda_with_cupy_but_no_gpu_names_the_driver_error(monkeypatch):
    def no_driver():
        raise RuntimeError("cudaErrorInsufficientDriver")
    fake = types.SimpleNamespace(__version__="14.0", cuda=types.SimpleNamespace(
        runtime=types.SimpleNamespace(getDeviceCount=no_driver)))
    monkeypatch.setattr(backend, "_cupy", fake)
    assert not tt.cuda_is_available()
    with pytest.raises(RuntimeError, match="cannot reach an NVIDIA GPU.*InsufficientDriver.*nvidia-smi"):
        backend.check_device("cuda:0")


def test_cpu_rng_state_round_trips_and_names_its_device():
    tt.manual_seed(5)
    state = tt.get_rng_state()
    first = tt.rand(4).numpy()
    tt.set_rng_state(state)
    np.testing.assert_array_equal(tt.rand(4).numpy(), first)
    cuda_state = {"seed": 5, "device": "cuda", "bit_generator": {"seed": 5, "draws": 0}}
    with pytest.raises(ValueError, match="cuda generator, not of cpu"):
        tt.set_rng_state(cuda_state)


def test_counter_based_cuda_generator_resumes_exactly(monkeypatch):
    """The CUDA generator's state is (seed, number of draws): restoring it gives
    the same next draws. CuPy is stood in for by NumPy's Philox here."""
    fake_random = types.SimpleNamespace(
        Philox4x3210=lambda seed, size: np.random.Philox(np.random.SeedSequence(seed)),
        Generator=np.random.Generator)
    monkeypatch.setattr(backend, "_cupy", types.SimpleNamespace(random=fake_random, argsort=np.argsort))
    gen = backend._CudaGenerator(seed=3)
    gen.random((2, 3), dtype="float32")
    saved = dict(gen.state)
    expected = [gen.random((4,)), gen.standard_normal((2, 2)), gen.integers(0, 10, (5,)),
                gen.permutation(6)]
    again = backend._CudaGenerator(seed=99)
    again.state = saved
    got = [again.random((4,)), again.standard_normal((2, 2)), again.integers(0, 10, (5,)),
           again.permutation(6)]
    for a, b in zip(expected, got):
        np.testing.assert_array_equal(a, b)
    assert sorted(got[3].tolist()) == list(range(6))
    assert saved == {"seed": 3, "draws": 1}
    other_seed = backend._CudaGenerator(seed=4)
    other_seed.state = {"seed": 4, "draws": 1}
    assert not np.array_equal(other_seed.random((4,)), expected[0])


@pytest.mark.parametrize("p", [0.1, 0.25, 0.37, 0.9, 1 / 512])
def test_keep_mask_drops_with_probability_p_not_p_rounded_to_bytes(p):
    """keep_mask draws a byte per element and a second number only where the
    byte straddles 256 p: the drop rate is p (within 5 standard errors of 4M
    draws), not the nearest multiple of 1/256 (0.1 would be 0.1016 or 0.0977)."""
    n = 4_000_000
    keep = backend._CpuGenerator(seed=7).keep_mask((2000, n // 2000), p)
    assert keep.shape == (2000, n // 2000) and keep.dtype == bool
    assert abs((1 - keep.mean()) - p) < 5 * np.sqrt(p * (1 - p) / n)


def test_keep_mask_follows_the_seed():
    a, b = backend._CpuGenerator(seed=1), backend._CpuGenerator(seed=1)
    np.testing.assert_array_equal(a.keep_mask((3, 7), 0.3), b.keep_mask((3, 7), 0.3))
    assert a.keep_mask((0,), 0.5).shape == (0,)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_import_asks_glibc_to_keep_freed_memory_unless_told_not_to():
    """backend.keep_freed_memory runs once at import: on by default, off with
    TINYTENSOR_KEEP_FREED_MEMORY=0 or when glibc's own MALLOC_* settings are given."""
    import platform
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("not glibc")
    code = "import tinytensor.backend as b; print(b.KEEPS_FREED_MEMORY)"
    results = {}
    for name, extra in (("default", {}), ("off", {"TINYTENSOR_KEEP_FREED_MEMORY": "0"}),
                        ("glibc's own", {"MALLOC_TRIM_THRESHOLD_": "1000000"})):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "TINYTENSOR_"))}
        env.update(extra)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=env, stdin=subprocess.DEVNULL, timeout=120, check=True)
        results[name] = out.stdout.strip()
    assert results == {"default": "True", "off": "False", "glibc's own": "False"}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
def test_import_shortens_openblas_spin_unless_told_not_to():
    """backend.short_blas_spin runs once at import: with NumPy's OpenBLAS it sets
    OPENBLAS_THREAD_TIMEOUT to 19 (2^19 cycles), also when SciPy's wheel has loaded
    a second OpenBLAS first; TINYTENSOR_SHORT_BLAS_SPIN=0 or the user's own
    OPENBLAS_THREAD_TIMEOUT leave it alone. Products still give the same numbers
    after OpenBLAS's threads restarted."""
    import ctypes
    import importlib.util
    find = ("import numpy; print(*sorted({line.split()[-1] for line in open('/proc/self/maps') "
            "if 'openblas' in line.lower() and '.so' in line}), sep='\\n')")
    paths = subprocess.run([sys.executable, "-c", find], capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, timeout=120, check=True).stdout.split()
    if len(paths) != 1:
        pytest.skip("NumPy's BLAS is not one OpenBLAS library")
    openblas = ctypes.CDLL(paths[0])
    can = hasattr(openblas, "openblas_read_env") and hasattr(openblas, "blas_thread_shutdown_")
    code = ("import numpy as np, os; a = np.arange(40000, dtype=np.float32).reshape(200, 200) / 4e4; "
            "before = a @ a; import tinytensor.backend as b; after = a @ a; "
            "print(b.SHORTENS_BLAS_SPIN, os.environ.get('OPENBLAS_THREAD_TIMEOUT'), "
            "bool((before == after).all()))")
    cases = [("default", {}, ""), ("off", {"TINYTENSOR_SHORT_BLAS_SPIN": "0"}, ""),
             ("user's own", {"OPENBLAS_THREAD_TIMEOUT": "25"}, "")]
    if importlib.util.find_spec("scipy") is not None:
        cases.append(("SciPy's first", {}, "import scipy.linalg; "))
    results = {}
    for name, extra, first in cases:
        env = {k: v for k, v in os.environ.items()
               if k != "OPENBLAS_THREAD_TIMEOUT" and not k.startswith("TINYTENSOR_")}
        env.update(extra)
        out = subprocess.run([sys.executable, "-c", first + code], capture_output=True, text=True,
                             env=env, stdin=subprocess.DEVNULL, timeout=120, check=True)
        results[name] = out.stdout.strip()
    shortened = "True 19 True" if can else "False None True"   # an OpenBLAS without the two
    expected = {"default": shortened, "off": "False None True",  # functions is left alone
                "user's own": "False 25 True"}
    if "SciPy's first" in results:
        expected["SciPy's first"] = shortened
    assert results == expected


def _layouts(array):
    """The same 2-D values laid out four ways: C order, Fortran order (what a
    transposed view is), rows of a wider array, and every other column (which
    BLAS cannot read in place)."""
    wide = np.zeros((array.shape[0], array.shape[1] + 3), array.dtype)
    wide[:, :array.shape[1]] = array
    spaced = np.zeros((array.shape[0], 2 * array.shape[1]), array.dtype)
    spaced[:, ::2] = array
    return {"C": np.ascontiguousarray(array), "F": np.asfortranarray(array),
            "rows of a wider array": wide[:, :array.shape[1]], "strided": spaced[:, ::2]}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m, k, n", [(7, 5, 3), (130, 70, 40), (1, 1, 1), (0, 4, 3), (4, 0, 3)])
def test_addmm_is_bias_plus_product_for_every_layout(dtype, m, k, n):
    """backend.addmm(bias, a, b) = bias + a @ b (torch.addmm): the bias broadcast
    over the rows, or a whole (m, n) array; the dtype kept; every layout of a and
    b, those BLAS reads in place and those it cannot, with empty dims too."""
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    for bias in (rng.standard_normal(n).astype(dtype), rng.standard_normal((m, n)).astype(dtype)):
        expected = a.astype(np.float64) @ b.astype(np.float64) + bias
        for a_name, a_in in _layouts(a).items():
            for b_name, b_in in _layouts(b).items():
                out = backend.addmm(bias, a_in, b_in)
                assert out.dtype == dtype and out.shape == (m, n), (a_name, b_name)
                np.testing.assert_allclose(out, expected, rtol=tolerance, atol=tolerance * 10,
                                           err_msg=f"a {a_name}, b {b_name}")


def test_addmm_calls_blas_once_with_numpys_openblas():
    """With the OpenBLAS NumPy's wheels bring (64-bit integers), float32 and
    float64 go to its gemm directly; the answer matches NumPy's to float32
    rounding and does not change from call to call."""
    if not backend._GEMM:
        pytest.skip("NumPy's BLAS is not the 64-bit-integer OpenBLAS of its wheels")
    assert set(backend._GEMM) == {np.dtype(np.float32), np.dtype(np.float64)}
    rng = np.random.default_rng(4)
    a = rng.standard_normal((300, 200), dtype=np.float32)
    w = rng.standard_normal((100, 200), dtype=np.float32)
    bias = rng.standard_normal(100, dtype=np.float32)
    calls = []
    real = backend._GEMM[np.dtype(np.float32)]
    backend._GEMM[np.dtype(np.float32)] = lambda *args: (calls.append(args[:6]), real(*args))
    try:
        out = backend.addmm(bias, a, w.T)
    finally:
        backend._GEMM[np.dtype(np.float32)] = real
    # row major, a as it is, w.T read as w transposed; m, n, k
    assert calls == [(backend._ROW_MAJOR, backend._NO_TRANS, backend._TRANS, 300, 100, 200)]
    np.testing.assert_allclose(out, a @ w.T + bias, rtol=1e-5, atol=1e-4)
    assert (backend.addmm(bias, a, w.T) == out).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_axpby_matches_numpy_to_rounding_wherever_cut_and_falls_back_to_numpy(dtype):
    """backend.axpby_(alpha, x, beta, y): y = alpha x + beta y in place. With
    NumPy's OpenBLAS it is BLAS's axpby, whose kernels may round differently
    from NumPy (SkylakeX's fuses the product with the sum, Haswell's does not), but
    give the same bits wherever the array is cut. Anything BLAS cannot take
    (a strided x) is y *= beta; y += alpha * x: NumPy's numbers, bit for bit."""
    rng = np.random.default_rng(6)
    x, y0 = rng.standard_normal((2, 1001)).astype(dtype)
    alpha, beta = dtype(0.3), dtype(0.7)
    y = y0.copy()
    assert backend.axpby_(alpha, x, beta, y) is y
    two_steps = y0 * beta + alpha * x
    # to rounding of the two terms (their sum may cancel: compare with the terms' size)
    assert (np.abs(y - two_steps) <= 2 * np.finfo(dtype).eps * (np.abs(alpha * x) + np.abs(beta * y0))).all()
    if backend._AXPBY:
        pieces = y0.copy()
        for lo, hi in ((0, 7), (7, 600), (600, 1001)):
            backend.axpby_(alpha, x[lo:hi], beta, pieces[lo:hi])
        np.testing.assert_array_equal(pieces, y)
    read_only_x, same = x.copy(), y0.copy()            # (its address found another way)
    read_only_x.flags.writeable = False
    np.testing.assert_array_equal(backend.axpby_(alpha, read_only_x, beta, same), y)
    assert backend.axpby_(alpha, x[:0], beta, y0[:0].copy()).shape == (0,)
    strided_x, y = np.repeat(x, 2)[::2], y0.copy()
    backend.axpby_(alpha, strided_x, beta, y)
    np.testing.assert_array_equal(y, two_steps)


def test_addmm_copies_a_large_bias_in_parts_on_the_threads(monkeypatch):
    """A large output starts as the bias copied in parts of rows, shared between
    the threads; the answer is the same bit for bit on 1 and 2 threads, for a
    bias of one row and for a whole (m, n) one."""
    rng = np.random.default_rng(5)
    m, k, n = 1200, 64, 1000                 # 1.2M elements: cut into parts
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    cuts = []
    real = backend.run_on_rows

    def counting(array, work, min_elements=None):
        parts = []
        real(array, lambda rows: (parts.append(rows), work(rows)), min_elements)
        cuts.append(len(parts))
    monkeypatch.setattr(backend, "run_on_rows", counting)
    before = tt.get_num_threads()
    try:
        for bias in (rng.standard_normal(n, dtype=np.float32),
                     rng.standard_normal((m, n), dtype=np.float32)):
            expected = a.astype(np.float64) @ b.astype(np.float64) + bias
            outs = []
            for threads in (1, 2):
                tt.set_num_threads(threads)
                outs.append(backend.addmm(bias, a, b))
            np.testing.assert_allclose(outs[0], expected, rtol=1e-5, atol=1e-4)
            assert (outs[0] == outs[1]).all()
    finally:
        tt.set_num_threads(before)
    if backend._GEMM:   # the BLAS path (the other one adds the bias after the product)
        assert cuts == [4, 4, 4, 4]


@pytest.mark.parametrize("shape, min_elements, parts", [
    ((100, 30), 1000, 2), ((100, 30), 2000, 1), ((7, 5, 100), 1000, 2), ((100, 30), 700, 4),
    ((1000, 30), 10, 16), ((3, 1000), 10, 2), ((3000,), 10, 1), ((1, 5000), 10, 1), ((0, 4), 1, 1)])
def test_run_on_rows_cuts_by_size_and_shares_the_parts_between_threads(shape, min_elements, parts):
    """A large array of 2 or more dims is cut by rows of its first axis into a
    power of two of parts of at least min_elements (at most MAX_ROW_PARTS), each
    element in one part; the cut is the same on 1 and 2 threads (so are the
    numbers), and on 2 threads the pool takes some. 1-D and small arrays go
    whole, as work(...)."""
    import threading
    before = tt.get_num_threads()
    seen = {}
    for threads in (1, 2):
        tt.set_num_threads(threads)
        array, calls, names = np.zeros(shape), [], set()

        def work(rows):
            calls.append(rows)
            names.add(threading.current_thread().name)
            array[rows] += 1
        try:
            backend.run_on_rows(array, work, min_elements)
        finally:
            tt.set_num_threads(before)
        assert (array == 1).all() and len(calls) == parts
        seen[threads] = (sorted((c.start, c.stop) for c in calls) if parts > 1 else calls, names)
    assert seen[1][0] == seen[2][0]
    if parts == 1:
        assert seen[1][0] == [...]
    else:
        assert all(stop - start >= -(-min_elements // (np.prod(shape) // shape[0]))
                   for start, stop in seen[2][0])
        assert not any(n.startswith("tinytensor") for n in seen[1][1])
        assert any(n.startswith("tinytensor") for n in seen[2][1])


def test_num_threads_follows_torch(monkeypatch):
    """tt.set_num_threads / get_num_threads as torch's: OMP_NUM_THREADS is the
    default, and anything but a positive int is a RuntimeError naming the call."""
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert backend._default_num_threads() == 3
    monkeypatch.delenv("OMP_NUM_THREADS")
    if hasattr(os, "sched_getaffinity"):
        assert backend._default_num_threads() == len(os.sched_getaffinity(0))
    before = tt.get_num_threads()
    try:
        tt.set_num_threads(5)
        assert tt.get_num_threads() == 5
        for bad, message in ((0, "a positive integer"), (-2, "a positive integer"),
                             (2.0, "an int, but got float"), (True, "an int, but got bool")):
            with pytest.raises(RuntimeError, match=f"set_num_threads expects {message}"):
                tt.set_num_threads(bad)
        assert tt.get_num_threads() == 5
    finally:
        tt.set_num_threads(before)
    torch = pytest.importorskip("torch")
    for bad in (0, 2.0, True):
        with pytest.raises(RuntimeError, match="set_num_threads expects"):
            torch.set_num_threads(bad)


@pytest.mark.parametrize("threads, size, min_part, parts", [
    (1, 100, 10, 1), (3, 100, 10, 3), (3, 25, 10, 2), (4, 9, 10, 1), (2, 0, 10, 1)])
def test_run_in_parts_covers_the_range_once(threads, size, min_part, parts):
    """Each index of range(size) goes to exactly one part, in contiguous parts of
    at least min_part, one per thread at most; the parts beyond the first run on
    the pool's threads."""
    import threading
    before = tt.get_num_threads()
    tt.set_num_threads(threads)
    seen, where = np.zeros(size, int), []
    lock = threading.Lock()

    def work(start, stop):
        with lock:
            seen[start:stop] += 1
            where.append((start, stop, threading.current_thread().name))
    try:
        backend.run_in_parts(size, work, min_part)
    finally:
        tt.set_num_threads(before)
    assert (seen == 1).all() and len(where) == parts
    assert all(stop - start >= min(min_part, size) for start, stop, _ in where)
    assert sorted(name.startswith("tinytensor") for _, _, name in where) == [False] + [True] * (parts - 1)


@pytest.mark.parametrize("failing", [0, 5])
def test_run_in_parts_raises_a_parts_error_after_every_part_ended(failing):
    """Whichever part fails (0: the calling thread's, 5: the pool's), its error
    is raised, and only once the other part has finished: nothing still writes
    into the arrays after run_in_parts returns or raises."""
    import time
    before = tt.get_num_threads()
    tt.set_num_threads(2)
    finished = []

    def work(start, stop):
        if start == failing:
            raise ValueError(f"part at {start} failed")
        time.sleep(0.1)
        finished.append(start)
    try:
        with pytest.raises(ValueError, match=f"part at {failing} failed"):
            backend.run_in_parts(10, work, 5)
        assert finished == [5 - failing]
    finally:
        tt.set_num_threads(before)
