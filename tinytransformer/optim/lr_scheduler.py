"""Learning-rate schedules, as torch.optim.lr_scheduler: they set `lr` in an
optimizer's param_groups.

The convention, the same for every schedule here (and in torch):

    optimizer = Adam(model.parameters())
    scheduler = NoamSchedule(optimizer, d_model=512, warmup_steps=4000)
    for batch in batches:
        ...
        loss.backward()
        optimizer.step()       # uses the current lr
        scheduler.step()       # then sets the lr of the next update

Constructing a schedule already sets the lr of the first update, and
scheduler.step() is called AFTER optimizer.step(); calling it before would
skip the first value of the schedule.

`last_epoch` counts the scheduler's steps: 0 after construction, 1 after the
first scheduler.step(), ... `base_lrs` are the groups' learning rates when the
first scheduler of the optimizer was made (kept in each group as "initial_lr").

torch's schedules (LambdaLR, StepLR, CosineAnnealingLR, LinearLR,
SequentialLR) give each group's lr as torch computes it, step by step: some
multiply the group's current lr by a factor ("chainable": two schedules on one
optimizer compose), as torch's do. The schedules of the Transformer papers
(NoamSchedule, WarmupCosine, WarmupLinear) give an absolute learning rate
lr_at(update number), the same for every group (the `lr` passed to the
optimizer is overwritten).
"""
import bisect
import math
import types

__all__ = ["LRScheduler", "LambdaLR", "StepLR", "CosineAnnealingLR", "LinearLR", "SequentialLR",
           "NoamSchedule", "WarmupCosine", "WarmupLinear"]


class LRScheduler:
    """Base class. A subclass defines `get_lr()`: the lr of each group for
    `last_epoch` (already advanced), and may define `_get_closed_form_lr()`,
    the same from `last_epoch` alone (used by step(epoch))."""

    def __init__(self, optimizer, last_epoch=-1):
        if not hasattr(optimizer, "param_groups"):
            raise TypeError(f"{type(self).__name__} needs an optimizer (an object with "
                            f"param_groups), got {type(optimizer).__name__}")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"{type(self).__name__}: param_groups[{i}] has no 'initial_lr', "
                                   f"which resuming with last_epoch={last_epoch} needs (load the "
                                   "optimizer's state first)")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self):
        """The step construction makes: last_epoch -1 -> 0, the first update's lr."""
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self):
        raise NotImplementedError(f"{type(self).__name__} must define get_lr()")

    def step(self, epoch=None):
        """Move on to the next update's learning rate. Call after optimizer.step().
        (step(epoch), deprecated in torch, jumps to that epoch.)"""
        self._step_count += 1
        self._update_lr(epoch)

    def _update_lr(self, epoch=None):
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            self.last_epoch = epoch
            closed_form = getattr(self, "_get_closed_form_lr", None)
            values = closed_form() if closed_form is not None else self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self):
        """The learning rate of each parameter group, as last set."""
        return list(self._last_lr)

    def _group_lrs(self):
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self):
        """Everything but the optimizer (which has its own state_dict), as torch:
        the step count, base_lrs and the schedule's settings, plain Python values."""
        return {key: value for key, value in self.__dict__.items() if key != "optimizer"}

    def load_state_dict(self, state):
        """Restore state_dict()'s result, and set the optimizer's lr to match it.
        (A state saved before the torch-style counter, with `step_num`, loads too.)"""
        state = dict(state)
        if "step_num" in state and "last_epoch" not in state:
            state["last_epoch"] = state.pop("step_num") - 1
        self.__dict__.update(state)
        if "_last_lr" in state:
            for group, lr in zip(self.optimizer.param_groups, self._last_lr):
                group["lr"] = lr

    def __repr__(self):
        settings = ", ".join(f"{k}={v}" for k, v in self.state_dict().items()
                             if not k.startswith("_") and k != "base_lrs")
        return f"{type(self).__name__}({settings})"


def _check(name, condition, message):
    if not condition:
        raise ValueError(f"{name}: {message}")


# ----------------------------------------------------------------------------
# torch's schedules
# ----------------------------------------------------------------------------
class LambdaLR(LRScheduler):
    """lr = base_lr * lr_lambda(last_epoch); one function, or one per group."""

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        groups = len(optimizer.param_groups)
        if isinstance(lr_lambda, (list, tuple)):
            _check("LambdaLR", len(lr_lambda) == groups,
                   f"expected {groups} lr_lambdas (one per param group), got {len(lr_lambda)}")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * groups
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [base * f(self.last_epoch) for f, base in zip(self.lr_lambdas, self.base_lrs)]

    def state_dict(self):
        """As torch: a plain function cannot be saved, so it is stored as None
        (a callable object's attributes are saved instead)."""
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "lr_lambdas")}
        state["lr_lambdas"] = [None if isinstance(f, types.FunctionType) else dict(vars(f))
                               for f in self.lr_lambdas]
        return state

    def load_state_dict(self, state):
        state = dict(state)
        saved = state.pop("lr_lambdas", [None] * len(self.lr_lambdas))
        super().load_state_dict(state)
        for f, attributes in zip(self.lr_lambdas, saved):
            if attributes is not None:
                vars(f).update(attributes)


