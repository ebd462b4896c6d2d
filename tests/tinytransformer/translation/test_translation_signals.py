"""Real signals and kills on train_translate.py: SIGINT and SIGTERM stop at a step
boundary after saving last.npz (exit 130 and 143), SIGKILL loses at most the steps
since the last checkpoint, and --resume continues bit for bit as the run that was
never stopped. And these tests pass however pytest was started (in the background
of a non-interactive shell, no terminal, no stdin, CI=true)."""
import json
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from translation_processes import ROOT, child_env, default_sigint

STEPS, EVAL_EVERY = 60, 20
SMALL = ["--d-model", "16", "--d-ff", "32", "--layers", "1", "--heads", "2", "--batch-tokens",
         "300", "--no-progress", "--no-plots", "--beam", "2"]


def train_args(tiny_tsv, out, *more):
    train, dev = tiny_tsv
    return ["-u", "examples/train_translate.py", "--data", train, "--dev", dev, "--out", out,
            "--steps", STEPS, "--eval-every", EVAL_EVERY, *SMALL, *more]


def read(path):
    """(arrays, meta) of a checkpoint, read with NumPy alone."""
    with np.load(path) as npz:
        arrays = {name: npz[name] for name in npz.files if name != "meta"}
        meta = json.loads(npz["meta"].tobytes())
    return arrays, meta


def assert_same_run(path, reference):
    arrays, meta = read(path)
    expected, expected_meta = read(reference)
    assert arrays.keys() == expected.keys()
    for name in arrays:
        np.testing.assert_array_equal(arrays[name], expected[name], err_msg=name)
    state, expected_state = meta["extra"]["trainer"], expected_meta["extra"]["trainer"]
    for key in ("step", "epoch", "batch", "train_loss", "val", "best_bleu", "evaluated"):
        assert state[key] == expected_state[key], key
    for key in ("schedule", "rng", "options"):
        assert meta["extra"][key] == expected_meta["extra"][key], key
    assert meta["optimizer"] == expected_meta["optimizer"] and meta["config"] == expected_meta["config"]


@pytest.fixture(scope="module")
def reference(tiny_tsv, tmp_path_factory):
    """last.npz of the run that is never stopped, and how long its training took."""
    out = tmp_path_factory.mktemp("reference")
    process = subprocess.Popen([sys.executable, *map(str, train_args(tiny_tsv, out))], cwd=ROOT,
                               env=child_env(), preexec_fn=default_sigint,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        wait_for_training(process)
        start = time.perf_counter()
        stdout, stderr = process.communicate(timeout=300)
        duration = time.perf_counter() - start
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    return out / "last.npz", duration


def wait_for_training(process):
    for line in process.stdout:
        if line.startswith("model:"):
            return
    pytest.fail(f"the run ended before training: {process.stderr.read()}")


EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGKILL: -signal.SIGKILL}


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL, signal.SIGINT],
                         ids=["SIGINT", "SIGTERM", "SIGKILL", "SIGINT-again"])
def test_a_signal_at_a_random_moment_then_resume_is_the_uninterrupted_run(
        tiny_tsv, tmp_path, reference, spawn, signum):
    reference, duration = reference
    for attempt in range(4):            # a later attempt, if the run was faster than the signal
        out = tmp_path / f"run{attempt}"
        process = spawn(train_args(tiny_tsv, out))
        wait_for_training(process)
        delay = random.uniform(0.0, 0.7 * duration) / (attempt + 1)
        time.sleep(delay)                # anywhere in a step, an evaluation or a save
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=120)
        where = f"(signal {signum.name} {delay:.2f} s into training)"
        if process.returncode != 0:
            break
    else:
        pytest.skip(f"every run finished before its signal {where}")
    assert process.returncode == EXIT[signum], (where, stdout[-500:], stderr[-2000:])
    assert "Traceback" not in stderr, stderr
    if signum != signal.SIGKILL and "interrupted by" in stdout:
        step = int(stdout.split("interrupted by ")[1].split(" at step ")[1].split(":")[0])
        assert read(out / "last.npz")[1]["extra"]["trainer"]["step"] == step, where
    resumed = spawn(train_args(tiny_tsv, out, "--resume", out / "last.npz"))
    stdout, stderr = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, (where, stderr[-2000:])
    assert_same_run(out / "last.npz", reference)


def test_ctrl_c_saves_a_checkpoint_and_exits_130(tiny_tsv, tmp_path, spawn):
    """The test that a pytest in the background of a shell runs below."""
    out = tmp_path / "run"
    process = spawn(train_args(tiny_tsv, out, "--steps", "100000"))
    wait_for_training(process)
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr[-2000:]
    assert "interrupted by SIGINT at step" in stdout
    assert read(out / "last.npz")[1]["extra"]["trainer"]["step"] > 0


@pytest.mark.skipif(os.environ.get("TT_NESTED_PYTEST") == "1", reason="already the nested run")
@pytest.mark.skipif(os.name != "posix", reason="POSIX shells and signals")
def test_the_signal_tests_pass_when_pytest_runs_in_the_background_of_a_shell(tmp_path):
    """`bash -c 'pytest ... < /dev/null &'`: the background job has SIGINT ignored, no
    terminal, no stdin; the children must still get Ctrl-C, and none may outlive pytest."""
    basetemp = tmp_path / "nested"
    log = tmp_path / "log.txt"
    test = f"{__file__}::test_ctrl_c_saves_a_checkpoint_and_exits_130"
    script = (f'"{sys.executable}" -m pytest -q -p no:cacheprovider --basetemp="{basetemp}" '
              f'"{test}" < /dev/null > "{log}" 2>&1 & wait $!')
    env = child_env(CI="true", TT_NESTED_PYTEST="1")
    result = subprocess.run(["bash", "-c", script], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=300,
                            start_new_session=True)          # no controlling terminal either
    assert result.returncode == 0, log.read_text()[-3000:]
    assert "1 passed" in log.read_text()
    left = [pid for pid in os.listdir("/proc") if pid.isdigit() and
            str(basetemp).encode() in _cmdline(pid)]
    assert not left, f"processes left running: {left}"


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""
