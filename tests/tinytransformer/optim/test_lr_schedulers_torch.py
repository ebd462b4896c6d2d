"""torch's learning-rate schedulers, beyond the step-by-step values of
tests/tinytransformer/nn/test_torch_nn_names.py: several groups, resuming from
a state_dict, two schedulers on one optimizer, step(epoch), the errors."""
import pytest

import tinytensor as tt
from tinytransformer.optim import SGD
from tinytransformer.optim.lr_scheduler import (CosineAnnealingLR, LambdaLR, LinearLR,
                                                NoamSchedule, SequentialLR, StepLR)


def optimizer(*lrs):
    return SGD([{"params": [tt.Parameter(tt.zeros(1))], "lr": lr} for lr in lrs], lr=lrs[0])


def run(scheduler, steps):
    lrs = []
    for _ in range(steps):
        lrs.append(scheduler.get_last_lr())
        scheduler.optimizer.step()
        scheduler.step()
    return lrs


def test_each_group_follows_its_own_base_lr():
    opt = optimizer(1.0, 0.1)
    lrs = run(StepLR(opt, step_size=2, gamma=0.5), 5)
    assert lrs == [[1.0, 0.1], [1.0, 0.1], [0.5, 0.05], [0.5, 0.05], [0.25, 0.025]]
    assert [g["initial_lr"] for g in opt.param_groups] == [1.0, 0.1]
    lambdas = LambdaLR(optimizer(1.0, 2.0), [lambda e: e + 1, lambda e: 1 / (e + 1)])
    assert run(lambdas, 3) == [[1.0, 2.0], [2.0, 1.0], [3.0, 2.0 / 3]]


def test_two_chainable_schedulers_on_one_optimizer_compose_as_torch():
    torch = pytest.importorskip("torch")
    ours = optimizer(0.2)
    theirs = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.2)
    our_pair = [StepLR(ours, 3, 0.5), CosineAnnealingLR(ours, T_max=4)]
    their_pair = [torch.optim.lr_scheduler.StepLR(theirs, 3, 0.5),
                  torch.optim.lr_scheduler.CosineAnnealingLR(theirs, T_max=4)]
    for _ in range(12):
        assert ours.param_groups[0]["lr"] == pytest.approx(theirs.param_groups[0]["lr"], rel=1e-12)
        theirs.step()
        for ours_s, theirs_s in zip(our_pair, their_pair):
            ours_s.step()
            theirs_s.step()


def test_sequential_state_dict_round_trip():
    def make():
        opt = optimizer(0.2)
        return SequentialLR(opt, [LinearLR(opt, start_factor=0.5, total_iters=3),
                                  StepLR(opt, step_size=2, gamma=0.5)], milestones=[3])
    original = make()
    run(original, 5)
    resumed = make()
    resumed.load_state_dict(original.state_dict())
    resumed.optimizer.param_groups[0]["lr"] = original.optimizer.param_groups[0]["lr"]
    assert run(resumed, 6) == run(original, 6)


def test_an_old_schedule_state_with_step_num_still_loads():
    schedule = NoamSchedule(optimizer(1.0), d_model=16, warmup_steps=4)
    old = {"d_model": 16, "warmup_steps": 4, "factor": 1.0, "step_num": 7,
           "_last_lr": [schedule.lr_at(7)]}
    schedule.load_state_dict(old)
    assert schedule.step_num == 7 and schedule.last_epoch == 6
    assert schedule.optimizer.param_groups[0]["lr"] == schedule.lr_at(7)
    schedule.step()
    assert schedule.get_last_lr() == [schedule.lr_at(8)]


def test_step_with_an_epoch_uses_the_closed_form():
    scheduler = StepLR(optimizer(1.0), step_size=2, gamma=0.5)
    scheduler.step(5)
    assert scheduler.get_last_lr() == [0.25]
    linear = LinearLR(optimizer(1.0), start_factor=0.25, total_iters=4)
    linear.step(2)
    assert linear.get_last_lr() == [pytest.approx(0.625)]


def test_scheduler_errors_name_the_scheduler():
    with pytest.raises(TypeError, match="StepLR needs an optimizer"):
        StepLR([tt.Parameter(tt.zeros(1))], step_size=1)
    with pytest.raises(ValueError, match=r"LinearLR: start_factor must be in \(0, 1\]"):
        LinearLR(optimizer(1.0), start_factor=0.0)
    with pytest.raises(ValueError, match="LambdaLR: expected 2 lr_lambdas"):
        LambdaLR(optimizer(1.0, 1.0), [lambda e: 1.0])
    with pytest.raises(KeyError, match="no 'initial_lr'"):
        StepLR(optimizer(1.0), step_size=1, last_epoch=3)
    opt, other = optimizer(1.0), optimizer(1.0)
    with pytest.raises(ValueError, match="SequentialLR: scheduler 1 .* another optimizer"):
        SequentialLR(opt, [StepLR(opt, 1), StepLR(other, 1)], milestones=[2])
    with pytest.raises(ValueError, match="one milestone fewer than schedulers"):
        SequentialLR(opt, [StepLR(opt, 1)], milestones=[2])
