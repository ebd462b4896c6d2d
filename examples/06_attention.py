# %% [markdown]
# # Step 6. Attention: Q, K, V, the √d_k, masks, and many heads
#
# **What you will see:** attention worked out by hand for one query and three keys, and
# checked; a picture, measured on random vectors, of why the scores are divided by √d_k
# (`06_scaling.png`); the causal and the padding mask drawn as heatmaps, with the weights
# they leave (`06_masks.png`); multi-head attention rebuilt from its projections and checked
# against `MultiHeadAttention`; and the fused `F.scaled_dot_product_attention` checked against
# the four lines of the paper, in value and in gradient. About 3 seconds on a laptop CPU.
#
# In the notes' words (自注意力机制): every token vector x is mapped by three trained
# matrices to three vectors,
#
# * **Q** (Query, 查询): what this token wants to know about the others (想了解其他 token 的什么信息);
# * **K** (Key, 键): the label by which the others can find it (能被其他 token 匹配的"身份标识");
# * **V** (Value, 值): what it hands over when it is found (真正有价值的语义信息).
#
# Like looking for a book in a library: your question is the query, the label on each book's
# spine is its key, and what you take home is the book's content, its value
# (查询 - 匹配标签 - 找到标签对应值). In the paper's formula (Vaswani et al. 2017, section 3.2):
#
#     Attention(Q, K, V) = softmax(Q K^T / √d_k) V
#
# Each query is compared with every key by a dot product (注意力得分, the attention score),
# the scores are divided by √d_k (d_k: the length of a key), a softmax turns each query's
# scores into weights that sum to 1, and the output is the weighted sum of the values.

# %%
import math
import os
import pathlib
import sys

import matplotlib
if "ipykernel" not in sys.modules:
    matplotlib.use("Agg")              # no window when run as a script
import matplotlib.pyplot as plt
import numpy as np

import tinytensor as tt
import tinytensor.nn.functional as F
from tinytransformer.nn import MultiHeadAttention, causal_mask

OUT = pathlib.Path(os.environ.get("TINY_OUT", "runs/learning_path"))
OUT.mkdir(parents=True, exist_ok=True)
QUICK = os.environ.get("TINY_QUICK") == "1"       # fewer random vectors, for tests


def check(what, value, expected, tol=1e-9, source="by hand"):
    """Print a value next to the one worked out by hand; stop if they differ."""
    ok = abs(value - expected) <= tol * max(1.0, abs(expected))
    print(f"check {what}: {value:.10g} vs {expected:.10g} {source} [{'ok' if ok else 'WRONG'}]")
    assert ok, f"{what}: got {value}, expected {expected}"


# %% [markdown]
# ## One query, three keys, by hand
# d_k = 4, so √d_k = 2. The query asks for "features 1 and 2". Key 1 carries exactly that
# label, key 2 an unrelated one, key 3 half of it:
#
#     q  = (1, 1, 0, 0)
#     k1 = (1, 1, 0, 0)    q.k1 = 2,  / 2 = 1
#     k2 = (0, 0, 1, 1)    q.k2 = 0,  / 2 = 0
#     k3 = (1, 0, 1, 0)    q.k3 = 1,  / 2 = 0.5
#
# The weights are softmax(1, 0, 0.5) = (e, 1, e^0.5) / (e + 1 + e^0.5) = (0.506, 0.186, 0.307):
# the best-matching key gets the most, but not all. With the values v1 = (4, 0), v2 = (0, 4),
# v3 = (2, 2), the output is 0.506 v1 + 0.186 v2 + 0.307 v3, so its first number is
# (4e + 2e^0.5) / (e + 1 + e^0.5).

# %%
q = tt.tensor([[1.0, 1, 0, 0]], dtype=tt.float64)                  # (1 query, d_k = 4)
k = tt.tensor([[1.0, 1, 0, 0], [0, 0, 1, 1], [1, 0, 1, 0]], dtype=tt.float64)  # (3 keys, 4)
v = tt.tensor([[4.0, 0], [0, 4], [2, 2]], dtype=tt.float64)        # (3 values, 2)

