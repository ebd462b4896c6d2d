"""Every speed figure of the project, each against its peer in the same run.

    python benchmarks/run_all.py [--quick] [--only NAMES] [--json FILE] [--repeats N]
    python benchmarks/run_all.py --against OLD_CHECKOUT --only step-readme,overhead
    python benchmarks/run_all.py --alone --only step-readme,step-S   (each library alone)

Benchmarks (issue 11), each printed with its peer and the ratio ours / peer:
  step-readme, step-S, step-M   one training step (forward, label-smoothed
                                cross-entropy, backward, Adam) of the
                                Transformer against PyTorch CPU eager
                                (nn.Transformer of the same shape), paired:
                                the two alternate step by step, medians of
                                --repeats; at M also the share of the matmul
                                floor (the step's matmul FLOPs / NumPy's GEMM rate)
  overhead                      forward + backward of a chain of 1,000 small
                                elementwise operations, against PyTorch
  decoding                      greedy and beam 4 over 64 sentences to length
                                40: tokens/s with the KV cache / without it
  memory                        resident memory growth from step 100 to step
                                1,000 at shape S (--quick: 20 to 200 at the
                                README's shape); peak memory of 3 steps at M,
                                ours and PyTorch's, each in a fresh process
  word2vec                      benchmarks/word2vec_speed.py (CBOW and
                                skip-gram against gensim), when its corpus is
                                there and --only names it (it takes minutes)

The machine should be quiet: every other job distorts these figures (the same
code measured 0.54x and 1.74x PyTorch within an hour under load). Thread
settings are printed first; both libraries use 2 threads unless
OPENBLAS_NUM_THREADS / OMP_NUM_THREADS say otherwise.
"""
import argparse
import collections
import ctypes
import json
import os
import platform
import resource
import subprocess
import sys
import time

THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")
GIVEN_THREADS = {k: os.environ[k] for k in THREAD_VARIABLES if k in os.environ}  # by the caller
for _variable in THREAD_VARIABLES:
    os.environ.setdefault(_variable, "2")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

import tinytensor as tt  # noqa: E402
from tinytensor import backend  # noqa: E402
import tinytransformer  # noqa: E402
from tinytensor.ops.linalg import MatMul  # noqa: E402
from tinytensor.ops.nn import Linear  # noqa: E402
from tinytransformer.utils import atomic_write  # noqa: E402

SHAPES = {  # model shape, batch, length, vocabulary (issue 11)
    "readme": (dict(d_model=128, n_heads=4, n_layers=2, d_ff=512), 100, 15, 400),
    "S": (dict(d_model=256, n_heads=4, n_layers=3, d_ff=1024), 64, 20, 4000),
    "M": (dict(d_model=512, n_heads=8, n_layers=6, d_ff=2048), 32, 30, 8000),
}
DROPOUT, MAX_LEN, SMOOTHING = 0.1, 64, 0.1


def have_torch():
    try:
        import torch  # noqa: F401
        return True
    except ImportError:
        return False


def cpu_model(cpuinfo="/proc/cpuinfo"):
    """The CPU's model name from /proc/cpuinfo (Linux) with its family, model and widest
    vector instructions, else platform.processor(). A virtual machine may give two CPUs
    one name: "AMD EPYC" was a Zen 3 with AVX2 one evening and a Zen 4 with AVX-512 an
    hour later, and the same code ran at other speeds on each."""
    fields = {}
    try:
        with open(cpuinfo) as f:
            for line in f:
                if not line.strip() and fields:
                    break                                   # the first processor's block only
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    if "model name" not in fields:
        return platform.processor() or None
    flags = set(fields.get("flags", "").split())
    details = [f"family {fields['cpu family']}, model {fields['model']}"
               if "cpu family" in fields and "model" in fields else None,
               "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else None]
    details = [detail for detail in details if detail]
    return f"{fields['model name']} ({'; '.join(details)})" if details else fields["model name"]


def openblas_kernel():
    """The kernel NumPy's OpenBLAS picked for this CPU (Haswell, SkylakeX, Zen, ...),
    or None for another BLAS: the same code runs at other speeds on each."""
    for name in ("scipy_openblas_get_corename64_", "openblas_get_corename64_", "openblas_get_corename"):
        function = getattr(backend.OPENBLAS, name, None)       # None (no OpenBLAS) has none
        if function is not None:
            function.restype = ctypes.c_char_p
            return function().decode()
    return None


def thread_settings():
    settings = {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                               "MKL_NUM_THREADS", "OPENBLAS_CORETYPE")}
    settings["cpus"] = os.cpu_count()
    settings["cpu"] = cpu_model()
    settings["openblas_kernel"] = openblas_kernel()   # figures from different kernels don't compare
    settings["python"] = platform.python_version()
    settings["numpy"] = np.__version__
    settings["tinytensor_threads"] = tt.get_num_threads()   # its own loops (Adam); OMP_NUM_THREADS
    try:
        from threadpoolctl import threadpool_info
        settings["blas"] = [(i.get("internal_api"), i.get("num_threads"), i.get("architecture"))
                            for i in threadpool_info()]
    except ImportError:  # not installed: NumPy's build says which BLAS, not its threads
        try:
            blas = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
            settings["blas"] = f"{blas.get('name')} {blas.get('version')} (NumPy's build)"
        except TypeError:    # NumPy before 1.26 only prints its configuration
            pass
    if have_torch():
        import torch
        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
        settings["torch"] = torch.__version__
        settings["torch_threads"] = torch.get_num_threads()
    return settings


