"""Nothing hangs, nothing is lost: the Trainer under stops at random moments, crashes,
non-finite values, a full disk, and other runs in its folder (in-process; the real
signals and kills are in test_translation_signals.py)."""
import errno
import os
import random
import shutil
import signal
import threading
import time

import numpy as np
import pytest

import tinytensor as tt
from tinytransformer.translation import (Interrupted, NonFiniteError, RunFolderError, TrainConfig,
                                         Trainer, builtin_splits)
from tinytransformer.translation.runs import RunFolder
from tinytransformer.utils import checkpoint

CONFIG = TrainConfig(d_model=16, n_heads=2, n_layers=1, d_ff=32, dropout=0.1, batch_tokens=300,
                     warmup=20, lr_factor=2.0, label_smoothing=0.1, clip=1.0, steps=24,
                     eval_every=8, min_freq=1, seed=3, device="cpu", max_len=40)


@pytest.fixture(scope="module")
def data():
    splits = builtin_splits(0)
    # 250 training pairs make about 8 batches an epoch: 24 steps cross epoch boundaries.
    return {"train": splits["train"][:250], "dev": splits["dev"][:12], "test": splits["test"][:12]}


def snapshot(trainer):
    """Everything that must agree between two runs for them to be the same run."""
    state = trainer.optimizer.state_dict()
    return {
        "params": {n: p.numpy().copy() for n, p in trainer.model.named_parameters()},
        "adam": {(i, k): np.asarray(v).copy() for i, e in state["state"].items() for k, v in e.items()},
        "lr": state["param_groups"][0]["lr"],
        "schedule": trainer.schedule.state_dict(),
        "losses": [loss for _, loss in trainer.state["train_loss"]],
        "val": [tuple(v) for v in trainer.state["val"]],
        "position": (trainer.state["step"], trainer.state["epoch"], trainer.state["batch"]),
        "rng": tt.get_rng_state(),
    }


def assert_same_run(a, b):
    assert a["position"] == b["position"]
    assert a["losses"] == b["losses"]
    assert a["val"] == b["val"]
    assert a["lr"] == b["lr"] and a["schedule"] == b["schedule"]
    assert a["params"].keys() == b["params"].keys() and a["adam"].keys() == b["adam"].keys()
    for name in a["params"]:
        np.testing.assert_array_equal(a["params"][name], b["params"][name], err_msg=name)
    for key in a["adam"]:
        np.testing.assert_array_equal(a["adam"][key], b["adam"][key], err_msg=str(key))
    assert str(a["rng"]) == str(b["rng"])


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory):
    """The uninterrupted run."""
    trainer = Trainer(data, CONFIG)
    trainer.run(tmp_path_factory.mktemp("reference"), progress=False)
    return snapshot(trainer)


def finish(path, data):
    """Resume from `path` and train to the end."""
    trainer = Trainer.resume(path, data)
    trainer.run(path.parent, progress=False)
    return snapshot(trainer)


# -- stops at random moments, and every checkpoint -----------------------------------------
def test_stops_at_random_moments_resume_bit_for_bit(data, reference, tmp_path):
    """A stop request (what the SIGINT/SIGTERM handler makes) lands in the middle of a
    forward, a backward, an Adam step or an evaluation; the run stops at the next step
    boundary, and resuming gives exactly the uninterrupted run."""
    rng = random.Random(0)
    timing = Trainer(data, CONFIG)
    start = time.perf_counter()
    timing.run(tmp_path / "timing", progress=False)
    duration = time.perf_counter() - start
    stopped_at = []
    for attempt in range(5):
        out = tmp_path / f"run{attempt}"
        trainer = Trainer(data, CONFIG)
        signum = (signal.SIGINT, signal.SIGTERM)[attempt % 2]
        timer = threading.Timer(rng.uniform(0.05, 0.8) * duration, trainer.request_stop, [signum])
        timer.start()
        try:
            trainer.run(out, progress=False)
        except Interrupted as stop:
            assert stop.exit_code == 128 + signum
            stopped_at.append(trainer.state["step"])
        finally:
            timer.cancel()
        # The checkpoint is what the trainer held when it stopped ...
        resumed = Trainer.resume(out / "last.npz", data)
        assert resumed.state["step"] == trainer.state["step"]
        # ... and continuing it is the run that never stopped.
        resumed.run(out, progress=False)
        assert_same_run(snapshot(resumed), reference)
    assert len(stopped_at) >= 3, stopped_at            # most stops landed inside training


