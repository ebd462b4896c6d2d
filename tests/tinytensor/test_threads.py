"""tinytensor's CPU threads (backend.parallel_ranges): the fused operations that split
their rows between threads give the same numbers with one thread and with several."""
import os
import signal

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import tinytensor as tt
import tinytensor.nn.functional as F
from tinytensor import backend


@pytest.fixture
def threads():
    """Run a test with a given thread count, restoring the setting afterwards."""
    before = tt.get_num_threads()

    def use(count):
        tt.set_num_threads(count)
    yield use
    tt.set_num_threads(before)


def test_parallel_ranges_covers_every_index_once_in_order(threads):
    threads(3)
    seen = []
    backend.parallel_ranges(1000, lambda lo, hi: seen.append((lo, hi)), grain=10)
    assert sorted(seen) == [(0, 333), (333, 666), (666, 1000)]
    seen.clear()
    backend.parallel_ranges(15, lambda lo, hi: seen.append((lo, hi)), grain=10)  # too small
    assert seen == [(0, 15)]
    seen.clear()
    backend.parallel_ranges(1000, lambda lo, hi: seen.append((lo, hi)), grain=10, device="cuda")
    assert seen == [(0, 1000)]                   # the GPU runs its own threads


def test_parallel_ranges_raises_what_a_range_raises(threads):
    threads(2)

    def work(lo, hi):
        if lo > 0:
            raise ValueError(f"range {lo}:{hi}")
    with pytest.raises(ValueError, match="range 50:100"):
        backend.parallel_ranges(100, work, grain=10)


def test_set_num_threads_checks_its_argument_and_is_torchs_name(threads):
    threads(2)
    assert tt.get_num_threads() == 2
    for bad in (0, -1, 1.5):
        with pytest.raises(ValueError, match="set_num_threads"):
            tt.set_num_threads(bad)
    torch = pytest.importorskip("torch")
    assert callable(torch.set_num_threads) and callable(torch.get_num_threads)


def run_ops(seed=0):
    """Layer norm, Add & Norm and cross-entropy on inputs large enough to be split,
    forward and backward: the outputs and every gradient."""
    rng = np.random.default_rng(seed)
    x = tt.tensor(rng.standard_normal((600, 256)), requires_grad=True)
    s = tt.tensor(rng.standard_normal((600, 256)), requires_grad=True)
    w = tt.tensor(rng.standard_normal(256), requires_grad=True)
    b = tt.tensor(rng.standard_normal(256), requires_grad=True)
    logits = tt.tensor(rng.standard_normal((600, 300)) * 3, requires_grad=True)
    target = rng.integers(0, 300, 600)
    target[::7] = 0
    tt.manual_seed(seed)
    outs = [F.layer_norm(x, (256,), w, b), F.add_layer_norm(x, s, (256,), w, b, dropout_p=0.2),
            F.cross_entropy(logits, target, ignore_index=0, label_smoothing=0.1)]
    total = sum((o * tt.tensor(rng.standard_normal(o.shape))).sum() for o in outs)
    total.backward()
    return [o.numpy() for o in outs] + [t.grad.numpy() for t in (x, s, w, b, logits)]


def test_split_rows_give_the_numbers_of_one_thread(threads):
    threads(1)
    one = run_ops()
    threads(4)
    several = run_ops()
    for a, b in zip(one, several):
        # per-row work is the same arithmetic; only the weight and bias sums of layer
        # norm add their per-range parts
        assert_allclose(b, a, rtol=1e-12, atol=1e-12)
    assert_array_equal(several[0], one[0])


def test_adam_in_threads_gives_the_numbers_of_one_thread(threads):
    from tinytransformer.optim import Adam
    results = []
    for count in (1, 2):
        threads(count)
        rng = np.random.default_rng(0)
        p = tt.Parameter(tt.tensor(rng.standard_normal(300_000).astype(np.float32)))
        optimizer = Adam([p], lr=1e-2)
        for _ in range(3):
            p.grad = tt.tensor(rng.standard_normal(300_000).astype(np.float32))
            optimizer.step()
        results.append(p.numpy().copy())
    assert_array_equal(results[0], results[1])
    assert not np.array_equal(results[0], np.random.default_rng(0).standard_normal(300_000)
                              .astype(np.float32))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_does_not_wait_on_its_parents_threads(threads):
    threads(2)
    backend.parallel_ranges(100, lambda lo, hi: None, grain=10)   # the pool now has threads
    pid = os.fork()
    if pid == 0:                                                    # the child
        try:
            signal.alarm(30)        # a child stuck waiting on threads it lacks dies, and fails
            hits = []
            backend.parallel_ranges(100, lambda lo, hi: hits.append(lo), grain=10)
            os._exit(0 if sorted(hits) == [0, 50] else 1)
        finally:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
