"""Per-operation overhead: microseconds per elementwise op on a small tensor.

    python benchmarks/elementwise.py [--size 16] [--repeat 200] [--number 50]

On a 16x16 float32 tensor the arithmetic takes well under a microsecond, so
these numbers measure what tinytensor adds around NumPy: wrapping arrays in
Tensors, recording the graph, and the backward engine. For each of add, mul,
exp and tanh it prints:

  numpy fwd       the raw NumPy call (np.add, np.exp, ...)
  numpy fwd+bwd   the forward plus its backward written by hand in NumPy
  tt no_grad      tinytensor forward with graph recording off
  tt fwd          tinytensor forward on inputs that require grad (records the graph)
  tt fwd+bwd      that forward plus y.backward(gradient)

Each figure is the median, over --repeat batches, of the mean time of --number
calls in a batch, timed with time.perf_counter.
"""
import argparse
import os
import platform
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import tinytensor as tt  # noqa: E402


def median_us(fn, repeat, number):
    """Median over `repeat` batches of the per-call time of `number` calls, in µs."""
    fn()  # warm up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - start) / number)
    return float(np.median(times)) * 1e6


def cases(size):
    rng = np.random.default_rng(0)
    a_np = rng.standard_normal((size, size)).astype(np.float32)
    b_np = rng.standard_normal((size, size)).astype(np.float32)
    g_np = np.ones((size, size), dtype=np.float32)

    def numpy_backward_add():
        np.add(a_np, b_np)
        return g_np, g_np

    def numpy_backward_mul():
        np.multiply(a_np, b_np)
        return g_np * b_np, g_np * a_np

    def numpy_backward_exp():
        y = np.exp(a_np)
        return g_np * y

    def numpy_backward_tanh():
        y = np.tanh(a_np)
        return g_np * (1 - y * y)

    return [
        # name, numpy forward, numpy forward+backward, tinytensor op, binary?
        ("add", lambda: np.add(a_np, b_np), numpy_backward_add, tt.add, True),
        ("mul", lambda: np.multiply(a_np, b_np), numpy_backward_mul, tt.mul, True),
        ("exp", lambda: np.exp(a_np), numpy_backward_exp, tt.exp, False),
        ("tanh", lambda: np.tanh(a_np), numpy_backward_tanh, tt.tanh, False),
    ], (a_np, b_np, g_np)


def expected_grad_a(name, a_np, b_np):
    return {"add": np.ones_like(a_np), "mul": b_np, "exp": np.exp(a_np),
            "tanh": 1 - np.tanh(a_np) ** 2}[name]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=16, help="the tensor is size x size")
    parser.add_argument("--repeat", type=int, default=200, help="batches to take the median of")
    parser.add_argument("--number", type=int, default=50, help="calls per batch")
    args = parser.parse_args()

    table, (a_np, b_np, g_np) = cases(args.size)
    a = tt.tensor(a_np.copy(), requires_grad=True)
    b = tt.tensor(b_np.copy(), requires_grad=True)
    a_const, b_const = tt.tensor(a_np.copy()), tt.tensor(b_np.copy())
    gradient = tt.tensor(g_np)
    assert a.dtype == tt.float32

    print(f"elementwise ops on a {args.size}x{args.size} float32 tensor: median of "
          f"{args.repeat} batches of {args.number} calls (µs per call)")
    print(f"numpy {np.__version__}, Python {platform.python_version()}, {platform.machine()}")
    header = (f"{'op':<6}{'numpy fwd':>11}{'numpy f+b':>11}{'tt no_grad':>12}{'tt fwd':>9}"
              f"{'tt fwd+bwd':>12}{'fwd / numpy':>13}{'f+b / numpy':>13}")
    print(header)
    print("-" * len(header))
    for name, numpy_fwd, numpy_fwd_bwd, op, is_binary in table:
        inputs = (a, b) if is_binary else (a,)
        consts = (a_const, b_const) if is_binary else (a_const,)

        def forward_no_grad():
            return op(*consts)

        def forward():
            return op(*inputs)

        def forward_backward():
            a.grad = b.grad = None
            op(*inputs).backward(gradient)

        forward_backward()  # first, check that what is timed computes the right thing
        np.testing.assert_allclose(a.grad.numpy(), expected_grad_a(name, a_np, b_np), rtol=1e-5)

        t_np = median_us(numpy_fwd, args.repeat, args.number)
        t_np_fb = median_us(numpy_fwd_bwd, args.repeat, args.number)
        with tt.no_grad():
            t_nograd = median_us(forward_no_grad, args.repeat, args.number)
        t_fwd = median_us(forward, args.repeat, args.number)
        t_fb = median_us(forward_backward, args.repeat, args.number)
        print(f"{name:<6}{t_np:>11.2f}{t_np_fb:>11.2f}{t_nograd:>12.2f}{t_fwd:>9.2f}"
              f"{t_fb:>12.2f}{t_fwd / t_np:>12.1f}x{t_fb / t_np_fb:>12.1f}x")


if __name__ == "__main__":
    main()
