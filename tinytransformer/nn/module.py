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

Tensors that are part of a module's state but not trained (running
statistics, a constant table) are *buffers*: `self.register_buffer(name, t)`.
`to()` moves them and `state_dict()` saves them, unless registered with
persistent=False (a table that can be rebuilt from the settings).

As in torch, parameters(), children(), modules() and buffers() are iterators
(`next(model.parameters())` is the first parameter); wrap them in list() to
count or index them.
"""
import contextlib
from collections import OrderedDict

import numpy as np

import tinytensor as tt
from tinytensor import Parameter, Tensor

__all__ = ["Module", "ModuleList", "ModuleDict", "Sequential", "Parameter", "evaluating"]


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
        for _, child in self.named_children():
            yield child

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
        for _, module in self.named_modules():
            yield module

    def named_parameters(self, prefix="", recurse=True):
        """(dotted name, Parameter) for every parameter, each shared one once
        (only this module's own with recurse=False)."""
        seen = set()
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in vars(module).items():
                if isinstance(value, Parameter) and id(value) not in seen:
                    seen.add(id(value))
                    yield (f"{module_prefix}.{name}" if module_prefix else name), value

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def num_parameters(self):
        return sum(p.numel() for p in self.parameters())

    # -- buffers ------------------------------------------------------------------
    def register_buffer(self, name, tensor, persistent=True):
        """Keep `tensor` as the attribute `name`: state that is not trained.
        `to()` moves it; `state_dict()` saves it unless persistent=False.
        Assigning the attribute later replaces the buffer's tensor."""
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"register_buffer: the name must be a non-empty string without '.', "
                           f"got {name!r}")
        buffers = self.__dict__.setdefault("_buffers", {})
        if name not in buffers and hasattr(self, name):
            raise KeyError(f"register_buffer: attribute {name!r} already exists on "
                           f"{type(self).__name__}")
        if tensor is not None and (not isinstance(tensor, Tensor) or isinstance(tensor, Parameter)):
            raise TypeError(f"register_buffer: {name!r} must be a Tensor (not a Parameter) or "
                            f"None, got {type(tensor).__name__}")
        buffers[name] = persistent
        setattr(self, name, tensor)

    def named_buffers(self, prefix="", recurse=True):
        """(dotted name, tensor) for every registered buffer that is not None."""
        for name, tensor, _ in self._named_buffer_entries(prefix, recurse):
            yield name, tensor

    def buffers(self, recurse=True):
        for _, tensor in self.named_buffers(recurse=recurse):
            yield tensor

    def _named_buffer_entries(self, prefix="", recurse=True):
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, persistent in module.__dict__.get("_buffers", {}).items():
                tensor = getattr(module, name, None)
                if tensor is not None:
                    yield (f"{module_prefix}.{name}" if module_prefix else name), tensor, persistent

    # -- the whole tree at once ----------------------------------------------------
    def apply(self, fn):
        """Call fn(module) on every child (recursively), then on this module, as
        torch does (to initialise weights, say). Returns self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    def requires_grad_(self, requires_grad=True):
        """Turn gradients of every parameter on or off (freeze a model). Returns self."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    # -- modes and devices --------------------------------------------------------
    def train(self, mode=True):
        """Training mode (dropout on) or, with mode=False, evaluation mode."""
        for module in self.modules():
            module.training = mode
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self, set_to_none=True):
        """Forget every parameter's gradient: None (the default, as torch), or zeros."""
        for p in self.parameters():
            if p.grad is not None:
                p.grad = None if set_to_none else tt.zeros_like(p.grad)

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

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    # -- saving and loading -----------------------------------------------------
    def _state_tensors(self):
        """{dotted name: tensor} of what state_dict() saves: every parameter (each
        shared one once) and every persistent buffer."""
        own = OrderedDict(self.named_parameters())
        for name, tensor, persistent in self._named_buffer_entries():
            if persistent:
                own[name] = tensor
        return own

    def state_dict(self):
        """An ordered {dotted name: NumPy array} of every parameter and persistent
        buffer (copies, on the host)."""
        return OrderedDict((name, t.numpy().copy()) for name, t in self._state_tensors().items())

    def load_state_dict(self, state, strict=True):
        """Copy values from `state` into the parameters and persistent buffers (on
        their device and dtype; a tensor keeps its identity).

        With strict=True, missing or unexpected names are an error; a shape
        mismatch is always an error. Returns (missing, unexpected) names."""
        own = self._state_tensors()
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


class ModuleDict(Module):
    """A dict of modules whose parameters belong to the parent (names are the keys,
    in insertion order)."""

    def __init__(self, modules=None):
        self._items = OrderedDict()
        if modules is not None:
            self.update(modules)

    def named_children(self):
        yield from self._items.items()

    def __setitem__(self, key, module):
        if not isinstance(module, Module):
            raise TypeError(f"ModuleDict: {key!r} must be a Module, got {type(module).__name__}")
        self._items[str(key)] = module

    def update(self, modules):
        items = modules.items() if hasattr(modules, "items") else modules
        for key, module in items:
            self[key] = module

    def __getitem__(self, key):
        return self._items[key]

    def __delitem__(self, key):
        del self._items[key]

    def pop(self, key):
        return self._items.pop(key)

    def keys(self):
        return self._items.keys()

    def values(self):
        return self._items.values()

    def items(self):
        return self._items.items()

    def __contains__(self, key):
        return key in self._items

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
