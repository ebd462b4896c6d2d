# %% [markdown]
# # Step 2. Tensors and broadcasting: why gradients are summed back
#
# **What you will see:** the gradient of a bias shared by a whole batch, printed and checked
# against a sum worked out with NumPy; a picture of that sum (`02_broadcast.png`); a softmax
# you write yourself passing `gradcheck`, and the message `gradcheck` prints when a bug is
# planted in it. About 2 seconds on a laptop CPU.
#
# The notes' example: 5 houses (N = 5 samples, batch_size), each described by 3 features,
# and a layer `Y = X W + b` with 2 outputs. `X` is (5, 3), `W` is (3, 2), `b` is (2,).
# `X W` is (5, 2), and `b` is *broadcast*: the same 2 numbers are added to each of the 5 rows.

# %%
import os
import pathlib
import sys

import matplotlib
if "ipykernel" not in sys.modules:
    matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import tinytensor as tt

OUT = pathlib.Path(os.environ.get("TINY_OUT", "runs/learning_path"))
OUT.mkdir(parents=True, exist_ok=True)


def check(what, value, expected, tol=1e-9, source="by hand"):
    """Print a value next to the one worked out by hand; stop if they differ."""
    ok = abs(value - expected) <= tol * max(1.0, abs(expected))
    print(f"check {what}: {value:.10g} vs {expected:.10g} {source} [{'ok' if ok else 'WRONG'}]")
    assert ok, f"{what}: got {value}, expected {expected}"


rng = np.random.default_rng(0)
X = tt.tensor(rng.standard_normal((5, 3)))                   # float64, as NumPy made it
W = tt.tensor(rng.standard_normal((3, 2)), requires_grad=True)
b = tt.tensor(np.zeros(2), requires_grad=True)
Y = X @ W + b                                                # (5, 2) + (2,) -> (5, 2)
print("shapes:", X.shape, "@", W.shape, "+", b.shape, "->", Y.shape)

# %% [markdown]
# ## A weight used five times gets five gradients, added up
# Take any loss; write G = dL/dY for its gradient with respect to Y (a (5, 2) array). Here
# L = sum(G * Y) with a fixed random G, so dL/dY is exactly G. Each b[j] was copied into all
# 5 rows, and a value used several times receives the sum of the gradients of its uses
# (the same rule that makes d(x*x)/dx = x + x). So dL/db = G summed over the batch axis.

# %%
G = rng.standard_normal((5, 2))
L = (tt.tensor(G) * Y).sum()
L.backward()
print("b.grad =", b.grad.numpy(), " shape", b.grad.shape, "(the shape of b, not of Y)")
for j in range(2):
    check(f"dL/db[{j}] = column {j} of G summed", b.grad.numpy()[j], G[:, j].sum())
check("dL/dW[0,0] = (X^T G)[0,0]", W.grad.numpy()[0, 0], (X.numpy().T @ G)[0, 0])

# %% [markdown]
# A column of shape (5, 1) broadcasts the other way, over the 2 outputs, so its gradient is
# G summed along each row. Each backward rule in tinytensor ends by summing its gradient back
# to its input's shape; that is the whole of "broadcasting in backward".

# %%
c = tt.tensor(np.zeros((5, 1)), requires_grad=True)
(tt.tensor(G) * (Y.detach() + c)).sum().backward()
check("dL/dc[0] = row 0 of G summed", c.grad.numpy()[0, 0], G[0].sum())

# G in the middle; its column sums (dL/db) below it, its row sums (dL/dc) to its right.
table = np.full((6, 3), np.nan)
table[:5, :2], table[5, :2], table[:5, 2] = G, b.grad.numpy(), c.grad.numpy()[:, 0]
fig, ax = plt.subplots(figsize=(5, 5.4))
ax.imshow(np.ma.masked_invalid(table), cmap="coolwarm", vmin=-3, vmax=3)
for (i, j), v in np.ndenumerate(table):
    if not np.isnan(v):
        ax.text(j, i, f"{v:+.2f}", ha="center", va="center", fontsize=11)
ax.axhline(4.5, color="k", lw=2)
ax.axvline(1.5, color="k", lw=2)
ax.set_xticks(range(3), ["Y[:, 0]", "Y[:, 1]", "dL/dc\n(row sums)"])
ax.set_yticks(range(6), [f"house {i}" for i in range(5)] + ["dL/db\n(column sums)"])
ax.set_title("G = dL/dY, and the sums a broadcast sends back")
fig.tight_layout()
fig.savefig(OUT / "02_broadcast.png", dpi=100)
print("wrote", OUT / "02_broadcast.png")

# %% [markdown]
# ## gradcheck: test the gradient of a function you write
# Softmax turns the attention scores into weights (注意力得分转为权重). Written from
# primitives, with the row maximum subtracted first so exp never overflows:
# softmax(x)_i = exp(x_i - m) / sum_j exp(x_j - m). `keepdim=True` keeps the summed dim
# as size 1, so the (4, 1) denominator broadcasts over the 5 columns.
#
# `tt.gradcheck(fn, inputs)` compares backward with finite differences for every input that
# requires grad (they must be float64) and returns True or raises `tt.GradcheckError`.

# %%
def my_softmax(x):
    e = (x - x.amax(dim=-1, keepdim=True)).exp()
    return e / e.sum(dim=-1, keepdim=True)


x = tt.tensor(rng.standard_normal((4, 5)), requires_grad=True)
print("gradcheck(my_softmax):", tt.gradcheck(my_softmax, [x]))
difference = np.abs((my_softmax(x) - tt.softmax(x, dim=-1)).numpy()).max()
check("largest |my_softmax - tt.softmax|", float(difference), 0.0, source="expected")

# %% [markdown]
# Each row of a softmax sums to 1 whatever x is, so by hand the gradient of that sum is 0:

# %%
x.grad = None
my_softmax(x).sum().backward()
check("largest |d sum(softmax) / dx|", float(np.abs(x.grad.numpy()).max()), 0.0)

# %% [markdown]
# ## Plant a bug and read the message
# A common bug: computing part of a formula outside the graph (with `.numpy()`, `.item()` or
# `.detach()`). The value stays right, so nothing looks wrong, but backward no longer knows
# the denominator depends on x. gradcheck names the input, the worst element, and both values.
# (Detaching the *maximum* instead is harmless: softmax does not change when a constant is
# subtracted from a row, so no gradient flows through m anyway. Try it.)

# %%
def buggy_softmax(x):
    e = (x - x.amax(dim=-1, keepdim=True)).exp()
    return e / tt.tensor(e.sum(dim=-1, keepdim=True).numpy())   # the bug: a constant now


difference = np.abs((buggy_softmax(x) - tt.softmax(x, dim=-1)).numpy()).max()
check("largest |buggy_softmax - tt.softmax|", float(difference), 0.0, source="expected")
try:
    tt.gradcheck(buggy_softmax, [x])
    raise SystemExit("gradcheck should have caught the bug")
except tt.GradcheckError as error:
    print("gradcheck caught the bug:", error)
