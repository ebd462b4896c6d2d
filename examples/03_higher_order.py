# %% [markdown]
# # Step 3. Higher order: derivatives of derivatives, Newton's method, Hessian-vector products
#
# **What you will see:** a second derivative printed and checked by hand; a Hessian-vector
# product checked against the Hessian written out by hand; Newton's method reaching the
# minimum of the Rosenbrock "banana" function in 6 steps while gradient descent is still
# crawling along the valley after thousands; a plot of both paths and of the loss per
# iteration (`03_newton.png`). About 3 seconds on a laptop CPU.
#
# Gradient descent (梯度下降) steps against the gradient with a learning rate you must pick:
# new = old - lr * gradient. Newton's method also uses the curvature (the second
# derivative, or in several dimensions the Hessian H) and needs no learning rate:
# new = old - H^-1 gradient. To differentiate a gradient, it must itself be part of a graph:
# `tt.grad(..., create_graph=True)` builds that graph while computing it.

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
QUICK = os.environ.get("TINY_QUICK") == "1"       # fewer gradient-descent steps for tests


def check(what, value, expected, tol=1e-9, source="by hand"):
    """Print a value next to the one worked out by hand; stop if they differ."""
    ok = abs(value - expected) <= tol * max(1.0, abs(expected))
    print(f"check {what}: {value:.10g} vs {expected:.10g} {source} [{'ok' if ok else 'WRONG'}]")
    assert ok, f"{what}: got {value}, expected {expected}"


# %% [markdown]
# ## A second derivative
# f(x) = x^3 - 2x at x = 2. By hand f'(x) = 3x^2 - 2 = 10 and f''(x) = 6x = 12.
# (`tt.grad` is PyTorch's `torch.autograd.grad`; it returns one gradient per input.)

# %%
x = tt.tensor(2.0, dtype=tt.float64, requires_grad=True)
(d1,) = tt.grad(x ** 3 - 2 * x, [x], create_graph=True)   # d1 is a tensor with a graph
(d2,) = tt.grad(d1, [x])
check("f'(2)", d1.item(), 10.0)
check("f''(2)", d2.item(), 12.0)

# %% [markdown]
# ## The Rosenbrock function and its Hessian by hand
# f(x, y) = (1 - x)^2 + 100 (y - x^2)^2 has its minimum f = 0 at (1, 1), at the end of a long,
# curved, flat valley. Differentiating twice by hand:
#
#     H = [[2 - 400 (y - x^2) + 800 x^2,   -400 x],
#          [-400 x,                          200  ]]
#
# A Hessian-vector product Hv is the gradient of <gradient, v>: two backward passes, and
# H itself is never built. That is how large models get curvature information.

# %%
def rosenbrock(p):
    x, y = p[0], p[1]
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


def hessian_by_hand(x, y):
    return np.array([[2 - 400 * (y - x * x) + 800 * x * x, -400 * x], [-400 * x, 200.0]])


def hvp(p, v):
    """H v at p, from two backward passes."""
    (g,) = tt.grad(rosenbrock(p), [p], create_graph=True)
    (hv,) = tt.grad((g * tt.tensor(v)).sum(), [p])
    return hv.numpy()


start = np.array([-1.2, 1.0])                      # the classic starting point
v = np.array([0.3, -0.7])
p = tt.tensor(start, requires_grad=True)
hv, exact = hvp(p, v), hessian_by_hand(*start) @ v
for i in range(2):
    check(f"(Hv)[{i}] at (-1.2, 1)", hv[i], exact[i])
print("gradgradcheck(rosenbrock):", tt.gradgradcheck(rosenbrock, [p]))

# %% [markdown]
# ## Newton's method
# Build H column by column from Hessian-vector products with the unit vectors e_i, then
# solve H step = gradient. (For two unknowns the explicit H is cheap; the point is that
# the same two backward passes work for any function written with tinytensor.)

# %%
def newton_step(point):
    p = tt.tensor(point, requires_grad=True)
    (g,) = tt.grad(rosenbrock(p), [p])
    H = np.stack([hvp(p, e) for e in np.eye(2)], axis=1)
    return point - np.linalg.solve(H, g.numpy())


newton = [start]
for _ in range(6):
    newton.append(newton_step(newton[-1]))
for i in range(2):
    check(f"Newton after 6 steps, coordinate {i}", newton[-1][i], 1.0, tol=1e-10)

# %% [markdown]
# ## Gradient descent from the same start, for comparison

# %%
lr, steps = 1e-3, 500 if QUICK else 5000
descent = [start]
p = tt.tensor(start, requires_grad=True)
for _ in range(steps):
    (g,) = tt.grad(rosenbrock(p), [p])
    p = tt.tensor(p.numpy() - lr * g.numpy(), requires_grad=True)
    descent.append(p.numpy())
newton, descent = np.array(newton), np.array(descent)
print(f"after {steps} gradient-descent steps: (x, y) = "
      f"({descent[-1][0]:.4f}, {descent[-1][1]:.4f})")
print("Newton's path:", ", ".join(f"({a:.3f}, {b:.3f})" for a, b in newton))

# %%
def f_np(x, y):
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


gx, gy = np.meshgrid(np.linspace(-1.6, 1.6, 300), np.linspace(-3.5, 2.0, 300))
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.6))
left.contour(gx, gy, np.log10(f_np(gx, gy) + 1e-3), levels=25, cmap="viridis", linewidths=0.7)
left.plot(descent[:, 0], descent[:, 1], ".-", color="tab:blue", ms=2, lw=0.8,
          label=f"gradient descent, {steps} steps")
left.plot(newton[:, 0], newton[:, 1], "o-", color="tab:red", label="Newton, 6 steps")
for i, (a, b) in enumerate(newton[:3]):
    left.annotate(str(i), (a, b), textcoords="offset points", xytext=(6, 4), color="tab:red")
left.plot([1], [1], "k*", ms=12, label="minimum (1, 1)")
left.set(xlabel="x", ylabel="y", title="Paths on the Rosenbrock function (log contours)")
left.legend(loc="lower left", fontsize=9)
floor = 1e-20                                      # Newton reaches f = 0 exactly
right.loglog(np.arange(1, len(descent) + 1), np.maximum(f_np(*descent.T), floor),
             color="tab:blue", label="gradient descent")
right.loglog(np.arange(1, len(newton) + 1), np.maximum(f_np(*newton.T), floor), "o-",
             color="tab:red", label="Newton")
right.set(xlabel="iteration + 1", ylabel=f"f(x, y), floored at {floor:g}",
          title="Loss per iteration")
right.legend()
fig.tight_layout()
fig.savefig(OUT / "03_newton.png", dpi=100)
print("wrote", OUT / "03_newton.png")
