"""Where one training step's time goes: the matrix products, call by call, and the rest.

    python benchmarks/step_split.py [--shape M] [--steps 5] [--torch]

Runs run_all.py's step (forward, label-smoothed cross-entropy, backward, gradient
clipping, Adam) and times every matrix product inside it (run_all.time_products:
MatMul's forward, which the backward's products go through too, and Linear's
forward, one BLAS call that starts from a copy of the bias). It prints the step's
median time, the products' share of it, and each kind of product - shapes, memory
layouts, calls a step, milliseconds a step and GFLOP/s - so a slow shape or layout
shows. Attention's own small products are inside its fused operation and count as
the rest.

--torch adds PyTorch's step of the same shape under torch.profiler: its products
(aten::mm, addmm, bmm, baddbmm) against all its operations' own time.

Why it exists: on the 2-core machine the products were 58% of our step at M on
one CPU and 85% on another, and the step's ratio against PyTorch follows that
share (benchmarks/RESULTS.md). Run it before deciding what to make faster.
"""
import argparse
import json
import statistics

import run_all

TORCH_PRODUCTS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm")


def torch_split(step, steps):
    """PyTorch's step under torch.profiler: (the products' own time a step, all
    operations' own time a step, [(operation, seconds a step)] the ten largest)."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        for _ in range(steps):
            step()
    own = {event.key: event.self_cpu_time_total / 1e6 / steps for event in profiler.key_averages()}
    products = sum(seconds for name, seconds in own.items() if name in TORCH_PRODUCTS)
    largest = sorted(own.items(), key=lambda item: -item[1])[:10]
    return products, sum(own.values()), largest


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", default="M", choices=sorted(run_all.SHAPES))
    parser.add_argument("--steps", type=int, default=5, help="timed steps (after 2 untimed)")
    parser.add_argument("--torch", action="store_true", help="PyTorch's step too, by torch.profiler")
    args = parser.parse_args()
    if args.steps < 1:
        parser.error(f"--steps must be at least 1, got {args.steps}")
    print("settings:", json.dumps(run_all.thread_settings()))
    _, step = run_all.tinytensor_step(args.shape)
    step(), step()          # the first steps allocate Adam's state and warm the caches
    split = run_all.time_products(step, args.steps)
    total, products = split["step_seconds"], split["products_seconds"]
    print(f"\ntinytensor, shape {args.shape}: step {total * 1e3:.0f} ms (median of {args.steps}); "
          f"matrix products {products * 1e3:.0f} ms ({products / total:.0%}); "
          f"the rest {(total - products) * 1e3:.0f} ms")
    print(f"{'':7}{'a':>16} {'b':>16} {'layouts':>9} {'calls':>6} {'ms/step':>8} {'GFLOP/s':>8}")
    for kind, a, b, a_layout, b_layout, calls, seconds, flops in split["rows"]:
        rate = flops / seconds / 1e9 if seconds else float("nan")
        print(f"{kind:7}{str(a):>16} {str(b):>16} {a_layout + ' ' + b_layout:>9} {calls:6d} "
              f"{seconds * 1e3:8.1f} {rate:8.0f}")
    if args.torch:
        if not run_all.have_torch():
            raise SystemExit("step_split.py --torch: PyTorch is not installed "
                             "(pip install torch==2.13.0)")
        _, torch_step = run_all.torch_step(args.shape)
        torch_step(), torch_step()
        plain = statistics.median(run_all.timed(torch_step) for _ in range(args.steps))
        products, own, largest = torch_split(torch_step, args.steps)
        print(f"\nPyTorch, shape {args.shape}: step {plain * 1e3:.0f} ms (median of {args.steps}, "
              f"no profiler); under the profiler its operations' own time is {own * 1e3:.0f} ms "
              f"a step, of which the products {products * 1e3:.0f} ms ({products / own:.0%})")
        for name, seconds in largest:
            print(f"  {name:32} {seconds * 1e3:8.1f} ms")


if __name__ == "__main__":
    main()
