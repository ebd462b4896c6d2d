"""Optimizers (SGD, Adam, AdamW) and gradient clipping, as in torch.optim.

An optimizer holds the model's parameters in `param_groups` (a list of dicts:
the parameters plus their hyper-parameters, such as "lr", which a learning-rate
schedule changes between steps) and, in `state`, what each parameter needs to
remember from step to step (Adam's moving averages, SGD's momentum).

The usual loop:

    optimizer = Adam(model.parameters(), lr=1e-3)
    for batch in batches:
        loss = loss_fn(model(batch.x), batch.y)
        optimizer.zero_grad()
        loss.backward()
        clip_grad_norm_(model.parameters(), 1.0)   # optional (tinytransformer.nn.utils)
        optimizer.step()

All the math is tinytensor operations under `no_grad()`: the update must not
become part of the next step's computation graph, and tinytensor operations
run on whichever device the parameters live on.
"""

import numpy as np

import tinytensor as tt
from tinytensor import Tensor

__all__ = ["Optimizer", "SGD", "Adam", "AdamW"]


class Optimizer:
    """Base class: parameter groups, per-parameter state, saving and loading.

    `params` is an iterable of Parameters, or of dicts ("param groups") such as
    [{"params": decay}, {"params": no_decay, "weight_decay": 0.0}], where a key
    a group leaves out takes its value from `defaults`. Subclasses implement
    `step()`.
    """

    def __init__(self, params, defaults):
        if isinstance(params, Tensor):
            raise TypeError(f"{type(self).__name__}: params must be an iterable of Parameters or "
                            "of dicts, got a single Tensor; wrap it in a list")
        self.defaults = dict(defaults)
        # Keyed by the Parameter object itself, as torch.optim does (Tensor hashes by identity).
        self.state = {}
        self.param_groups = []
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__} got an empty parameter list "
                             "(did the model create no Parameters?)")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group):
        """Add a dict {"params": [...], hyper-parameter: value, ...}; missing
        hyper-parameters take the defaults given at construction."""
        if not isinstance(group, dict):
            raise TypeError(f"{type(self).__name__}: a parameter group must be a dict with a "
                            f"'params' key, got {type(group).__name__}")
        if "params" not in group:
            raise ValueError(f"{type(self).__name__}: parameter group {group!r} has no 'params'")
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__} can only optimize Tensors, but "
                                f"parameter {i} of group {len(self.param_groups)} is a "
                                f"{type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{type(self).__name__} can't optimize a non-leaf tensor "
                                 f"(parameter {i}, shape {p.shape}, made by "
                                 f"{type(p.grad_fn).__name__}); optimize the leaf it comes from")
            if id(p) in seen:
                # Updating one parameter twice per step would silently double its learning rate.
                raise ValueError(f"{type(self).__name__}: parameter {i} (shape {p.shape}) of "
                                 f"group {len(self.param_groups)} appears more than once")
            seen.add(id(p))
        new_group = {"params": params}
        for key, default in self.defaults.items():
            new_group[key] = group.get(key, default)
        for key, value in group.items():
            if key != "params" and key not in self.defaults:
                new_group[key] = value  # e.g. "initial_lr", or a user's own tag
        self._check_hyperparameters(new_group)
        self.param_groups.append(new_group)

    def _check_hyperparameters(self, group):
        """Subclasses raise ValueError for an impossible setting."""

    def zero_grad(self, set_to_none=True):
        """Forget the gradients of the last backward(). Setting them to None (the
        default, as in PyTorch) frees their memory and lets `step()` skip
        parameters that received no gradient."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                p.grad = None if set_to_none else tt.zeros_like(p.grad)

    def step(self, closure=None):
        """Update every parameter that has a gradient. `closure`, if given, is
        called first (with gradient recording on) to recompute the loss, which
        is returned."""
        raise NotImplementedError(f"{type(self).__name__} must define step()")

    def _evaluate(self, closure):
        if closure is None:
            return None
        with tt.enable_grad():
            return closure()

    def _param_state(self, p):
        """The state dict of parameter p, moved to p's device if the model was
        moved (model.to(...)) after the optimizer made it."""
        state = self.state.setdefault(p, {})
        for key, value in state.items():
            if isinstance(value, Tensor) and value.device != p.device:
                state[key] = Tensor(tt.backend.to_device(value.data, p.device))
        return state

    # -- saving and loading -------------------------------------------------------
    def _indexed_params(self):
        """Every parameter, numbered across the groups in order: the keys that
        state_dict() uses, since objects cannot be saved in a file."""
        return [p for group in self.param_groups for p in group["params"]]

    def state_dict(self):
        """A copy of the optimizer's state that can be saved (np.savez, JSON):

            {"state": {parameter index: {"step": int, name: NumPy array, ...}},
             "param_groups": [{"lr": ..., ..., "params": [parameter indices]}]}

        Arrays are host copies, so the state can be restored on another device.
        """
        index = {id(p): i for i, p in enumerate(self._indexed_params())}
        state = {}
        for p, entries in self.state.items():
            state[index[id(p)]] = {key: value.numpy().copy() if isinstance(value, Tensor) else value
                                   for key, value in entries.items()}
        groups = []
        for group in self.param_groups:
            saved = {key: value for key, value in group.items() if key != "params"}
            saved["params"] = [index[id(p)] for p in group["params"]]
            groups.append(saved)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore what state_dict() returned, onto the current parameters
        (matched by position) and their devices and dtypes."""
        name = type(self).__name__
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: the saved state has {len(saved_groups)} "
                             f"parameter groups, this optimizer has {len(self.param_groups)}")
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"{name}.load_state_dict: saved parameter group {i} has "
                                 f"{len(saved['params'])} parameters, this optimizer's has "
                                 f"{len(group['params'])}")
        params = self._indexed_params()
        new_state = {}
        for key, entries in state_dict["state"].items():
            index = int(key)  # JSON and .npz round trips turn the keys into strings
            if not 0 <= index < len(params):
                raise ValueError(f"{name}.load_state_dict: state for parameter {index}, but there "
                                 f"are only {len(params)} parameters")
            p = params[index]
            new_state[p] = {k: self._restore_value(v, p, index, k) for k, v in entries.items()}
        for saved, group in zip(saved_groups, self.param_groups):
            for key, value in saved.items():
                if key == "params":
                    continue
                if isinstance(group.get(key), tuple) and isinstance(value, list):
                    value = tuple(value)  # betas=(0.9, 0.999) comes back from JSON as a list
                group[key] = value
            self._check_hyperparameters(group)
        self.state = new_state

    def _restore_value(self, value, p, index, key):
        array = np.asarray(tt.backend.to_numpy(value.data if isinstance(value, Tensor) else value))
        if array.ndim == 0 and array.dtype.kind in "iub":
            return array.item()  # a step count: a Python int, so no device sync to read it
        if array.shape != p.shape:
            raise ValueError(f"{type(self).__name__}.load_state_dict: state {key!r} of parameter "
                             f"{index} has shape {array.shape}, but the parameter has shape "
                             f"{p.shape}")
        if array.dtype.kind == "f":
            array = array.astype(p.dtype)
        return Tensor(array, device=p.device)

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(k for k in group if k != "params"):
                lines.append(f"    {key}: {group[key]}")
        return "\n".join(lines) + "\n)"