def test_every_checkpoint_resumes_bit_for_bit(data, reference, tmp_path, monkeypatch):
    """After a SIGKILL the last checkpoint on disk is whichever was written last: before
    step 1, before an evaluation, after one. Each continues exactly."""
    copies = []
    save = Trainer.save

    def save_and_copy(self, path):
        save(self, path)
        if path.name == "last.npz":
            copies.append(shutil.copy(path, path.parent / f"copy{len(copies)}.npz"))

    monkeypatch.setattr(Trainer, "save", save_and_copy)
    Trainer(data, CONFIG).run(tmp_path / "run", progress=False)
    monkeypatch.undo()
    steps = [Trainer.resume(c, data).state["step"] for c in copies]
    assert steps[0] == 0 and 8 in steps and 16 in steps
    for copy, step in zip(copies, steps):
        if step == CONFIG.steps:
            continue
        target = tmp_path / f"from{os.path.basename(copy)}"
        target.mkdir()
        shutil.copy(copy, target / "last.npz")
        assert_same_run(finish(target / "last.npz", data), reference)


def test_a_crash_in_the_first_evaluation_loses_no_training(data, reference, tmp_path, monkeypatch):
    def broken_bleu(self, pairs, beam_size=1):
        raise RuntimeError("evaluation crashed")

    monkeypatch.setattr(Trainer, "bleu", broken_bleu)
    with pytest.raises(RuntimeError, match="evaluation crashed"):
        Trainer(data, CONFIG).run(tmp_path, progress=False)
    monkeypatch.undo()
    resumed = Trainer.resume(tmp_path / "last.npz", data)
    assert resumed.state["step"] == CONFIG.eval_every      # saved right before evaluating
    resumed.run(tmp_path, progress=False)                  # evaluates step 8 first, then on
    assert_same_run(snapshot(resumed), reference)


def test_a_full_disk_keeps_the_last_good_checkpoint(data, reference, tmp_path, monkeypatch):
    writes = []
    write = checkpoint._write_npz

    def fills_the_disk(file, arrays):
        writes.append(1)
        if len(writes) == 3:     # step 0, step 8 (before evaluating), then the disk is full
            file.write(b"PK\x03\x04 half a checkpoint")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        write(file, arrays)

    monkeypatch.setattr(checkpoint, "_write_npz", fills_the_disk)
    with pytest.raises(OSError, match="No space left"):
        Trainer(data, CONFIG).run(tmp_path, progress=False)
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == [".lock", "last.npz"]      # no half-written file
    resumed = Trainer.resume(tmp_path / "last.npz", data)
    assert resumed.state["step"] == 8
    resumed.run(tmp_path, progress=False)
    assert_same_run(snapshot(resumed), reference)


# -- non-finite values ------------------------------------------------------------------------
class ExplodesAt(Trainer):
    """A trainer whose loss turns NaN (or whose gradient overflows) at one step."""
    step_to_break, how = 11, "nan"

    def loss(self, src, tgt, smoothing):
        loss = super().loss(src, tgt, smoothing)
        if self.model.training and self.state["step"] + 1 == self.step_to_break:
            self.before = {n: v.copy() for n, v in self.model.state_dict().items()}
            self.schedule_before = dict(self.schedule.state_dict())
            return loss * (float("nan") if self.how == "nan" else 1e30)
        return loss


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("how, what", [("nan", "the loss is nan"),
                                       ("overflow", "the gradient norm is inf")])
def test_a_non_finite_loss_or_gradient_stops_before_reaching_a_checkpoint(data, tmp_path, how,
                                                                         what):
    trainer = ExplodesAt(data, CONFIG)
    trainer.how = how
    saved = {}

    def remember(tr):
        saved.update({name: (tmp_path / name).read_bytes() for name in ("last.npz", "best.npz")})
    with pytest.raises(NonFiniteError, match=f"step 11: {what}") as info:
        trainer.run(tmp_path, progress=False, on_eval=remember)
    assert "before this step changed any weight" in str(info.value)
    for name, value in trainer.model.state_dict().items():       # step 11 changed nothing
        assert np.isfinite(value).all()
        np.testing.assert_array_equal(value, trainer.before[name])
    assert trainer.optimizer.state_dict()["state"][0]["step"] == 10
    assert trainer.schedule.state_dict() == trainer.schedule_before
    for name, content in saved.items():                          # the step-8 checkpoints stay
        assert (tmp_path / name).read_bytes() == content
    assert trainer.state["step"] == 10


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_weights_that_are_not_finite_are_never_saved(data, tmp_path):
    trainer = Trainer(data, CONFIG)
    weight = trainer.model.decoder.norm.bias
    weight.data = (weight + float("inf")).data
    with pytest.raises(NonFiniteError, match="decoder.norm.bias holds NaN or infinite values"):
        trainer.run(tmp_path, progress=False)
    assert not (tmp_path / "last.npz").exists()