def batch(vocab, size, length, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(4, vocab, (size, length)), rng.integers(4, vocab, (size, length + 1))


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# Seconds of idling before each round's steps. A BLAS or OpenMP thread pool keeps its
# threads spinning on the cores for a while after its last parallel work (NumPy's
# OpenBLAS about 0.1 s by default), so without a pause each library's step would start
# while the other's threads still take a core: PyTorch's step at S measured 5-10%
# slower right after ours (OPENBLAS_THREAD_TIMEOUT=4, which stops that spinning,
# showed it). After the pause every step starts on a quiet machine and pays only for
# its own threads.
SETTLE_SECONDS = 0.3
# Steps of each library after the pause, of which the last is timed. The first step
# after a pause also pays for waking idle cores: on this virtual machine, whose idle
# cores halt, tinytensor's step at the README's size took 129 ms right after 0.3 s of
# idling and 105 ms right after another step, PyTorch's 142 ms either way (tinytensor's
# threads sleep between its many short parallel loops, PyTorch's spin). A training
# loop runs its steps back to back, so the second step is the one timed; the first
# ("cold") is timed too and shown beside it.
STEPS_PER_ROUND = 2


def paired_medians(fns, repeats, warmup=1, settle=0.0, per_round=1, cold=None, rounds=None):
    """Median seconds of each function, calling them in alternation (per_round
    calls of each per round, the last one timed), so a change in machine load
    hits all of them alike; settle: seconds of sleep before each function's
    calls (see SETTLE_SECONDS). cold: a list to receive the medians of each
    round's first call, when per_round > 1. rounds: a list to receive each
    function's timed seconds, round by round (for paired_ratio_quartiles)."""
    for fn in fns:
        for _ in range(warmup):
            fn()
    times, firsts = [[] for _ in fns], [[] for _ in fns]
    for _ in range(repeats):
        for fn, record, first in zip(fns, times, firsts):
            time.sleep(settle)
            for call in range(per_round):
                seconds = timed(fn)
                if call == 0:
                    first.append(seconds)
            record.append(seconds)
    if cold is not None:
        cold.extend(float(np.median(t)) for t in firsts)
    if rounds is not None:
        rounds.extend(times)
    return [float(np.median(t)) for t in times]


def paired_ratio_quartiles(ours, theirs):
    """The quartiles (25%, 50%, 75%) of the rounds' own ratios ours[i] / theirs[i]:
    how far the ratio moves within one run, beside the ratio of the medians."""
    ratios = np.asarray(ours) / np.asarray(theirs)
    return [float(q) for q in np.percentile(ratios, [25, 50, 75])]


# Quiet runs' rounds agree to a few percent (quartiles of the rounds' ratios within 1-7% of
# their median); on a shared host whose other jobs come and go they spread by 10-36%.
NOISY_SPREAD = 0.10


def ratio_spread(quartiles):
    """How far the rounds' own ratios spread: their interquartile range over their median."""
    low, middle, high = quartiles
    return (high - low) / middle


def too_noisy(quartiles):
    """Whether a run's rounds disagree too much to hold a ratio against its target:
    the quartiles of the rounds' own ratios spread by more than NOISY_SPREAD of
    their median."""
    return ratio_spread(quartiles) > NOISY_SPREAD


# -- the training step ---------------------------------------------------------------------------
def tinytensor_step(shape_name):
    shape, size, length, vocab = SHAPES[shape_name]
    tt.manual_seed(0)
    model = tinytransformer.Transformer(vocab, vocab, dropout=DROPOUT, max_len=MAX_LEN, **shape)
    optimizer = tinytransformer.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.98), eps=1e-9)
    src, tgt = batch(vocab, size, length)

    def step():
        logits = model(src, tgt[:, :-1])
        loss = tt.cross_entropy(logits.flatten(0, 1), tgt[:, 1:].reshape(-1), ignore_index=0,
                                label_smoothing=SMOOTHING)
        optimizer.zero_grad()
        loss.backward()
        tinytransformer.optim.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    return model, step


