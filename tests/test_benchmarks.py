"""benchmarks/run_all.py's pairing: what it times and in which order."""
import ctypes
import importlib.util
import json
import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def load_script(name):
    """benchmarks/<name>.py as a module; the thread variables it sets for itself are put back."""
    environment = dict(os.environ)
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    finally:
        os.environ.clear()
        os.environ.update(environment)
    return module


def test_paired_medians_alternates_rounds_and_times_the_last_call_of_each():
    """Each round calls every function per_round times after its pause, in turn;
    the medians are of each round's last call, cold gets those of its first."""
    run_all = load_script("run_all")
    log = []

    def step(name, cold_seconds, warm_seconds):
        calls = {"n": 0}

        def fn():
            calls["n"] += 1
            log.append(name)
            # warm-up call first, then per round: a cold call, then a warm one
            return cold_seconds if calls["n"] % 2 == 0 else warm_seconds
        return fn
    run_all.timed = lambda fn: fn()       # the "seconds" are what the function returns
    cold = []
    warm = run_all.paired_medians([step("a", 5.0, 1.0), step("b", 7.0, 2.0)], repeats=3,
                                  settle=0.0, per_round=2, cold=cold)
    assert warm == [1.0, 2.0] and cold == [5.0, 7.0]
    assert log == ["a", "b"] + ["a", "a", "b", "b"] * 3
    # one call a round, as the other benchmarks time: that call is the median's
    log.clear()
    assert run_all.paired_medians([step("c", 3.0, 4.0)], repeats=2) == [3.5]
    assert log == ["c"] * 3


def test_paired_rounds_give_the_quartiles_of_their_own_ratios():
    """rounds receives each function's timed seconds in round order, and the
    quartiles are of ours[i] / theirs[i]: 1, 2, 3, 4 against 4, 1, 2, 2 are the
    ratios 0.25, 2, 1.5, 2, whose quartiles (linear, as np.percentile's) are
    1.1875, 1.75 and 2, while the ratio of the medians is 2.5 / 2 = 1.25."""
    run_all = load_script("run_all")
    seconds = {"ours": iter([9.0, 1.0, 2.0, 3.0, 4.0]), "theirs": iter([9.0, 4.0, 1.0, 2.0, 2.0])}
    run_all.timed = lambda fn: fn()
    rounds = []
    medians = run_all.paired_medians([lambda: next(seconds["ours"]), lambda: next(seconds["theirs"])],
                                     repeats=4, rounds=rounds)      # (the 9s are the warm-up calls)
    assert rounds == [[1.0, 2.0, 3.0, 4.0], [4.0, 1.0, 2.0, 2.0]] and medians == [2.5, 2.0]
    assert run_all.paired_ratio_quartiles(*rounds) == [1.1875, 1.75, 2.0]


def test_quality_difference_has_the_standard_error_of_two_unpaired_means():
    """ours minus gensim's mean over the seeds, with the standard error from each
    side's spread: ours 0.2, 0.3, 0.4 (mean 0.3, variance 0.01) against 0.1, 0.3
    (mean 0.2, variance 0.02) is 0.1 +- sqrt(0.01 / 3 + 0.02 / 2); one round a side
    has no spread to go by."""
    speed = load_script("word2vec_speed")
    ours = {"per_run": [{"wordsim": 0.2}, {"wordsim": 0.3}, {"wordsim": 0.4}]}
    theirs = {"per_run": [{"wordsim": 0.1}, {"wordsim": 0.3}]}
    difference, error = speed.quality_difference(ours, theirs, "wordsim")
    assert abs(difference - 0.1) < 1e-12 and abs(error - (0.01 / 3 + 0.02 / 2) ** 0.5) < 1e-12
    difference, error = speed.quality_difference({"per_run": [{"wordsim": 0.5}]}, theirs, "wordsim")
    assert abs(difference - 0.3) < 1e-12 and error != error   # NaN


def test_run_all_saves_each_benchmark_as_it_finishes_so_a_crash_keeps_them(tmp_path, monkeypatch):
    """A later benchmark that fails leaves the report of those before it on disk
    (marked incomplete), in a folder run_all made itself; a name it does not know
    stops it before any benchmark runs."""
    run_all = load_script("run_all")
    monkeypatch.setattr(run_all, "thread_settings", lambda: {"cpus": 2})
    monkeypatch.setattr(run_all, "bench_overhead", lambda repeats: {
        "benchmark": "overhead", "unit": "ms", "ours": 9.0, "theirs": 6.0, "ratio": 1.5})

    def decoding_fails(repeats):
        raise RuntimeError("decoding broke")
    monkeypatch.setattr(run_all, "bench_decoding", decoding_fails)
    report = tmp_path / "new folder" / "bench.json"
    monkeypatch.setattr(sys, "argv", ["run_all.py", "--only", "overhead,decoding", "--json", str(report)])
    try:
        run_all.main()
    except RuntimeError as error:
        assert str(error) == "decoding broke"
    else:
        raise AssertionError("the failing benchmark's error did not reach the caller")
    saved = json.loads(report.read_text())
    assert saved["complete"] is False and [row["ratio"] for row in saved["rows"]] == [1.5]

    monkeypatch.setattr(sys, "argv", ["run_all.py", "--only", "overhead,step-X", "--json", str(report)])
    monkeypatch.setattr(run_all, "bench_overhead", decoding_fails)     # must not be reached
    try:
        run_all.main()
    except SystemExit as stop:
        assert "step-X" in str(stop) and "step-readme" in str(stop)
    else:
        raise AssertionError("an unknown benchmark name was not refused")
    assert json.loads(report.read_text()) == saved