# -- one run per folder -----------------------------------------------------------------------
def test_a_folder_in_use_by_a_live_run_is_refused_and_a_dead_one_leaves_no_lock(data, tmp_path,
                                                                              spawn):
    holder = spawn(["-c", "import sys, time; from tinytransformer.translation.runs import "
                    "RunFolder; f = RunFolder(sys.argv[1]).__enter__(); print('locked', flush=True);"
                    " time.sleep(600)", tmp_path])
    assert holder.stdout.readline().strip() == "locked"
    trainer = Trainer(data, CONFIG.replace(steps=2))
    with pytest.raises(RunFolderError, match=f"in use by another training run \\(process "
                                             f"{holder.pid}\\)"):
        trainer.run(tmp_path, progress=False)
    assert not (tmp_path / "last.npz").exists()
    holder.send_signal(signal.SIGKILL)                 # a crash: the kernel drops the lock
    holder.wait(timeout=30)
    trainer.run(tmp_path, progress=False)
    assert trainer.state["step"] == 2


def test_a_folder_holding_another_runs_checkpoints_is_refused(data, tmp_path):
    first = Trainer(data, CONFIG.replace(steps=2))
    first.run(tmp_path, progress=False)
    kept = {name: (tmp_path / name).read_bytes() for name in ("best.npz", "last.npz")}
    second = Trainer(data, CONFIG.replace(steps=2, seed=4))
    with pytest.raises(RunFolderError, match="already holds the checkpoints of a run.*--resume"):
        second.run(tmp_path, progress=False)
    assert {name: (tmp_path / name).read_bytes() for name in kept} == kept
    # Resuming the first run there is its own folder; resuming another run there is not.
    Trainer.resume(tmp_path / "last.npz", data, {"steps": 3}).run(tmp_path, progress=False)
    other = tmp_path.parent / (tmp_path.name + "-other")
    Trainer(data, CONFIG.replace(steps=1, seed=5)).run(other, progress=False)
    stranger = Trainer.resume(other / "last.npz", data, {"steps": 2})
    with pytest.raises(RunFolderError, match="checkpoints of another run"):
        stranger.run(tmp_path, progress=False)
    # Asked explicitly, a run replaces them.
    second.run(tmp_path, progress=False, overwrite=True)
    assert Trainer.resume(tmp_path / "best.npz", data).state["run_id"] == second.state["run_id"]


def test_a_resumed_run_keeps_its_best_bleu(data, tmp_path):
    trainer = Trainer(data, CONFIG.replace(steps=4, eval_every=2))
    trainer.run(tmp_path, progress=False)
    # best.npz says this run once reached BLEU 99 (a later, better evaluation than
    # last.npz knows of, say): a resumed run must not replace it with a worse model.
    best = Trainer.resume(tmp_path / "best.npz", data)
    best.state["best_bleu"] = 99.0
    best.save(tmp_path / "best.npz")
    kept = (tmp_path / "best.npz").read_bytes()
    resumed = Trainer.resume(tmp_path / "last.npz", data, {"steps": 6})
    assert resumed.state["best_bleu"] < 99.0
    resumed.run(tmp_path, progress=False)
    assert resumed.state["best_bleu"] == 99.0 and len(resumed.state["val"]) == 3
    assert (tmp_path / "best.npz").read_bytes() == kept


def test_run_folder_errors(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(RunFolderError, match="cannot use .*a-file/run as the output folder"):
        with RunFolder(blocker / "run"):
            pass
    with RunFolder(tmp_path / "ok") as folder, folder:        # re-entrant in one process
        assert (tmp_path / "ok" / ".lock").read_text().strip() == str(os.getpid())
    assert sorted(os.listdir(tmp_path / "ok")) == [".lock"]


def test_stop_signals_defer_the_first_signal_and_act_on_the_second():
    from tinytransformer.translation.runs import StopSignals
    # Python's own SIGINT handler, even where pytest itself was started with SIGINT ignored
    # (in the background of a shell).
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
        with StopSignals() as stop:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.01)                        # the handler runs in this thread, here
            assert stop.requested == signal.SIGTERM and stop.name == "SIGTERM"
            with pytest.raises(KeyboardInterrupt, match="second SIGINT"):
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.01)
        assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
        # An ignored SIGINT (a job in the background of a shell, nohup) stays ignored.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        with StopSignals():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) is not before[1]
    finally:
        signal.signal(signal.SIGINT, inherited)
