"""Module: a piece of a model that owns parameters and sub-modules.

As in PyTorch, a model is a tree of Modules. A Module finds its parameters
and children by looking at its own attributes (in the order they were
assigned), so a subclass only has to assign them in `__init__`:

    class TwoLayer(Module):
        def __init__(self):
            self.hidden = Linear(4, 8)     # a child: its parameters are ours too
            self.out = Linear(8, 2)
        def forward(self, x):
            return self.out(self.hidden(x).relu())
"""
import contextlib
from collections import OrderedDict

import numpy as np

import tinytensor as tt
from tinytensor import Parameter, Tensor

__all__ = ["Module", "ModuleList", "Sequential", "Parameter", "evaluating"]


class Module:
    training = True  # a class default, so subclasses need not call super().__init__()

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # -- the tree -------------------------------------------------------------
    def named_children(self):
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value

    def children(self):
        return [child for _, child in self.named_children()]

    def named_modules(self, prefix=""):
        """This module and every descendant, with dotted names, depth first;
        a module used in two places is listed once, under its first name."""
        stack, seen = [(prefix, self)], set()
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = list(module.named_children())
            for child_name, child in reversed(children):
                stack.append((f"{name}.{child_name}" if name else child_name, child))

    def modules(self):
        return [m for _, m in self.named_modules()]

    def named_parameters(self):
        """(dotted name, Parameter) for every parameter, each shared one once."""
        seen = set()
        for prefix, module in self.named_modules():
            for name, value in vars(module).items():
                if isinstance(value, Parameter) and id(value) not in seen:
                    seen.add(id(value))
                    yield (f"{prefix}.{name}" if prefix else name), value

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def num_parameters(self):
        return sum(p.numel() for p in self.parameters())

    # -- modes and devices --------------------------------------------------------
    def train(self, mode=True):
        """Training mode (dropout on) or, with mode=False, evaluation mode."""
        for module in self.modules():
            module.training = mode
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self):
        for p in self.parameters():
            p.grad = None

    def to(self, device=None, dtype=None):
        """Move every parameter and buffer (any other floating tensor attribute) to
        `device` and/or `dtype`, in place: parameters keep their identity, so
        optimizers still hold them."""
        device = tt.backend.check_device(device) if device is not None else None
        for module in self.modules():
            for value in vars(module).values():
                if not isinstance(value, Tensor):
                    continue
                if device is not None:
                    value.data = tt.backend.to_device(value.data, device)
                if dtype is not None and value.dtype.kind == "f":
                    value.data = value.data.astype(dtype)
                if value.grad is not None:
                    value.grad = value.grad.to(device, dtype)
        return self

    def double(self):
        """float64 everywhere (for gradient checks)."""
        return self.to(dtype=tt.float64)

    def float(self):
        return self.to(dtype=tt.float32)

    # -- saving and loading -----------------------------------------------------
    def state_dict(self):
        """An ordered {dotted name: NumPy array} of every parameter (copies, on the host)."""
        return OrderedDict((name, p.numpy().copy()) for name, p in self.named_parameters())

    def load_state_dict(self, state, strict=True):
        """Copy values from `state` into the parameters (on their device and dtype).

        With strict=True, missing or unexpected names are an error; a shape
        mismatch is always an error. Returns (missing, unexpected) names."""
        own = OrderedDict(self.named_parameters())
        missing = [name for name in own if name not in state]
        unexpected = [name for name in state if name not in own]
        if strict and (missing or unexpected):
            raise RuntimeError(f"load_state_dict for {type(self).__name__}: missing keys {missing}, "
                               f"unexpected keys {unexpected}")
        values = {}
        for name, p in own.items():   # check every shape before changing anything
            if name not in state:
                continue
            value = state[name]
            value = value.numpy() if isinstance(value, Tensor) else np.asarray(value)
            if value.shape != p.shape:
                raise ValueError(f"load_state_dict for {type(self).__name__}: {name} has shape "
                                 f"{value.shape} in the state dict but {p.shape} in the model")
            values[name] = value
        for name, value in values.items():
            p = own[name]
            p.data = tt.backend.to_device(value.astype(p.dtype, copy=True), p.device)
        return missing, unexpected

    # -- printing ------------------------------------------------------------------
    def extra_repr(self):
        return ""

    def __repr__(self):
        children = list(self.named_children())
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not children:
            return head + ")"
        lines = [head]
        for name, child in children:
            text = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {text}")
        return "\n".join(lines) + "\n)"


class ModuleList(Module):
    """A list of modules whose parameters belong to the parent (names 0, 1, ...)."""

    def __init__(self, modules=()):
        self._items = list(modules)

    def named_children(self):
        for i, module in enumerate(self._items):
            yield str(i), module

    def append(self, module):
        self._items.append(module)
        return self

    def __getitem__(self, i):
        return self._items[i]

    def __len__(self):
        return len(self._items)

    def __iter__(self):
        return iter(self._items)


class Sequential(ModuleList):
    """Modules applied one after another."""

    def __init__(self, *modules):
        super().__init__(modules)

    def forward(self, x):
        for module in self._items:
            x = module(x)
        return x


@contextlib.contextmanager
def evaluating(model):
    """Evaluation mode (dropout off) inside the block, the previous mode after it,
    even when the block raises:

        with evaluating(model), tt.no_grad():
            logits = model(src, tgt_in)
    """
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)