scores = q @ k.T / math.sqrt(4)
weights = F.softmax(scores, dim=-1)
out = weights @ v
print("scores:", scores.numpy().round(3), " weights:", weights.numpy().round(3),
      " output:", out.numpy().round(3))

e = math.e
total = e + 1 + math.sqrt(e)
check("weight on key 1 of the worked example", weights[0, 0].item(), e / total)
check("weight on key 3 of the worked example", weights[0, 2].item(), math.sqrt(e) / total)
check("output[0] of the worked example", out[0, 0].item(), (4 * e + 2 * math.sqrt(e)) / total)
check("output[1] of the worked example", out[0, 1].item(), (4 + 2 * math.sqrt(e)) / total)

# %% [markdown]
# ## Why divide by √d_k?
# The notes: 除以√d_k 的目的是防止点积结果过大，导致 softmax 结果趋近于 0 或 1 (so that the dot
# products do not grow so large that the softmax gives only 0s and 1s), which would leave
# almost no gradient (梯度消失). Let us measure it rather than take it on trust.
#
# If the components of q and k are independent with mean 0 and variance 1 (as they roughly
# are at initialisation), q.k = q_1 k_1 + ... + q_dk k_dk is a sum of d_k terms of variance 1:
# its variance is d_k, its typical size √d_k. So with 16 keys and d_k = 512, the scores of
# one query spread over about ±23, and e^23 dwarfs everything else: one key takes all the
# weight. Dividing by √d_k brings the variance back to 1 for every d_k.
#
# For each d_k below we draw random queries and 16 keys per query, and measure three things,
# without and with the division: the variance of the scores; the largest of each query's 16
# weights (1 means the softmax has saturated to a one-hot); and how much gradient reaches the
# scores, by backward through the softmax from a random upstream gradient (as the loss would
# send).

# %%
tt.manual_seed(0)
n_queries, n_keys = (200 if QUICK else 1000), 16
dims = [2 ** i for i in range(11)]                                 # d_k = 1 .. 1024
measured = {"unscaled": [], "scaled": []}
for d_k in dims:
    queries = tt.randn(n_queries, 1, d_k)                          # (N, 1, d_k)
    keys = tt.randn(n_queries, n_keys, d_k)                        # (N, 16, d_k)
    raw = queries @ keys.transpose(-2, -1)                         # (N, 1, 16): q.k
    upstream = tt.randn(n_queries, 1, n_keys)
    for name, divide_by in (("unscaled", 1.0), ("scaled", math.sqrt(d_k))):
        s = (raw / divide_by).detach().requires_grad_()
        w = F.softmax(s, dim=-1)
        (grad,) = tt.grad((w * upstream).sum(), [s])
        measured[name].append((s.numpy().var(), w.numpy().max(axis=-1).mean(),
                               np.abs(grad.numpy()).mean()))

print(" d_k   var(q.k)  var(q.k/√d_k)   largest weight (unscaled, scaled)   "
      "mean |grad| (unscaled, scaled)")
for d_k, (var_u, top_u, grad_u), (var_s, top_s, grad_s) in zip(dims, measured["unscaled"],
                                                            measured["scaled"]):
    print(f"{d_k:4d} {var_u:10.1f} {var_s:12.2f}         {top_u:.3f}   {top_s:.3f}"
          f"                        {grad_u:.2e}   {grad_s:.2e}")
unscaled, scaled = (np.array(measured[name]) for name in ("unscaled", "scaled"))
assert 0.5 < unscaled[-1, 0] / dims[-1] < 2 and 0.5 < scaled[-1, 0] < 2
assert unscaled[-1, 1] > 0.9 and scaled[-1, 1] < 0.6 and unscaled[-1, 2] < scaled[-1, 2] / 5

# %% [markdown]
# The same on a picture: left, the variance grows like d_k (the grey line is var = d_k)
# unless divided; middle, the largest weight goes to 1 (a one-hot) without the division and
# stays put with it; right, the gradient that reaches the scores fades without it. Bottom:
# one query's 16 weights at d_k = 1024, both ways.

