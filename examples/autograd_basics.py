"""Autograd in 20 lines: derivatives, then a line fitted by gradient descent."""
import tinytensor as tt

x = tt.tensor(3.0, requires_grad=True)
y = x ** 2 + 2 * x + 1             # y = (x + 1)^2
y.backward()
print("dy/dx at x=3:", x.grad.item())          # 2x + 2 = 8.0

# Fit y = w * x + b to points on the line y = 2x + 1.
xs = tt.tensor([0.0, 1.0, 2.0, 3.0])
ys = 2 * xs + 1
w = tt.tensor(0.0, requires_grad=True)
b = tt.tensor(0.0, requires_grad=True)
for step in range(500):
    loss = ((w * xs + b - ys) ** 2).mean()    # mean squared error
    w.grad = b.grad = None                      # gradients accumulate: clear them
    loss.backward()
    with tt.no_grad():                          # the update is not part of the graph
        w -= 0.1 * w.grad                       # in place: w stays the same leaf
        b -= 0.1 * b.grad
print(f"w = {w.item():.3f}, b = {b.item():.3f}, loss = {loss.item():.2e}")