def test_run_all_names_the_openblas_kernel_numpy_picked():
    """Figures from different CPUs (an AVX-512 SkylakeX kernel, an AVX2 Haswell one)
    do not compare, so the settings name the kernel; OpenBLAS's own configuration
    string names it too."""
    from tinytensor import backend
    run_all = load_script("run_all")
    kernel = run_all.openblas_kernel()
    if backend.OPENBLAS is None:
        assert kernel is None
        return
    assert isinstance(kernel, str) and kernel
    for name in ("scipy_openblas_get_config64_", "openblas_get_config64_", "openblas_get_config"):
        function = getattr(backend.OPENBLAS, name, None)
        if function is not None:
            function.restype = ctypes.c_char_p
            assert kernel in function().decode()
            return
    raise AssertionError("NumPy's OpenBLAS names its kernel but not its configuration")


def test_a_run_whose_rounds_disagree_is_called_too_noisy_to_judge():
    """Quartiles of the rounds' ratios within 10% of their median pass (a quiet
    run's 0.748-0.757 around 0.75); a busy run's 0.75 to 1.06 around 0.91 does not."""
    run_all = load_script("run_all")
    assert not run_all.too_noisy([0.748, 0.75, 0.757])
    assert not run_all.too_noisy([0.78, 0.80, 0.859])          # a spread of 9.9%
    assert run_all.too_noisy([0.78, 0.80, 0.861])              # 10.1%
    assert run_all.too_noisy([0.751, 0.911, 1.063])


def test_time_products_sees_each_product_of_the_step_under_its_own_shape():
    """run_all.time_products (step_split.py's table) sees every product of the README
    model's step. Over 100 x 15 = 1500 rows, a step has 4 packed self-attention
    projections (d_model 128 -> 384), 12 other 128 x 128 ones (the encoder's and
    decoder's outputs, cross-attention's query, key and value), 4 of each
    feed-forward layer (128 -> 512 -> 128) and the output layer (128 -> 400), each a
    Linear with a bias. Each costs 2 R in out FLOPs forward, twice that backward (dx
    and dW) and 2 R out for its bias's gradient (a product with a vector of ones)."""
    run_all = load_script("run_all")
    _, step = run_all.tinytensor_step("readme")
    step()
    split = run_all.time_products(step, steps=2)
    linears = {(128, 384): 4, (128, 128): 12, (128, 512): 4, (512, 128): 4, (128, 400): 1}
    rows = 1500
    assert {(a, b): calls for kind, a, b, *_, calls, _, _ in split["rows"] if kind == "Linear"} == \
        {((rows, n_in), (n_in, n_out)): count for (n_in, n_out), count in linears.items()}
    expected_flops = sum(count * (3 * 2 * rows * n_in * n_out + 2 * rows * n_out)
                         for (n_in, n_out), count in linears.items())
    assert sum(row[-1] for row in split["rows"]) == expected_flops == run_all.matmul_flops(step)
    assert all(seconds > 0 for *_, seconds, _ in split["rows"])
    # with 2 steps the median is the mean, and each step's products lie inside it
    assert 0 < split["products_seconds"] < split["step_seconds"]
    # and the Functions' own forward methods are back
    assert run_all.MatMul.forward.__qualname__ == "MatMul.forward"
    assert run_all.Linear.forward.__qualname__ == "Linear.forward"


def test_step_split_refuses_a_run_of_no_steps(monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    monkeypatch.delitem(sys.modules, "run_all", raising=False)
    step_split = load_script("step_split")
    monkeypatch.setitem(sys.modules, "run_all", step_split.run_all)
    monkeypatch.setattr(sys, "argv", ["step_split.py", "--shape", "readme", "--steps", "0"])
    try:
        step_split.main()
    except SystemExit as exit:
        assert exit.code == 2
    else:
        raise AssertionError("step_split.py ran with --steps 0")
    assert "--steps must be at least 1, got 0" in capsys.readouterr().err


def test_cpu_model_tells_two_cpus_of_one_name_apart(tmp_path):
    """Two AMD EPYCs named alike by the virtual machine: a Zen 3 (family 25, model 1,
    AVX2) and a Zen 4 (model 17, AVX-512); only the first processor's block is read."""
    run_all = load_script("run_all")

    def cpuinfo(model, flags):
        block = (f"processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: {model}\n"
                 f"model name\t: AMD EPYC\nflags\t\t: fpu sse2 {flags}\n\n")
        path = tmp_path / f"cpuinfo{model}"
        path.write_text(block + block.replace("processor\t: 0", "processor\t: 1")
                        .replace("AMD EPYC", "another name"))
        return str(path)
    assert run_all.cpu_model(cpuinfo(1, "avx avx2 fma")) == "AMD EPYC (family 25, model 1; AVX2)"
    assert run_all.cpu_model(cpuinfo(17, "avx2 avx512f avx512bw")) == \
        "AMD EPYC (family 25, model 17; AVX-512)"
    no_family = tmp_path / "bare"
    no_family.write_text("model name\t: Some CPU\nflags\t\t: sse2\n")
    assert run_all.cpu_model(str(no_family)) == "Some CPU"
    assert run_all.cpu_model(str(tmp_path / "absent")) == (run_all.platform.processor() or None)