def torch_step(shape_name):
    """The same step in PyTorch: nn.Transformer (batch first, post-norm), sinusoidal
    positions, embeddings scaled by sqrt(d_model) and tied to the output."""
    import torch
    shape, size, length, vocab = SHAPES[shape_name]
    d = shape["d_model"]
    torch.manual_seed(0)
    positions = torch.from_numpy(tinytransformer.PositionalEncoding(d, MAX_LEN).table.numpy())

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.src_embed = torch.nn.Embedding(vocab, d, padding_idx=0)
            self.tgt_embed = torch.nn.Embedding(vocab, d, padding_idx=0)
            self.register_buffer("positions", positions)
            self.core = torch.nn.Transformer(d, shape["n_heads"], shape["n_layers"], shape["n_layers"],
                                             shape["d_ff"], DROPOUT, batch_first=True)
            self.output_bias = torch.nn.Parameter(torch.zeros(vocab))
            self.dropout = torch.nn.Dropout(DROPOUT)

        def embed(self, table, ids):
            return self.dropout(table(ids) * d ** 0.5 + self.positions[:ids.shape[1]])

        def forward(self, src, tgt):
            causal = torch.nn.Transformer.generate_square_subsequent_mask(tgt.shape[1])
            h = self.core(self.embed(self.src_embed, src), self.embed(self.tgt_embed, tgt),
                          tgt_mask=causal, src_key_padding_mask=src == 0,
                          tgt_key_padding_mask=tgt == 0, memory_key_padding_mask=src == 0)
            return h @ self.tgt_embed.weight.T + self.output_bias

    model = Model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.98), eps=1e-9)
    src, tgt = (torch.from_numpy(a) for a in batch(vocab, size, length))

    def step():
        logits = model(src, tgt[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, vocab), tgt[:, 1:].reshape(-1),
                                                 ignore_index=0, label_smoothing=SMOOTHING)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    return model, step


def layout(array):
    """C (rows contiguous), F (columns contiguous), CF (both, a vector) or the strides."""
    name = ("C" if array.flags.c_contiguous else "") + ("F" if array.flags.f_contiguous else "")
    return name or str(array.strides)


