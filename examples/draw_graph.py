"""Draw computation graphs: a small network, and one attention head's scores.

    python examples/draw_graph.py            # writes graphs/mlp.svg and graphs/attention_head.svg
    python examples/draw_graph.py --png      # PNG instead (needs the viz extra)

Each box is an operation, each oval a tensor (name, shape, dtype); parameters
are blue. After backward(retain_graph=True) the ovals also show the gradient's shape.
"""
import argparse
import math
import pathlib

import tinytensor as tt
import tinytransformer


def small_network():
    """y = W2 relu(W1 x + b1) + b2 and its squared-error loss."""
    tt.manual_seed(0)
    net = tinytransformer.Sequential(tinytransformer.Linear(3, 4), tinytransformer.ReLU(), tinytransformer.Linear(4, 1))
    for name, p in net.named_parameters():
        p.name = name
    x = tt.tensor(tt.randn(5, 3), name="x (batch of 5)")
    target = tt.tensor(tt.zeros(5, 1), name="target")
    loss = tt.mse_loss(net(x), target)
    loss.name = "loss"
    loss.backward(retain_graph=True)      # keep the graph so it can still be drawn
    return loss


def attention_head_scores():
    """One head: scores = softmax(Q K^T / sqrt(d_k)) with Q = X W_q, K = X W_k, as in the paper."""
    tt.manual_seed(0)
    d_model, d_k, length = 8, 4, 5
    x = tt.tensor(tt.randn(length, d_model), name="X (5 tokens)")
    w_q = tt.Parameter(tt.randn(d_model, d_k) * 0.3, name="W_q")
    w_k = tt.Parameter(tt.randn(d_model, d_k) * 0.3, name="W_k")
    q, k = x @ w_q, x @ w_k
    q.name, k.name = "Q", "K"
    scores = tt.softmax(q @ k.T / math.sqrt(d_k), axis=-1)
    scores.name = "attention weights"
    return scores


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="graphs")
    parser.add_argument("--png", action="store_true")
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    suffix = ".png" if args.png else ".svg"
    for name, root in (("mlp", small_network()), ("attention_head", attention_head_scores())):
        path = tt.save_graph(root, out / f"{name}{suffix}")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
