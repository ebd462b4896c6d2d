"""Learning-rate schedules: they set `lr` in an optimizer's param_groups.

The convention, the same for every schedule here:

    optimizer = Adam(model.parameters())
    scheduler = NoamSchedule(optimizer, d_model=512, warmup_steps=4000)
    for batch in batches:
        ...
        loss.backward()
        optimizer.step()       # update number n uses lr_at(n)
        scheduler.step()       # then set the lr of update n + 1

Updates are counted from 1. Constructing a schedule already sets the lr of
update 1, so the first optimizer.step() uses lr_at(1), and scheduler.step()
is called AFTER optimizer.step() (as in PyTorch). Calling it before would
skip the lr of update 1.

A schedule gives an absolute learning rate and sets it in every parameter
group; the `lr` passed to the optimizer is overwritten.
"""
import math

__all__ = ["LRScheduler", "NoamSchedule", "WarmupCosine", "WarmupLinear"]


class LRScheduler:
    """Base class. A subclass defines `lr_at(step)`, the learning rate of
    optimizer update number `step` (1, 2, ...).

    `step_num` is the number of the update the current lr is for.
    """

    def __init__(self, optimizer):
        if not hasattr(optimizer, "param_groups"):
            raise TypeError(f"{type(self).__name__} needs an optimizer (an object with "
                            f"param_groups), got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.step_num = 1
        self._apply()

    def lr_at(self, step):
        raise NotImplementedError(f"{type(self).__name__} must define lr_at(step)")

    def step(self):
        """Move on to the next update's learning rate. Call after optimizer.step()."""
        self.step_num += 1
        self._apply()

    def get_last_lr(self):
        """The learning rate of each parameter group, as last set."""
        return list(self._last_lr)

    def _apply(self):
        lr = float(self.lr_at(self.step_num))
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self._last_lr = [lr] * len(self.optimizer.param_groups)

    def state_dict(self):
        """Everything but the optimizer (which has its own state_dict): the step
        number and the schedule's settings, all plain Python numbers."""
        return {key: value for key, value in self.__dict__.items() if key != "optimizer"}

    def load_state_dict(self, state):
        """Restore state_dict()'s result and set the optimizer's lr to match it."""
        self.__dict__.update(state)
        self._apply()

    def __repr__(self):
        settings = ", ".join(f"{k}={v}" for k, v in self.state_dict().items()
                             if not k.startswith("_"))
        return f"{type(self).__name__}({settings})"


def _check(name, condition, message):
    if not condition:
        raise ValueError(f"{name}: {message}")


class NoamSchedule(LRScheduler):
    """The schedule of "Attention Is All You Need" (Vaswani et al., 2017, sec. 5.3):

        lr = factor * d_model^-0.5 * min(step^-0.5, step * warmup_steps^-1.5)

    It rises linearly for warmup_steps updates, peaks at step = warmup_steps
    with lr = factor * (d_model * warmup_steps)^-0.5, then decays as 1/sqrt(step).
    The warm-up keeps Adam's early, noisy second-moment estimates from
    producing huge updates.
    """

    def __init__(self, optimizer, d_model, warmup_steps, factor=1.0):
        _check("NoamSchedule", d_model > 0, f"d_model must be positive, got {d_model}")
        _check("NoamSchedule", warmup_steps >= 1,
               f"warmup_steps must be at least 1, got {warmup_steps}")
        _check("NoamSchedule", factor > 0, f"factor must be positive, got {factor}")
        self.d_model, self.warmup_steps, self.factor = d_model, warmup_steps, factor
        super().__init__(optimizer)

    def lr_at(self, step):
        return self.factor * self.d_model ** -0.5 * min(step ** -0.5,
                                                         step * self.warmup_steps ** -1.5)


class _WarmupDecay(LRScheduler):
    """Linear warm-up from 0 to peak_lr (reached at step = warmup_steps), then
    a decay, chosen by the subclass, to min_lr at step = total_steps, and
    min_lr after that."""

    def __init__(self, optimizer, peak_lr, warmup_steps, total_steps, min_lr=0.0):
        name = type(self).__name__
        _check(name, peak_lr > 0, f"peak_lr must be positive, got {peak_lr}")
        _check(name, 0 <= min_lr <= peak_lr, f"min_lr must be in [0, peak_lr], got {min_lr}")
        _check(name, warmup_steps >= 0, f"warmup_steps must be >= 0, got {warmup_steps}")
        _check(name, total_steps > warmup_steps,
               f"total_steps ({total_steps}) must be greater than warmup_steps ({warmup_steps})")
        self.peak_lr, self.min_lr = peak_lr, min_lr
        self.warmup_steps, self.total_steps = warmup_steps, total_steps
        super().__init__(optimizer)

    def lr_at(self, step):
        if step <= self.warmup_steps:
            return self.peak_lr * step / self.warmup_steps
        if step >= self.total_steps:
            return self.min_lr
        progress = (step - self.warmup_steps) / (self.total_steps - self.warmup_steps)
        return self.min_lr + (self.peak_lr - self.min_lr) * self.decay(progress)

    def decay(self, progress):
        """1 at progress 0 (end of warm-up), 0 at progress 1 (total_steps)."""
        raise NotImplementedError


class WarmupCosine(_WarmupDecay):
    """Linear warm-up to peak_lr over warmup_steps, then half a cosine down to
    min_lr at total_steps (Loshchilov & Hutter's SGDR without restarts): it
    stays near the peak for a while and flattens out at the end."""

    def decay(self, progress):
        return 0.5 * (1.0 + math.cos(math.pi * progress))


class WarmupLinear(_WarmupDecay):
    """Linear warm-up to peak_lr over warmup_steps, then a straight line down
    to min_lr at total_steps (the schedule BERT was trained with)."""

    def decay(self, progress):
        return 1.0 - progress