def time_products(step, steps=1):
    """Call step() `steps` times with every matrix product inside it timed on its
    own: MatMul's forward, which the backward's products go through too, and the
    fused Linear's forward (x @ W^T, one BLAS call that starts from a copy of the
    bias). Attention's small products inside its fused operation are not among them.
    Returns {"step_seconds": the median step, "products_seconds": the products' time
    a step, "rows": [(kind, a's shape, b's shape, a's layout, b's layout, calls a
    step, seconds a step, FLOPs a step (2 m n k a product))], the slowest first}."""
    seconds, calls, flops = collections.defaultdict(float), collections.Counter(), collections.Counter()
    originals = {cls: cls.forward for cls in (MatMul, Linear)}

    def timing(cls):
        original = originals[cls]

        def forward(self, a, b, *rest):
            start = time.perf_counter()
            out = original(self, a, b, *rest)
            elapsed = time.perf_counter() - start
            if cls is Linear:
                b = b.T          # the weight is (out, in): the product is with its transpose
            key = (cls.__name__, a.shape, b.shape, layout(a), layout(b))
            seconds[key] += elapsed
            calls[key] += 1
            flops[key] += 2 * out.size * a.shape[-1]
            return out
        cls.forward = forward
    for cls in originals:
        timing(cls)
    try:
        step_seconds = [timed(step) for _ in range(steps)]
    finally:
        for cls, original in originals.items():
            cls.forward = original
    rows = sorted(((*key, calls[key] // steps, seconds[key] / steps, flops[key] // steps)
                   for key in seconds), key=lambda row: -row[6])
    return {"step_seconds": float(np.median(step_seconds)),
            "products_seconds": sum(seconds.values()) / steps, "rows": rows}


def matmul_flops(step):
    """The matrix-product FLOPs of one step (2 m n k per product)."""
    return sum(row[-1] for row in time_products(step)["rows"])


def gemm_rate(shape_name):
    """The float32 GEMM FLOP/s NumPy reaches here, on the step's typical shapes."""
    shape, size, length, vocab = SHAPES[shape_name]
    rng = np.random.default_rng(0)
    rows, d, d_ff = size * length, shape["d_model"], shape["d_ff"]
    rates = []
    for m, k, n in [(rows, d, d), (rows, d, d_ff), (rows, d_ff, d), (rows, d, vocab)]:
        a, b = rng.random((m, k), dtype=np.float32), rng.random((k, n), dtype=np.float32)
        seconds = paired_medians([lambda: a @ b], 7)[0]
        rates.append(2 * m * k * n / seconds)
    return max(rates)


def bench_step(shape_name, repeats):
    model, ours = tinytensor_step(shape_name)
    fns = [ours]
    if have_torch():
        fns.append(torch_step(shape_name)[1])
    cold, rounds = [], []
    times = paired_medians(fns, repeats, settle=SETTLE_SECONDS, per_round=STEPS_PER_ROUND, cold=cold,
                           rounds=rounds)
    shape, size, length, _ = SHAPES[shape_name]
    row = {"benchmark": f"step-{shape_name}", "unit": "ms/step", "ours": times[0] * 1e3,
           "detail": f"{shape}, batch {size} x {length}, {model.num_parameters():,} parameters",
           "ours_cold": cold[0] * 1e3}
    if len(times) > 1:
        row.update(peer="PyTorch CPU eager", theirs=times[1] * 1e3, ratio=times[0] / times[1],
                   target="<= 0.8", theirs_cold=cold[1] * 1e3)
        low, middle, high = row["paired_ratio_quartiles"] = paired_ratio_quartiles(*rounds)
        row["detail"] += (f"; the rounds' own ratios: median {middle:.3f}, quartiles {low:.3f} to "
                          f"{high:.3f}; the step right after the pause (cold): {cold[0] * 1e3:.1f} "
                          f"vs {cold[1] * 1e3:.1f} ms, {cold[0] / cold[1]:.2f}")
        if too_noisy(row["paired_ratio_quartiles"]):
            row["noisy"] = True
            row["detail"] = (f"TOO NOISY to judge the target (the rounds' ratios spread "
                             f"{100 * ratio_spread(row['paired_ratio_quartiles']):.0f}% of their "
                             f"median, more than "
                             f"{100 * NOISY_SPREAD:.0f}%: the host is shared; run again when it is quiet); "
                             + row["detail"])
    if shape_name == "M":
        floor = matmul_flops(ours) / gemm_rate(shape_name)
        row["matmul_floor_share"] = floor / times[0]
        row["detail"] += f"; matmul floor {floor * 1e3:.0f} ms = {100 * floor / times[0]:.0f}% of the step"
    return row


def lone_step_seconds(lib, shape_name, steps):
    """`steps` back-to-back step times of one library ("ours" or "torch"), alone in a
    fresh process (after two warm-up steps): no other library's threads anywhere."""
    out = in_fresh_process(
        ("b.thread_settings()\n" if lib == "torch" else "")   # torch's thread count
        + step_code(lib, shape_name)
        + "step(); step()\n"
        + f"print(*[b.timed(step) for _ in range({steps})])")
    return [float(t) for t in out.split()[-steps:]]


def bench_step_alone(shape_name, repeats, rounds=3):
    """bench_step's figures the other way: each library in processes of its own,
    alternating process by process (`rounds` each, `repeats` steps per process),
    medians over all their steps. A check on the paired figures, which time both
    libraries in one process (--alone)."""
    libs = ["ours", "torch"] if have_torch() else ["ours"]
    times = {lib: [] for lib in libs}
    for _ in range(rounds):
        for lib in libs:
            times[lib] += lone_step_seconds(lib, shape_name, repeats)
    ours = float(np.median(times["ours"]))
    row = {"benchmark": f"step-{shape_name}", "unit": "ms/step", "ours": ours * 1e3,
           "detail": f"each library alone in its own process, back to back: {rounds} processes "
                     f"each, {repeats} steps each"}
    if "torch" in times:
        theirs = float(np.median(times["torch"]))
        row.update(peer="PyTorch CPU eager", theirs=theirs * 1e3, ratio=ours / theirs, target="<= 0.8")
    return row


# -- per-operation overhead ----------------------------------------------------------------------------
def bench_overhead(repeats, length=1000):
    def chain(lib, x):
        for i in range(length):
            x = x * 1.001 if i % 2 else x + 0.001
        return x.sum()

    x_ours = tt.tensor(np.ones(16, np.float32), requires_grad=True)

    def ours():
        x_ours.grad = None
        chain(tt, x_ours).backward()
    fns = [ours]
    if have_torch():
        import torch
        x_theirs = torch.ones(16, requires_grad=True)

        def theirs():
            x_theirs.grad = None
            chain(torch, x_theirs).backward()
        fns.append(theirs)
    times = paired_medians(fns, repeats)
    row = {"benchmark": "overhead", "unit": "ms per 1,000-op chain (fwd+bwd)", "ours": times[0] * 1e3,
           "detail": "x * 1.001 and x + 0.001 alternating on 16 float32 values"}
    if len(times) > 1:
        row.update(peer="PyTorch CPU eager", theirs=times[1] * 1e3, ratio=times[0] / times[1],
                   target="<= 1.5")
    return row


# -- decoding ---------------------------------------------------------------------------------------
def bench_decoding(repeats, sentences=64, max_len=40):
    shape, _, length, vocab = SHAPES["readme"]
    tt.manual_seed(0)
    model = tinytransformer.Transformer(vocab, vocab, dropout=DROPOUT, max_len=MAX_LEN, **shape).eval()
    src = batch(vocab, sentences, length, seed=1)[0]
    rows = []
    for name, beam in [("greedy", 1), ("beam 4", 4)]:
        def decode(use_cache):
            # eos_id=-1 never comes, so every sentence decodes all max_len tokens.
            if beam == 1:
                return lambda: tinytransformer.greedy_decode(model, src, 2, -1, max_len, use_cache=use_cache)
            return lambda: tinytransformer.beam_search(model, src, 2, -1, beam, max_len, use_cache=use_cache)
        cached, uncached = paired_medians([decode(True), decode(False)], max(1, repeats // 3))
        tokens = sentences * max_len
        rows.append({"benchmark": f"decoding-{name}", "unit": "tokens/s", "ours": tokens / cached,
                     "peer": "the same without the KV cache", "theirs": tokens / uncached,
                     "ratio": uncached / cached, "target": ">= 3",
                     "detail": f"{sentences} sentences to length {max_len}, README's model"})
    return rows


# -- memory -------------------------------------------------------------------------------------------
def resident_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def bench_memory(quick):
    """Both figures in fresh processes: a process that ran other benchmarks keeps their
    freed memory (tinytensor asks malloc to keep it), which would hide growth, and a
    child started from it inherits its peak in ru_maxrss, so the peak is read from
    VmHWM (the high-water mark of the child's own memory)."""
    shape_name, first, last = ("readme", 20, 200) if quick else ("S", 100, 1000)
    start, end = (float(v) for v in in_fresh_process(
        f"_, step = b.tinytensor_step({shape_name!r}); out = []\n"
        f"for i in range(1, {last} + 1):\n"
        f"    step()\n"
        f"    if i in ({first}, {last}): out.append(b.resident_mib())\n"
        f"print(*out)").split()[-2:])
    rows = [{"benchmark": f"memory-growth-{shape_name}", "unit": "% RSS growth",
             "ours": 100 * (end - start) / start, "target": "< 5",
             "detail": f"{start:.0f} MiB at step {first}, {end:.0f} MiB at step {last} "
                       f"(fresh process)"}]
    peaks = {lib: float(in_fresh_process(
        step_code(lib, "M") + "[step() for _ in range(3)]\n"
        "print(b.peak_resident_mib())").split()[-1])
        for lib in (["ours", "torch"] if have_torch() else ["ours"])}
    row = {"benchmark": "peak-memory-M", "unit": "MiB peak RSS (VmHWM), 3 steps", "ours": peaks["ours"],
           "detail": "each in a fresh process"}
    if "torch" in peaks:
        row.update(peer="PyTorch CPU eager", theirs=peaks["torch"], ratio=peaks["ours"] / peaks["torch"],
                   target="<= 1.0")
    rows.append(row)
    return rows


def peak_resident_mib():
    """The high-water mark of this process's resident memory (VmHWM), in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def step_code(lib, shape_name):
    """The line of in_fresh_process code that makes `step`, one training step of
    lib ("ours" or "torch") at the shape."""
    return f"step = (b.tinytensor_step if {lib!r} == 'ours' else b.torch_step)({shape_name!r})[1]\n"


def in_fresh_process(code):
    """Run `code` (with this module imported as b) in a new Python process; its stdout."""
    prelude = f"import sys; sys.path.insert(0, {ROOT!r}); sys.argv = ['x']\nimport benchmarks.run_all as b\n"
    out = subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True,
                         check=True, stdin=subprocess.DEVNULL, cwd=ROOT, timeout=1800)
    return out.stdout


# -- Word2Vec ------------------------------------------------------------------------------------------
def bench_word2vec():
    script = os.path.join(ROOT, "benchmarks", "word2vec_speed.py")
    corpus = os.path.join(ROOT, "..", "shared", "data", "text8-2M", "text8_2M.txt")
    if not os.path.exists(corpus):
        print("word2vec: no corpus at ../shared/data/text8-2M; skipped")
        return []
    out = os.path.join(ROOT, "runs", "word2vec_speed.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)   # a fresh clone has no runs/
    # word2vec_speed.py's own default, one BLAS thread in each of the two worker processes
    # (as gensim's workers), unless the caller set them: this script's 2 would put four
    # threads on two cores
    env = dict(os.environ, **{k: GIVEN_THREADS.get(k, "1") for k in THREAD_VARIABLES})
    subprocess.run([sys.executable, script, corpus, "--json", out], check=True, stdin=subprocess.DEVNULL,
                   cwd=ROOT, env=env)
    with open(out) as f:
        results = json.load(f)
    rows = []
    for mode, target in [("cbow", ">= 0.5"), ("sg", ">= 0.75")]:
        ours = [r for r in results if r["mode"] == mode and r["implementation"] != "gensim"]
        theirs = [r for r in results if r["mode"] == mode and r["implementation"] == "gensim"]
        if ours:
            row = {"benchmark": f"word2vec-{mode}", "unit": "words/s (median of rounds)",
                   "ours": ours[0]["words_per_second"],
                   "detail": f"{ours[0]['runs']} alternating rounds, mean over their seeds: analogy "
                             f"{ours[0].get('analogy', float('nan')):.3f}, "
                             f"wordsim {ours[0].get('wordsim', float('nan')):.3f}"}
            if theirs:
                g = theirs[0]
                row.update(peer="gensim", theirs=g["words_per_second"],
                           ratio=ours[0]["words_per_second"] / g["words_per_second"], target=target)
                row["detail"] += (f" (gensim {g.get('analogy', float('nan')):.3f}, "
                                  f"{g.get('wordsim', float('nan')):.3f})")
                differences = ours[0].get("vs_gensim", {})
                if differences:   # (difference, its standard error) over the seeds
                    row["detail"] += "; ours minus gensim: " + ", ".join(
                        f"{key} {difference:+.4f} +- {error:.4f}"
                        for key, (difference, error) in differences.items())
            rows.append(row)
    return rows


# -- before / after: another checkout of this project against this one ----------------------------------
def against(old_root, names, repeats):
    """Each step/overhead benchmark of `old_root` (say a `git worktree` of an
    earlier commit) against this tree's, alternating in this one process: both
    copies of the packages are imported, and sys.modules is switched to the
    one whose step runs next, so any import done while running finds its own."""
    packages = ("tinytensor", "tinytransformer", "benchmarks")

    def load(root, name):
        for key in [k for k in sys.modules if k.split(".")[0] in packages]:
            del sys.modules[key]
        sys.path.insert(0, root)
        try:
            import benchmarks.run_all as copy
            fn = copy.tinytensor_step(name[len("step-"):])[1] if name.startswith("step-") else \
                overhead_chain(sys.modules["tinytensor"])
        finally:
            sys.path.remove(root)
        return fn, {k: v for k, v in sys.modules.items() if k.split(".")[0] in packages}

    rows = []
    for name in names:
        versions = [load(os.path.abspath(old_root), name), load(ROOT, name)]

        def runner(version):
            def run():
                sys.modules.update(version[1])
                version[0]()
            return run
        old, new = paired_medians([runner(v) for v in versions], repeats)
        rows.append({"benchmark": name, "unit": "ms", "ours": new * 1e3, "peer": f"{old_root}",
                     "theirs": old * 1e3, "ratio": new / old, "detail": "this tree / the other"})
    sys.modules.update(versions[1][1])
    return rows


def overhead_chain(tinytensor, length=1000):
    """The overhead benchmark's chain on this tinytensor module: forward and backward."""
    x = tinytensor.tensor(np.ones(16, np.float32), requires_grad=True)

    def run():
        y = x
        for i in range(length):
            y = y * 1.001 if i % 2 else y + 0.001
        x.grad = None
        y.sum().backward()
    return run


# -- the table ------------------------------------------------------------------------------------------
def print_table(rows):
    print(f"\n{'benchmark':22} {'ours':>11} {'peer':>11} {'ratio':>7} {'target':>7}  unit; detail")
    for r in rows:
        theirs = f"{r['theirs']:11.1f}" if "theirs" in r else f"{'-':>11}"
        ratio = f"{r['ratio']:7.3f}" if "ratio" in r else f"{'-':>7}"   # 0.801 is not <= 0.8
        print(f"{r['benchmark']:22} {r['ours']:11.1f} {theirs} {ratio} {r.get('target', '-'):>7}  "
              f"{r['unit']}; {r.get('peer', '')}{'; ' if r.get('peer') else ''}{r.get('detail', '')}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats (a smoke run)")
    parser.add_argument("--only", help="comma-separated: step-readme, step-S, step-M, overhead, "
                        "decoding, memory, word2vec (default: all but word2vec)")
    parser.add_argument("--repeats", type=int, help="rounds per paired timing (default 7, quick 3)")
    parser.add_argument("--json", default=os.path.join(ROOT, "runs", "benchmarks.json"))
    parser.add_argument("--against", metavar="ROOT", help="another checkout (a git worktree of an "
                        "earlier commit): time its step-*/overhead against this tree's instead, "
                        "alternating in one process")
    parser.add_argument("--alone", action="store_true", help="time step-* with each library "
                        "alone in processes of its own, alternating (a check on the paired figures)")
    args = parser.parse_args()
    repeats = args.repeats or (3 if args.quick else 7)
    wanted = (args.only.split(",") if args.only else
              ["step-readme", "overhead", "decoding", "memory"] if args.quick else
              ["step-readme", "step-S", "step-M", "overhead", "decoding", "memory"])
    known = ["step-readme", "step-S", "step-M", "overhead", "decoding", "memory", "word2vec"]
    unknown = [name for name in wanted if name not in known]
    if unknown:     # before any benchmark, not after half an hour of them
        sys.exit(f"run_all.py --only: unknown benchmark(s) {', '.join(map(repr, unknown))}; "
                 f"expected some of {', '.join(known)}")
    settings = thread_settings()
    print("settings:", json.dumps(settings))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=ROOT).stdout.strip()
    # made now, not after half an hour of benchmarks
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    rows = []

    def save(complete):
        """The report so far, written after each benchmark: a later crash loses none."""
        report = {"commit": commit, "settings": settings, "repeats": repeats, "rows": rows,
                  "complete": complete,
                  "peak_rss_mib_this_process": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
        atomic_write(args.json, lambda f: json.dump(report, f, indent=1), mode="w")

    if args.against:
        wanted = [n for n in wanted if n.startswith("step-") or n == "overhead"]
        rows, wanted = against(args.against, wanted, repeats), []
    for name in wanted:
        print(f"running {name} ...", flush=True)
        done = len(rows)
        if name.startswith("step-"):
            rows.append((bench_step_alone if args.alone else bench_step)(name[len("step-"):], repeats))
        elif name == "overhead":
            rows.append(bench_overhead(repeats))
        elif name == "decoding":
            rows.extend(bench_decoding(repeats))
        elif name == "memory":
            rows.extend(bench_memory(args.quick))
        else:
            rows.extend(bench_word2vec())
        print_table(rows[done:])
        save(complete=False)
    print_table(rows)
    save(complete=True)
    print(f"\nwritten {args.json} (commit {commit})")


if __name__ == "__main__":
    main()