# %%
fig = plt.figure(figsize=(13, 7.6))
grid = fig.add_gridspec(2, 3, height_ratios=[1.15, 1])
panels = [fig.add_subplot(grid[0, i]) for i in range(3)]
styles = {"unscaled": dict(color="tab:red", marker="o", label="q.k (no division)"),
          "scaled": dict(color="tab:blue", marker="s", label="q.k / √d_k")}
for name, values in (("unscaled", unscaled), ("scaled", scaled)):
    for ax, column in zip(panels, range(3)):
        ax.plot(dims, values[:, column], ms=4, **styles[name])
panels[0].plot(dims, dims, color="gray", lw=0.8, ls="--", label="d_k")
panels[0].set(xscale="log", yscale="log", title="variance of the scores", ylabel="variance")
panels[1].set(xscale="log", ylim=(0, 1.05), title="largest of 16 softmax weights (mean)",
              ylabel="weight")
panels[1].axhline(1 / n_keys, color="gray", lw=0.8, ls=":")
panels[1].text(1.2, 1 / n_keys + 0.02, "1/16: all keys equal", color="gray", fontsize=9)
panels[2].set(xscale="log", yscale="log", title="gradient reaching the scores",
              ylabel="mean |∂loss/∂score|")
for ax in panels:
    ax.set_xlabel("d_k (log scale)")
    ax.set_xticks(dims[::2], [str(d) for d in dims[::2]])
    ax.grid(alpha=0.3)
panels[0].legend(fontsize=9)

example = fig.add_subplot(grid[1, :])
d_k = dims[-1]
one_q, one_k = tt.randn(1, d_k), tt.randn(n_keys, d_k)
raw = one_q @ one_k.T
for offset, (name, scores) in zip((-0.2, 0.2), (("unscaled", raw),
                                               ("scaled", raw / math.sqrt(d_k)))):
    w = F.softmax(scores, dim=-1).numpy()[0]
    example.bar(np.arange(n_keys) + offset, w, width=0.4, color=styles[name]["color"],
                label=f"{styles[name]['label']}: largest weight {w.max():.2f}")
example.set(xlabel="key", ylabel="softmax weight", xticks=range(n_keys),
            title=f"one query's weights over {n_keys} keys at d_k = {d_k}")
example.legend()
fig.suptitle("Why Attention divides the scores by √d_k (measured on random vectors)")
fig.tight_layout()
fig.savefig(OUT / "06_scaling.png", dpi=100)
print("wrote", OUT / "06_scaling.png")

# %% [markdown]
# ## Masks: what a query may not look at
# Two kinds of keys must get no weight:
#
# * **Causal mask** (因果掩码, in the decoder's 带掩码的多头自注意力): while producing word i the
#   decoder must not peek at words i+1, i+2, ... (防止模型提前看到待预测的信息). Query i may look
#   at keys j <= i: a lower-triangular pattern. The notes describe it as a matrix added to the
#   scores with -inf "on the diagonal"; it is the entries *above* the diagonal that get -inf,
#   since a word may look at itself.
# * **Padding mask** (填充掩码): sentences of a batch have different lengths, so the short ones
#   are padded with `<pad>`; no query should look at a pad key.
#
# Either way the score becomes -inf before the softmax, e^-inf = 0, and the remaining weights
# of the row still sum to 1. `causal_mask(n)` gives the boolean pattern; a padding mask comes
# from comparing the token ids with the pad id.
#
# Mind the sign convention, which is PyTorch's: `F.scaled_dot_product_attention` takes a
# boolean `attn_mask` that is **True where attending is allowed**, while
# `MultiHeadAttention`'s `key_padding_mask` and `attn_mask` (like torch.nn.MultiheadAttention's)
# are **True where a key is masked out**. A float mask is added to the scores in both.

# %%
long = ["<s>", "long", "time", "no", "see", "."]
short = ["<s>", "thank", "you", ".", "<pad>", "<pad>"]
T = len(long)
causal = causal_mask(T)                                    # (T, T) bool, True = may look
not_pad = np.array([token != "<pad>" for token in short])  # (T,) bool, True = a real token
allowed = causal & not_pad[None, :]                        # both: a query row, a key column
print("causal mask (1 = may look):\n", causal.astype(int))