def _check_nonnegative(optimizer, group, *keys):
    for key in keys:
        if not group[key] >= 0:  # also catches NaN
            raise ValueError(f"{type(optimizer).__name__}: invalid {key} {group[key]!r}, "
                             "it must be >= 0")


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum (PyTorch's formulas).

    For each parameter p with gradient g:
        g = g + weight_decay * p                        (L2 penalty)
        b = g on the first step, else momentum * b + (1 - dampening) * g
        g = g + momentum * b if nesterov else b         (only with momentum)
        p = p - lr * g

    Note PyTorch's momentum form puts lr outside the buffer (some papers put
    it inside); the two differ when lr changes during training.
    """

    def __init__(self, params, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov)
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group):
        _check_nonnegative(self, group, "lr", "momentum", "dampening", "weight_decay")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("SGD: nesterov=True needs momentum > 0 and dampening = 0")

    def step(self, closure=None):
        loss = self._evaluate(closure)
        with tt.no_grad():
            for group in self.param_groups:
                lr, momentum, wd = group["lr"], group["momentum"], group["weight_decay"]
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    g = p.grad
                    if wd:
                        g = g + wd * p
                    if momentum:
                        state = self._param_state(p)
                        buf = state.get("momentum_buffer")
                        if buf is None:
                            buf = g  # no copy needed: no array here is ever changed in place
                        else:
                            buf = momentum * buf + (1 - group["dampening"]) * g
                        state["momentum_buffer"] = buf
                        g = g + momentum * buf if group["nesterov"] else buf
                    p.add_(g, alpha=-lr)
        return loss


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), with PyTorch's formulas.

    For each parameter p with gradient g, at its step t = 1, 2, ...:
        g = g + weight_decay * p                  (L2 penalty, as in PyTorch's Adam)
        m = beta1 * m + (1 - beta1) * g           (running mean of the gradient)
        v = beta2 * v + (1 - beta2) * g^2         (running mean of its square)
        m_hat = m / (1 - beta1^t),  v_hat = v / (1 - beta2^t)
        p = p - lr * m_hat / (sqrt(v_hat) + eps)

    m and v start at zero, so early averages are too small; dividing by
    (1 - beta^t) - the bias correction - undoes that.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group):
        _check_nonnegative(self, group, "lr", "eps", "weight_decay")
        betas = group["betas"]
        if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"{type(self).__name__}: betas must be two numbers in [0, 1), "
                             f"got {betas!r}")

    def _decay(self, p, g, lr, weight_decay):
        """Adam adds the L2 penalty to the gradient (AdamW overrides this)."""
        return g + weight_decay * p

    def step(self, closure=None):
        loss = self._evaluate(closure)
        with tt.no_grad():
            for group in self.param_groups:
                lr, eps, wd = group["lr"], group["eps"], group["weight_decay"]
                params, grads, exp_avgs, exp_avg_sqs, steps = [], [], [], [], []
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    g = p.grad
                    if wd:
                        g = self._decay(p, g, lr, wd)
                    state = self._param_state(p)
                    if not state:
                        state["step"] = 0
                        state["exp_avg"] = tt.zeros_like(p)
                        state["exp_avg_sq"] = tt.zeros_like(p)
                    state["step"] += 1
                    params.append(p)
                    grads.append(g)
                    exp_avgs.append(state["exp_avg"])
                    exp_avg_sqs.append(state["exp_avg_sq"])
                    steps.append(state["step"])
                # the three lines of the docstring, fused: one pass over each parameter,
                # the group's parameters shared out between the threads
                tt.adam_step_(params, grads, exp_avgs, exp_avg_sqs, lr=lr, betas=group["betas"],
                              eps=eps, steps=steps)
        return loss


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019).

    Instead of adding weight_decay * p to the gradient - where Adam's
    normalisation would shrink the penalty for parameters with large
    gradients - every parameter first decays directly:
        p = p - lr * weight_decay * p
    and then takes the plain Adam step.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)

    def _decay(self, p, g, lr, weight_decay):
        p.mul_(1 - lr * weight_decay)
        return g
