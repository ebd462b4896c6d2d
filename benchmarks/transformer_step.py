"""One Transformer training step: tinytensor against the compute floor and PyTorch.

    python benchmarks/transformer_step.py [--steps 10] [--no-torch]

Shape (issue 3): d_model=256, 4 heads, 3 encoder + 3 decoder layers, d_ff=1024,
batch 64, source and target length 20, vocabularies 4000, float32, 2 threads.
A step is forward, label-smoothed cross-entropy, backward and Adam.

Prints ms/step, target tokens/s and peak memory; the compute-bound floor (the
step's matmul FLOPs, counted by instrumenting MatMul, divided by the float32
GEMM rate NumPy reaches here); the same step in PyTorch CPU eager if torch is
installed; and greedy decoding of 32 sentences to length 30 with and without
the key/value cache.
"""
import argparse
import os
import resource
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")
os.environ.setdefault("OMP_NUM_THREADS", "2")

import numpy as np  # noqa: E402

import tinytensor as tt  # noqa: E402
import tinytransformer  # noqa: E402
from tinytensor.ops.linalg import MatMul  # noqa: E402

SHAPE = dict(d_model=256, n_heads=4, n_layers=3, d_ff=1024, dropout=0.1, max_len=64)
VOCAB, BATCH, LENGTH = 4000, 64, 20


def batch(seed=0):
    rng = np.random.default_rng(seed)
    src = rng.integers(4, VOCAB, (BATCH, LENGTH))
    tgt = rng.integers(4, VOCAB, (BATCH, LENGTH + 1))
    return src, tgt


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def tinytensor_step_fn():
    tt.manual_seed(0)
    model = tinytransformer.Transformer(VOCAB, VOCAB, **SHAPE)
    optimizer = tinytransformer.optim.Adam(model.parameters(), lr=1e-4)
    src, tgt = batch()

    def step():
        logits = model(src, tgt[:, :-1])
        loss = tt.cross_entropy(logits, tgt[:, 1:], label_smoothing=0.1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss
    return model, step


def count_matmul_flops(step):
    """Run one step with MatMul.forward wrapped to add up 2*m*n*k per product."""
    flops = [0]
    original = MatMul.forward

    def counting(self, a, b):
        out = original(self, a, b)
        flops[0] += 2 * out.size * a.shape[-1]
        return out
    MatMul.forward = counting
    try:
        step()
    finally:
        MatMul.forward = original
    return flops[0]


def gemm_rate():
    """float32 GEMM FLOP/s NumPy reaches here, on the step's typical shapes."""
    rng = np.random.default_rng(0)
    rates = []
    for m, k, n in [(1280, 256, 256), (1280, 256, 1024), (1280, 1024, 256), (1280, 256, 4000)]:
        a = rng.random((m, k), dtype=np.float32)
        b = rng.random((k, n), dtype=np.float32)
        seconds = median_time(lambda: a @ b, 7)
        rates.append(2 * m * k * n / seconds)
    return max(rates)


def torch_step_seconds(steps):
    import torch
    torch.set_num_threads(2)
    torch.manual_seed(0)

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            d = SHAPE["d_model"]
            self.src_embed = torch.nn.Embedding(VOCAB, d, padding_idx=0)
            self.tgt_embed = torch.nn.Embedding(VOCAB, d, padding_idx=0)
            self.register_buffer("positions", torch.from_numpy(
                tinytransformer.PositionalEncoding(d, SHAPE["max_len"]).table.numpy()))
            self.core = torch.nn.Transformer(d, SHAPE["n_heads"], SHAPE["n_layers"],
                                             SHAPE["n_layers"], SHAPE["d_ff"], SHAPE["dropout"],
                                             batch_first=True)
            self.output_bias = torch.nn.Parameter(torch.zeros(VOCAB))
            self.dropout = torch.nn.Dropout(SHAPE["dropout"])

        def embed(self, table, ids):
            return self.dropout(table(ids) * d_sqrt + self.positions[: ids.shape[1]])

        def forward(self, src, tgt):
            causal = torch.nn.Transformer.generate_square_subsequent_mask(tgt.shape[1])
            h = self.core(self.embed(self.src_embed, src), self.embed(self.tgt_embed, tgt),
                          tgt_mask=causal, src_key_padding_mask=src == 0,
                          tgt_key_padding_mask=tgt == 0, memory_key_padding_mask=src == 0)
            return h @ self.tgt_embed.weight.T + self.output_bias

    d_sqrt = SHAPE["d_model"] ** 0.5
    model = Model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    src, tgt = (torch.from_numpy(a) for a in batch())

    def step():
        logits = model(src, tgt[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), tgt[:, 1:].reshape(-1),
                                                 label_smoothing=0.1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    step()
    return median_time(step, steps)


def decoding_seconds(model):
    src = batch(1)[0][:32]
    model.eval()
    # eos_id=-1 never appears, so every sentence decodes the full 30 tokens.
    timings = {}
    for use_cache in (True, False):
        tinytransformer.greedy_decode(model, src[:2], bos_id=2, eos_id=-1, max_len=3, use_cache=use_cache)
        timings[use_cache] = median_time(
            lambda: tinytransformer.greedy_decode(model, src, bos_id=2, eos_id=-1, max_len=30,
                                     use_cache=use_cache), 3)
    return timings


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--no-torch", action="store_true")
    args = parser.parse_args()

    model, step = tinytensor_step_fn()
    step()                                   # warm up (allocations, BLAS threads)
    seconds = median_time(step, args.steps)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    flops = count_matmul_flops(step)
    rate = gemm_rate()
    floor = flops / rate
    tokens = BATCH * LENGTH
    print(f"tinytensor step: {seconds * 1e3:.0f} ms/step, {tokens / seconds:,.0f} target tokens/s, "
          f"peak RSS {peak_mib:,.0f} MiB ({model.num_parameters():,} parameters)")
    print(f"compute floor:   {flops / 1e9:.1f} GFLOP of matmul per step / {rate / 1e9:.0f} GFLOP/s "
          f"(NumPy float32 GEMM) = {floor * 1e3:.0f} ms/step; tinytensor is {seconds / floor:.2f}x the floor")
    decode = decoding_seconds(model)
    print(f"greedy decoding, 32 sentences x 30 tokens: {decode[True] * 1e3:.0f} ms with the cache, "
          f"{decode[False] * 1e3:.0f} ms without ({decode[False] / decode[True]:.1f}x)")
    if args.no_torch:
        return
    try:
        import torch
    except ImportError:
        print("PyTorch not installed (pip install torch==2.13.0): no comparison")
        return
    torch_seconds = torch_step_seconds(args.steps)
    print(f"PyTorch {torch.__version__} CPU eager: {torch_seconds * 1e3:.0f} ms/step; "
          f"ratio tinytensor / PyTorch = {seconds / torch_seconds:.2f}")


if __name__ == "__main__":
    main()