class StepLR(LRScheduler):
    """Multiply the lr by gamma every step_size steps."""

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        _check("StepLR", step_size >= 1, f"step_size must be at least 1, got {step_size}")
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0 or self.last_epoch % self.step_size:
            return self._group_lrs()
        return [lr * self.gamma for lr in self._group_lrs()]

    def _get_closed_form_lr(self):
        return [base * self.gamma ** (self.last_epoch // self.step_size) for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Half a cosine from base_lr down to eta_min over T_max steps (then back up,
    as torch's, if stepped further):
        lr = eta_min + (base_lr - eta_min) (1 + cos(pi last_epoch / T_max)) / 2
    computed step by step from the current lr, as torch does."""

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        _check("CosineAnnealingLR", T_max >= 1, f"T_max must be at least 1, got {T_max}")
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        e, T, low = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._group_lrs()
        if self._step_count == 1 and e > 0:      # resumed with last_epoch given
            return [low + (base - low) * (1 + math.cos(e * math.pi / T)) / 2
                    for base in self.base_lrs]
        if (e - 1 - T) % (2 * T) == 0:           # just past the bottom: the ratio below is 0/0
            return [lr + (base - low) * (1 - math.cos(math.pi / T)) / 2
                    for lr, base in zip(self._group_lrs(), self.base_lrs)]
        ratio = (1 + math.cos(math.pi * e / T)) / (1 + math.cos(math.pi * (e - 1) / T))
        return [ratio * (lr - low) + low for lr in self._group_lrs()]

    def _get_closed_form_lr(self):
        return [self.eta_min + (base - self.eta_min)
                * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
                for base in self.base_lrs]


class LinearLR(LRScheduler):
    """The lr factor goes in a straight line from start_factor to end_factor
    over total_iters steps, then stays: lr = base_lr * factor."""

    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5,
                 last_epoch=-1):
        _check("LinearLR", 0 < start_factor <= 1,
               f"start_factor must be in (0, 1], got {start_factor}")
        _check("LinearLR", 0 <= end_factor <= 1, f"end_factor must be in [0, 1], got {end_factor}")
        self.start_factor, self.end_factor, self.total_iters = start_factor, end_factor, total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        e, start, end = self.last_epoch, self.start_factor, self.end_factor
        if e == 0:
            return [lr * start for lr in self._group_lrs()]
        if self._is_initial or e > self.total_iters:
            return self._group_lrs()
        # The factor of step e over that of step e - 1.
        ratio = 1.0 + (end - start) / (self.total_iters * start + (e - 1) * (end - start))
        return [lr * ratio for lr in self._group_lrs()]

    def _get_closed_form_lr(self):
        fraction = min(self.total_iters, self.last_epoch) / self.total_iters
        return [base * (self.start_factor + (self.end_factor - self.start_factor) * fraction)
                for base in self.base_lrs]


class SequentialLR(LRScheduler):
    """One schedule after another: schedulers[i] runs from milestones[i-1] on
    (each starting afresh there), on the same optimizer.

        warmup = LinearLR(optimizer, start_factor=0.1, total_iters=100)
        decay = CosineAnnealingLR(optimizer, T_max=900)
        scheduler = SequentialLR(optimizer, [warmup, decay], milestones=[100])
    """

    def __init__(self, optimizer, schedulers, milestones, last_epoch=-1):
        _check("SequentialLR", len(schedulers) >= 1, "needs at least one scheduler")
        for i, scheduler in enumerate(schedulers):
            if getattr(scheduler, "optimizer", None) is not optimizer:
                raise ValueError(f"SequentialLR: scheduler {i} ({type(scheduler).__name__}) "
                                 "belongs to another optimizer")
        _check("SequentialLR", len(milestones) == len(schedulers) - 1,
               f"needs one milestone fewer than schedulers: {len(schedulers)} schedulers, "
               f"{len(milestones)} milestones")
        self._schedulers, self._milestones = list(schedulers), list(milestones)
        self.optimizer = optimizer
        self.last_epoch = last_epoch + 1
        # Making the schedulers stepped each of them once; start over from the
        # initial lr, and let only the first one take its first step.
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        for scheduler in self._schedulers:
            scheduler.last_epoch -= 1
        first = self._schedulers[bisect.bisect_right(self._milestones, 0)]
        first._initial_step()
        self._last_lr = first.get_last_lr()

    def step(self):
        self.last_epoch += 1
        index = bisect.bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[index]
        if index > 0 and self._milestones[index - 1] == self.last_epoch:
            scheduler._update_lr(0)          # its first step: from the start
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()

    def state_dict(self):
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "_schedulers")}
        state["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return state

    def load_state_dict(self, state):
        state = dict(state)
        inner = state.pop("_schedulers")
        self.__dict__.update(state)
        for scheduler, saved in zip(self._schedulers, inner):
            scheduler.load_state_dict(saved)


# ----------------------------------------------------------------------------
# The schedules of the Transformer papers: an absolute lr per update number
# ----------------------------------------------------------------------------
class _AbsoluteSchedule(LRScheduler):
    """A subclass defines `lr_at(step)`, the learning rate of optimizer update
    number `step` (1, 2, ...): last_epoch + 1."""

    def lr_at(self, step):
        raise NotImplementedError(f"{type(self).__name__} must define lr_at(step)")

    @property
    def step_num(self):
        """The number of the update the current lr is for (1 after construction)."""
        return self.last_epoch + 1

    def get_lr(self):
        return [float(self.lr_at(self.step_num))] * len(self.optimizer.param_groups)

    _get_closed_form_lr = get_lr


class NoamSchedule(_AbsoluteSchedule):
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


class _WarmupDecay(_AbsoluteSchedule):
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
