# %% [markdown]
# # Step 1. Autograd by hand: one neuron, its graph, and the chain rule
#
# **What you will see:** the computation graph of one neuron drawn as a picture
# (`01_graph.png`), three derivatives printed by `backward()` and checked twice, against the
# chain rule worked out by hand and against finite differences, and a plot of the loss
# against one weight with its tangent (`01_slope.png`). About 2 seconds on a laptop CPU.
#
# The neuron is the one of the notes (神经元的本质：描述输入和输出关系的数学函数):
#
#     a = w1*x1 + w2*x2 + b        y = sigmoid(a) = 1 / (1 + e^-a)        L = 1/2 (y - t)^2
#
# with the loss `L` the notes' MSE for one sample (the 1/2 only makes the derivative tidy).
# 反向传播 = 计算梯度 (backpropagation computes the gradients); 梯度下降 = 根据梯度更新参数
# (gradient descent uses them). This step is the first half.
#
# Run it as a script (`python examples/01_autograd_by_hand.py`) or open it as a notebook
# (jupytext). Pictures go to `$TINY_OUT` (default `runs/learning_path/`).

# %%
import os
import pathlib
import sys

import matplotlib
if "ipykernel" not in sys.modules:
    matplotlib.use("Agg")              # no window when run as a script
import matplotlib.pyplot as plt

import tinytensor as tt

OUT = pathlib.Path(os.environ.get("TINY_OUT", "runs/learning_path"))
OUT.mkdir(parents=True, exist_ok=True)


def check(what, value, expected, tol=1e-9):
    """Print a value next to the one worked out by hand; stop if they differ."""
    ok = abs(value - expected) <= tol * max(1.0, abs(expected))
    print(f"check {what}: {value:.10g} vs {expected:.10g} by hand [{'ok' if ok else 'WRONG'}]")
    assert ok, f"{what}: got {value}, expected {expected}"


# %% [markdown]
# ## The forward pass builds a graph
# Every operation on a tensor that `requires_grad` remembers its inputs. We name the tensors
# so the drawing can label them. float64, so that finite differences below are accurate.

# %%
def number(value, name, requires_grad=False):
    return tt.tensor(value, dtype=tt.float64, requires_grad=requires_grad, name=name)


x1, x2, t = number(1.0, "x1"), number(2.0, "x2"), number(1.0, "t (label)")
w1, w2, b = (number(v, n, requires_grad=True) for v, n in ((0.5, "w1"), (-0.3, "w2"), (0.1, "b")))


half = number(0.5, "1/2")


def neuron_loss(w1, w2, b):
    p1, p2 = w1 * x1, w2 * x2
    s = p1 + p2
    a = s + b
    y = a.sigmoid()
    error = y - t
    square = error ** 2
    loss = half * square
    for tensor, name in ((p1, "w1*x1"), (p2, "w2*x2"), (s, "w1*x1 + w2*x2"), (a, "a"), (y, "y"),
                         (error, "y - t"), (square, "(y - t)^2"), (loss, "L")):
        tensor.name = name
    return loss


L = neuron_loss(w1, w2, b)
print(f"L = {L.item():.6f}")

# %% [markdown]
# ## backward() walks the graph the other way
# `retain_graph=True` keeps the graph after backward, only so that we can still draw it.
# In the picture, boxes are operations and ovals tensors (name, shape, dtype); the green ones
# are the leaves we asked gradients for, dashed ones are constants, red is the loss.
# backward() starts at L and follows the arrows in reverse, multiplying local derivatives.

# %%
L.backward(retain_graph=True)
print(f"dL/dw1 = {w1.grad.item():.6f}, dL/dw2 = {w2.grad.item():.6f}, dL/db = {b.grad.item():.6f}")
print("wrote", tt.save_graph(L, OUT / "01_graph.png"))

# %% [markdown]
# ## The chain rule, by hand
# With these numbers a = 0.5*1 - 0.3*2 + 0.1 = 0, so y = sigmoid(0) = 1/2. Then, link by link
# (as in the notes: ∂L/∂w = ∂L/∂y · ∂y/∂a · ∂a/∂w):
#
#     dL/dy = y - t        = -1/2
#     dy/da = y (1 - y)    =  1/4        (the derivative of the sigmoid)
#     da/dw1 = x1 = 1,   da/dw2 = x2 = 2,   da/db = 1
#
# so dL/dw1 = -1/2 * 1/4 * 1 = -0.125, dL/dw2 = -0.25 and dL/db = -0.125.

# %%
y = 0.5
dL_da = (y - 1.0) * y * (1 - y)
check("dL/dw1", w1.grad.item(), dL_da * 1.0)
check("dL/dw2", w2.grad.item(), dL_da * 2.0)
check("dL/db", b.grad.item(), dL_da * 1.0)

# %% [markdown]
# ## Finite differences: the definition of a derivative, numerically
# Nudge one weight by ±h and look at how L moves: (L(w + h) - L(w - h)) / 2h. Its error is
# of order h², so with h = 1e-6 in float64 it agrees with backward to about 1e-9.

# %%
h = 1e-6
with tt.no_grad():                      # no graph needed: we only evaluate L
    numeric = (neuron_loss(w1 + h, w2, b).item() - neuron_loss(w1 - h, w2, b).item()) / (2 * h)
check("dL/dw1 by finite differences", numeric, -0.125, tol=1e-8)

# %% [markdown]
# ## What the derivative means: the slope of L as w1 changes
# The red line is the tangent at w1 = 0.5 with the slope backward gave; the dashed one is
# the finite-difference secant with a large h = 0.5, so you can see it. Gradient descent
# (下山) would step w1 against the slope: w1 ← w1 - lr · dL/dw1, to the right here.

# %%
ws = [i / 100 for i in range(-300, 401)]
with tt.no_grad():
    Ls = [neuron_loss(number(w, "w1"), w2, b).item() for w in ws]
    L_left, L_right = (neuron_loss(number(w, "w1"), w2, b).item() for w in (0.0, 1.0))
slope, w0, L0 = w1.grad.item(), w1.item(), L.item()

fig, ax = plt.subplots(figsize=(6.4, 4.2))
ax.plot(ws, Ls, label="L(w1), the other weights fixed")
ax.plot([w0 - 1.5, w0 + 1.5], [L0 - 1.5 * slope, L0 + 1.5 * slope], "r-",
        label=f"tangent, slope dL/dw1 = {slope:.3f}")
ax.plot([0.0, 1.0], [L_left, L_right], "k--o", ms=4, label="secant over w1 ± 0.5")
ax.plot([w0], [L0], "ro")
ax.set(xlabel="w1", ylabel="L", title="The derivative is the slope of the loss")
ax.legend()
fig.tight_layout()
fig.savefig(OUT / "01_slope.png", dpi=100)
print("wrote", OUT / "01_slope.png")
