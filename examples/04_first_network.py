# %% [markdown]
# # Step 4. A first network: Module, Linear, an optimizer, a training loop
#
# **What you will see:** a small network learning to separate two interlocking half-moons;
# the loss before training checked against ln 2 by hand, one optimizer step checked against
# the update rule by hand, the accuracy printed, and a picture of the loss curve and of the
# decision boundary (`04_moons.png`). About 5 seconds on a laptop CPU.
#
# Everything from the notes' section on neural networks at once: neurons y = σ(W·X + b)
# stacked in layers, with an activation function (激活函数: here ReLU) between them so the
# network can bend its decision boundary; a loss; backpropagation (反向传播) for the
# gradients; and gradient descent (梯度下降): new parameter = old - learning rate × gradient.

# %%
import math
import os
import pathlib
import sys

import matplotlib
if "ipykernel" not in sys.modules:
    matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import tinytensor as tt
from tinytransformer import optim
from tinytransformer.nn import Linear, Module

OUT = pathlib.Path(os.environ.get("TINY_OUT", "runs/learning_path"))
OUT.mkdir(parents=True, exist_ok=True)
QUICK = os.environ.get("TINY_QUICK") == "1"       # fewer training steps for tests


def check(what, value, expected, tol=1e-9, source="by hand"):
    """Print a value next to the one worked out by hand; stop if they differ."""
    ok = abs(value - expected) <= tol * max(1.0, abs(expected))
    print(f"check {what}: {value:.10g} vs {expected:.10g} {source} [{'ok' if ok else 'WRONG'}]")
    assert ok, f"{what}: got {value}, expected {expected}"


# %% [markdown]
# ## The data: two moons, made with NumPy
# 200 points in two classes: the upper moon (label 0) and the lower one (label 1), shifted
# into each other so no straight line separates them, plus a little noise.

# %%
def two_moons(n, noise, rng):
    angle = rng.uniform(0, math.pi, n)
    label = rng.integers(0, 2, n)
    x = np.where(label == 0, np.cos(angle), 1 - np.cos(angle))
    y = np.where(label == 0, np.sin(angle), 0.5 - np.sin(angle))
    points = np.stack([x, y], axis=1) + noise * rng.standard_normal((n, 2))
    return points.astype(np.float32), label.astype(np.float32)


points, labels = two_moons(200, 0.15, np.random.default_rng(0))
X, t = tt.tensor(points), tt.tensor(labels)
print("X:", X.shape, X.dtype, " labels:", t.shape, " class 1:", int(labels.sum()))

# %% [markdown]
# ## The model: a Module holding Linear layers
# As in PyTorch, a `Module` finds the layers (and their `Parameter`s) you assign in
# `__init__`; `forward` says how they are used; calling the model calls `forward`.
# The output is one number per point, a *logit* z: the model's probability of class 1 is
# sigmoid(z), the neuron of step 1.

# %%
class MoonNet(Module):
    def __init__(self, hidden=16):
        super().__init__()
        self.layer1 = Linear(2, hidden)
        self.layer2 = Linear(hidden, hidden)
        self.out = Linear(hidden, 1)

    def forward(self, x):                    # x: (N, 2)
        h = self.layer1(x).relu()            # (N, hidden)
        h = self.layer2(h).relu()            # (N, hidden)
        return self.out(h).reshape(-1)       # (N,) logits


tt.manual_seed(0)
model = MoonNet()
print(model)
print("parameters:", sum(p.numel() for p in model.parameters()))

# %% [markdown]
# ## Before training: a model that knows nothing
# Start the last layer at zero, so every logit is 0 and every probability is 1/2. The
# binary cross-entropy -[t ln p + (1 - t) ln(1 - p)] is then ln 2 for every point, whatever
# its label: by hand, the first loss is ln 2 = 0.6931...

# %%
with tt.no_grad():
    model.out.weight.mul_(0.0)
    model.out.bias.mul_(0.0)


def loss_fn():
    return tt.binary_cross_entropy_with_logits(model(X), t)


loss = loss_fn()
check("loss before training", loss.item(), math.log(2), tol=1e-6)

# %% [markdown]
# ## One step of gradient descent, checked by hand
# `optimizer.zero_grad()` clears the old gradients (they accumulate otherwise),
# `loss.backward()` computes new ones, `optimizer.step()` applies the update.
# For plain SGD the update is exactly new = old - lr × gradient. By hand, for the output
# bias: dL/db = mean(p - t) = 1/2 - (fraction of points in class 1) = 1/2 - 101/200 = -0.005,
# so with lr = 0.5 the bias goes from 0 to 0.0025.

# %%
sgd = optim.SGD(model.parameters(), lr=0.5)
sgd.zero_grad()
loss.backward()
sgd.step()
by_hand = 0 - 0.5 * (0.5 - float(labels.sum()) / len(labels))
check("out.bias after one SGD step", model.out.bias.item(), by_hand, tol=1e-6)

# %% [markdown]
# ## Training
# Adam (the optimizer the Transformer uses later) adapts the step size of each parameter.
# Every step uses the whole data set (200 points is tiny).

# %%
steps = 150 if QUICK else 600
optimizer = optim.Adam(model.parameters(), lr=0.01)
losses = []
for step in range(steps):
    loss = loss_fn()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
    if step % (steps // 5) == 0 or step == steps - 1:
        print(f"step {step:4d}  loss {loss.item():.4f}")

with tt.no_grad():
    accuracy = float(((model(X).numpy() > 0) == (labels == 1)).mean())
print(f"accuracy: {accuracy:.3f}")
assert accuracy >= 0.95, "the network should separate the moons"

# %% [markdown]
# ## What the network learned
# Left: the loss, starting at ln 2. Right: the probability of class 1 over the plane (the
# white line is p = 1/2, the decision boundary), with the training points on top.

# %%
gx, gy = np.meshgrid(np.linspace(-1.6, 2.6, 200), np.linspace(-1.2, 1.7, 200))
grid = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)
with tt.no_grad():                               # no graph: we only evaluate
    prob = model(tt.tensor(grid)).sigmoid().numpy().reshape(gx.shape)

fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.4))
left.plot(losses)
left.axhline(math.log(2), color="gray", ls="--", lw=0.8, label="ln 2 (knows nothing)")
left.set(xlabel="step", ylabel="binary cross-entropy", title="Training loss", yscale="log")
left.legend()
right.contourf(gx, gy, prob, levels=20, cmap="RdBu_r", alpha=0.4)
right.contour(gx, gy, prob, levels=[0.5], colors="white", linewidths=2)
for label, marker, colour in ((0, "o", "tab:blue"), (1, "s", "tab:red")):
    right.scatter(*points[labels == label].T, s=14, marker=marker, c=colour, edgecolors="k",
                  linewidths=0.5, label=f"class {label}")
right.set(xlabel="x1", ylabel="x2", title=f"Decision boundary (accuracy {accuracy:.1%})")
right.legend(loc="lower left")
fig.tight_layout()
fig.savefig(OUT / "04_moons.png", dpi=100)
print("wrote", OUT / "04_moons.png")