tt.manual_seed(1)
scores = tt.randn(T, T, dtype=tt.float64)
masked = scores.masked_fill(tt.tensor(~allowed), float("-inf"))
weights = F.softmax(masked, dim=-1)
check("largest attention weight on a masked key", np.abs(weights.numpy()[~allowed]).max(), 0.0)
rows = weights.numpy()[not_pad]       # the query rows of real tokens
check("largest |row sum - 1| of the weights (real queries)", np.abs(rows.sum(-1) - 1).max(), 0.0,
      tol=1e-12)
additive = np.where(allowed, 0.0, -np.inf)                 # the same mask as numbers to add
float_out = F.softmax(scores + tt.tensor(additive), dim=-1)
check("largest difference, boolean mask vs -inf added", np.abs(float_out.numpy() -
                                                               weights.numpy()).max(), 0.0)

# %% [markdown]
# A pad token as a *query* still has a row (its output is thrown away later: the loss ignores
# pad positions), so the picture shows the weights of the real queries only.

# %%
def draw_mask(ax, mask, title, queries, keys):
    ax.imshow(mask, cmap=matplotlib.colors.ListedColormap(["#e8e8e8", "tab:blue"]), vmin=0, vmax=1)
    for i, j in zip(*np.nonzero(~mask)):
        ax.text(j, i, "-inf", ha="center", va="center", fontsize=8, color="dimgray")
    label_axes(ax, title, queries, keys)


def label_axes(ax, title, queries, keys):
    ax.set_xticks(range(len(keys)), keys, rotation=45, ha="right")
    ax.set_yticks(range(len(queries)), queries)
    ax.set_xlabel("key (looked at)")
    ax.set_ylabel("query (looking)")
    ax.set_title(title, fontsize=11)


fig, axes = plt.subplots(1, 4, figsize=(17, 4.8))
draw_mask(axes[0], causal, "causal mask: query i sees keys j ≤ i", long, long)
draw_mask(axes[1], np.broadcast_to(not_pad, (T, T)), "padding mask: no query sees <pad>",
          short, short)
draw_mask(axes[2], allowed, "both (the decoder's self-attention)", short, short)
shown = np.where(not_pad[:, None], weights.numpy(), np.nan)
axes[3].imshow(shown, cmap="viridis", vmin=0, vmax=1)
for i, j in zip(*np.nonzero(not_pad[:, None] & np.ones((T, T), bool))):
    w = weights.numpy()[i, j]
    axes[3].text(j, i, f"{w:.2f}", ha="center", va="center", fontsize=8,
                 color="black" if w > 0.5 else "white")
for i in np.nonzero(~not_pad)[0]:
    axes[3].text((T - 1) / 2, i, "pad query: its output is ignored", ha="center", va="center",
                 fontsize=8, color="dimgray")
label_axes(axes[3], "softmax of random scores, masked", short, short)
fig.suptitle("Blue: may attend. Grey: -inf is added to the score, so the weight is e^-inf = 0")
fig.tight_layout()
fig.savefig(OUT / "06_masks.png", dpi=100)
print("wrote", OUT / "06_masks.png")

# %% [markdown]
# ## Multi-head attention
# One attention mixes the values with one set of weights. Multi-head attention (多头注意力)
# looks from several angles at once (从多个角度观察同一个句子): Q, K and V are projected to
# d_model and cut into h heads of d_k = d_model / h features; each head attends on its own,
# the h outputs are laid side by side again (拼接) and mixed by one more matrix, W_O:
#
#     head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V),   MultiHead = Concat(head_1..head_h) W^O
#
# `MultiHeadAttention(d_model, n_heads)` holds the four projections as `q_proj`, `k_proj`,
# `v_proj` and `out_proj` (Linear layers), and returns `(output, weights)`, as torch does.
# We rebuild its output by hand from those projections, one head at a time.

# %%
tt.manual_seed(2)
d_model, n_heads = 8, 2
d_k = d_model // n_heads
mha = MultiHeadAttention(d_model, n_heads).double()          # float64, for an exact check
x = tt.randn(1, 5, d_model, dtype=tt.float64)                # one sentence of 5 token vectors
output, head_weights = mha(x, x, x, average_attn_weights=False)   # self-attention: Q, K, V from x
print("output", output.shape, " weights per head", head_weights.shape)

Q, K, V = mha.q_proj(x)[0], mha.k_proj(x)[0], mha.v_proj(x)[0]   # (5, d_model) each
heads, by_hand_weights = [], []
for h in range(n_heads):
    part = slice(h * d_k, (h + 1) * d_k)                     # head h's d_k features
    w = F.softmax(Q[:, part] @ K[:, part].T / math.sqrt(d_k), dim=-1)
    heads.append(w @ V[:, part])
    by_hand_weights.append(w)
by_hand = mha.out_proj(tt.cat(heads, dim=-1))                # concatenate, then W_O
check("largest |MultiHeadAttention - by hand|, output", np.abs(output.numpy()[0] -
                                                            by_hand.numpy()).max(), 0.0)
check("largest |MultiHeadAttention - by hand|, weights", np.abs(
    head_weights.numpy()[0] - np.stack([w.numpy() for w in by_hand_weights])).max(), 0.0)
mean_weights = mha(x, x, x)[1]                               # the default: mean over heads
check("weights averaged over the heads, largest difference", np.abs(
    mean_weights.numpy() - head_weights.numpy().mean(axis=1)).max(), 0.0)

# %% [markdown]
# ## The fused operation against the four lines
# `F.scaled_dot_product_attention(q, k, v, attn_mask)` does all of this in one operation with
# one hand-written backward (see `tinytensor/ops/nn.py`: it keeps the weights and needs no
# graph of its own). The four lines below build the same thing out of ordinary operations,
# each with its own backward (`tinytensor/ops/reference.py` holds the library's copy). Same
# inputs, same mask, same upstream gradient: the outputs and the gradients of q, k and v must
# agree (float64, so to about 1e-15).

# %%
def four_lines(q, k, v, allowed):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # 1. every query against every key
    scores = scores.masked_fill(~allowed, float("-inf"))      # 2. masked keys: -inf
    weights = F.softmax(scores, dim=-1)                       # 3. each row sums to 1
    return weights @ v                                        # 4. a weighted sum of the values


tt.manual_seed(3)
batch, heads_, length, d_k = 2, 3, T, 4
mask = tt.tensor(allowed)                         # (T, T): broadcast over batch and heads
inputs = [tt.randn(batch, heads_, length, d_k, dtype=tt.float64, requires_grad=True)
          for _ in range(3)]
upstream = tt.randn(batch, heads_, length, d_k, dtype=tt.float64)
fused = F.scaled_dot_product_attention(*inputs, attn_mask=mask)
composed = four_lines(*inputs, mask)
fused_grads = tt.grad((fused * upstream).sum(), inputs)
composed_grads = tt.grad((composed * upstream).sum(), inputs)
check("largest |fused - composed|, output", np.abs(fused.numpy() - composed.numpy()).max(), 0.0,
      source="by the four lines")
for name, a, b in zip("qkv", fused_grads, composed_grads):
    check(f"largest |fused - composed|, gradient of {name}", np.abs(a.numpy() - b.numpy()).max(),
          0.0, source="by the four lines")

# %% [markdown]
# Why have both? The four lines are what you read; the fused one is what you run: it stores
# one (L, S) table of weights per head instead of a graph of five operations, and does its
# backward in a few matrix products. `is_causal=True` builds the causal mask itself:

# %%
causal_only = F.scaled_dot_product_attention(*inputs, is_causal=True)
check("largest |is_causal=True - causal_mask|, output", np.abs(
    causal_only.numpy() - four_lines(*inputs, tt.tensor(causal)).numpy()).max(), 0.0,
    source="by the four lines")
