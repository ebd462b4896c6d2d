"""Checkpoints and atomic writes (tinytransformer.utils.checkpoint).

The atomicity tests break a save in two ways: an exception raised halfway
through writing, and a real SIGKILL of a process in the middle of a save.
Either way the checkpoint path must hold the previous complete checkpoint
(or nothing), never a partial file.
"""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import tinytensor as tt
from tinytransformer import Embedding, LayerNorm, Linear, Module
from tinytransformer.utils import checkpoint
from tinytransformer.utils.checkpoint import (CheckpointError, CheckpointReader, atomic_write,
                                              load_checkpoint, save_checkpoint)
from tinytransformer.optim import SGD, AdamW
from tinytransformer.optim.lr_scheduler import WarmupCosine

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
INVALID = "is not a valid tinytransformer checkpoint"


class Net(Module):
    def __init__(self, vocab=11, d=6):
        self.embed = Embedding(vocab, d)
        self.norm = LayerNorm(d)
        self.out = Linear(d, vocab)

    def forward(self, ids):
        return self.out(self.norm(self.embed(ids)))


IDS = tt.tensor([[1, 2, 3, 4], [5, 6, 7, 8]])
TARGETS = tt.tensor([[2, 3, 4, 5], [6, 7, 8, 9]])


def train_step(model, optimizer, scheduler=None):
    device = model.out.weight.device
    optimizer.zero_grad()
    tt.cross_entropy(model(IDS.to(device)).flatten(0, 1), TARGETS.to(device).reshape(-1)).backward()
    optimizer.step()
    if scheduler is not None:
        scheduler.step()


def trained(seed=0, steps=3):
    tt.manual_seed(seed)
    model = Net()
    optimizer = AdamW(model.parameters(), lr=0.01)
    scheduler = WarmupCosine(optimizer, peak_lr=0.01, warmup_steps=2, total_steps=20)
    for _ in range(steps):
        train_step(model, optimizer, scheduler)
    return model, optimizer, scheduler


def save_small(path, tag):
    tt.manual_seed(0)
    save_checkpoint(path, Net(), config={"tag": tag})


# -- round trip ----------------------------------------------------------------------------
def test_round_trip_restores_model_optimizer_config_and_extra(tmp_path):
    model, optimizer, scheduler = trained()
    rng = np.random.default_rng(7)
    config = {"vocab_size": 11, "d_model": 6, "name": "tiny"}
    extra = {"step": 3, "vocab": ["<pad>", "a", "b"], "scheduler": scheduler.state_dict(),
             "rng": rng.bit_generator.state}
    path = tmp_path / "run.ckpt.npz"
    save_checkpoint(path, model, optimizer, config=config, extra=extra)
    expected_draw = rng.random(3)

    tt.manual_seed(99)  # a different initialisation, to be overwritten
    fresh = Net()
    fresh_optimizer = AdamW(fresh.parameters(), lr=0.5)
    fresh_scheduler = WarmupCosine(fresh_optimizer, peak_lr=0.01, warmup_steps=2, total_steps=20)
    loaded = load_checkpoint(path, fresh, fresh_optimizer)
    assert set(loaded) == {"config", "extra", "model_state", "optim_state"}
    assert loaded["config"] == config
    assert loaded["extra"]["vocab"] == ["<pad>", "a", "b"] and loaded["extra"]["step"] == 3
    fresh_scheduler.load_state_dict(loaded["extra"]["scheduler"])
    restored_rng = np.random.default_rng()
    restored_rng.bit_generator.state = loaded["extra"]["rng"]
    assert_array_equal(restored_rng.random(3), expected_draw)

    assert list(loaded["model_state"]) == [n for n, _ in model.named_parameters()]
    assert fresh_optimizer.param_groups[0]["lr"] == optimizer.param_groups[0]["lr"]
    assert_array_equal(fresh(IDS).numpy(), model(IDS).numpy())
    # Training on from the checkpoint follows exactly the path it would have taken.
    for _ in range(3):
        train_step(model, optimizer, scheduler)
        train_step(fresh, fresh_optimizer, fresh_scheduler)
    for a, b in zip(model.parameters(), fresh.parameters()):
        assert_array_equal(a.numpy(), b.numpy())


def test_load_without_model_returns_the_states(tmp_path):
    model, optimizer, _ = trained()
    path = tmp_path / "ckpt.npz"
    save_checkpoint(path, model, optimizer)
    loaded = load_checkpoint(path)
    assert loaded["config"] is None and loaded["extra"] is None
    for name, p in model.named_parameters():
        assert_array_equal(loaded["model_state"][name], p.numpy())
    assert loaded["optim_state"]["state"][0]["step"] == 3
    assert loaded["optim_state"]["param_groups"][0]["betas"] == [0.9, 0.999]


def test_the_file_is_a_plain_npz_with_documented_keys(tmp_path):
    model, optimizer, _ = trained()
    path = tmp_path / "ckpt"        # no ".npz" added
    save_checkpoint(path, model, optimizer, config={"d": 6})
    assert os.listdir(tmp_path) == ["ckpt"]
    with np.load(path, allow_pickle=False) as npz:
        names = set(npz.files)
        meta = json.loads(npz["meta"].tobytes().decode("utf-8"))
        assert_array_equal(npz["model.out.weight"], model.out.weight.numpy())
    assert {"model.embed.weight", "model.norm.bias", "optim.state.0.exp_avg",
            "optim.state.0.step", "meta"} <= names
    assert meta["config"] == {"d": 6} and meta["optimizer"]["type"] == "AdamW"


def test_load_checks_optimizer_and_model(tmp_path):
    path = tmp_path / "ckpt.npz"
    model, optimizer, _ = trained()
    save_checkpoint(path, model, optimizer)
    with pytest.raises(ValueError, match="holds AdamW state.*SGD"):
        load_checkpoint(path, Net(), SGD(Net().parameters(), lr=0.1))
    with pytest.raises(CheckpointError, match="missing weights"):
        load_checkpoint(path, Linear(2, 2))
    save_checkpoint(path, model)
    with pytest.raises(ValueError, match="holds no optimizer state"):
        load_checkpoint(path, Net(), AdamW(Net().parameters()))
    loaded = load_checkpoint(path, Net(), device="cpu")
    assert loaded["optim_state"] is None


def test_config_must_be_json_serializable(tmp_path):
    with pytest.raises(TypeError, match="JSON-serializable"):
        save_checkpoint(tmp_path / "c.npz", Net(), config={"fn": print})
    assert os.listdir(tmp_path) == []
    save_checkpoint(tmp_path / "c.npz", Net(), config={"n": np.int64(3), "v": np.arange(2)})
    assert load_checkpoint(tmp_path / "c.npz")["config"] == {"n": 3, "v": [0, 1]}


# -- corrupt files ---------------------------------------------------------------------------
def test_truncated_or_damaged_files_raise_a_clear_error(tmp_path):
    good = tmp_path / "good.npz"
    model, optimizer, _ = trained()
    save_checkpoint(good, model, optimizer, config={"a": 1})
    data = good.read_bytes()

    cases = {
        "half.npz": data[: len(data) // 2],
        "tail_cut.npz": data[:-10],
        "random.npz": np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes(),
        "empty.npz": b"",
        "text.npz": b"just some text\n",
    }
    # Same length, damaged inside the first array: only the zip checksum notices.
    flipped = bytearray(data)
    start = data.index(b"model.embed.weight") + 200
    flipped[start:start + 16] = bytes(16)
    cases["flipped.npz"] = bytes(flipped)
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match=INVALID) as info:
            load_checkpoint(tmp_path / name, Net())
        assert name in str(info.value)


def test_files_that_are_not_checkpoints(tmp_path):
    np.savez(tmp_path / "plain.npz", x=np.ones(3))
    with pytest.raises(ValueError, match=f"{INVALID}: it has no 'meta' entry"):
        load_checkpoint(tmp_path / "plain.npz")
    np.savez(tmp_path / "other.npz", meta=np.frombuffer(b'{"format": "other"}', dtype=np.uint8))
    with pytest.raises(ValueError, match=f"{INVALID}: .*format tag"):
        load_checkpoint(tmp_path / "other.npz")
    np.save(tmp_path / "array.npy", np.ones(3))
    with pytest.raises(ValueError, match=INVALID):
        load_checkpoint(tmp_path / "array.npy")
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_checkpoint(tmp_path / "missing.npz")


def test_loading_reads_only_the_arrays_it_needs_and_checks_them_first(tmp_path, monkeypatch):
    import io
    import zipfile
    model, optimizer, _ = trained()
    path = tmp_path / "ckpt.npz"
    save_checkpoint(path, model, optimizer, config={"a": 1})
    # A junk array whose header claims 2.4 GB, and an object array: neither is ever read.
    with zipfile.ZipFile(path, "a") as zf:
        header = io.BytesIO()
        np.save(header, np.zeros(1))
        zf.writestr("junk.npy", header.getvalue().replace(b"(1,)", b"(300000000,)"))
        pickled = io.BytesIO()
        np.save(pickled, np.array([{"x": 1}], dtype=object), allow_pickle=True)
        zf.writestr("model.pickled.npy", pickled.getvalue())
    read = []
    original = CheckpointReader.read
    monkeypatch.setattr(CheckpointReader, "read",
                        lambda self, name, *a, **k: read.append(name) or original(self, name, *a, **k))
    fresh = Net()
    with pytest.raises(CheckpointError, match="unexpected weights \\['pickled'\\]"):
        load_checkpoint(path, fresh)
    assert read == ["meta"]                            # refused from the directory alone
    read.clear()
    with CheckpointReader(path) as ckpt:
        assert ckpt.config == {"a": 1} and read == ["meta"]
        assert ckpt.header("junk") == ((300000000,), np.dtype(np.float64))
        with pytest.raises(CheckpointError, match="size of junk in its zip directory"):
            ckpt.read("junk")
        with pytest.raises(CheckpointError, match="Python objects"):
            ckpt.read("model.pickled")
        assert ckpt.nbytes("model.") > ckpt.nbytes("model.out.")


def test_a_model_weight_is_checked_against_the_model(tmp_path):
    model, optimizer, _ = trained()
    path = tmp_path / "ckpt.npz"
    save_checkpoint(path, model, optimizer)
    with pytest.raises(CheckpointError, match="has shape \\(11, 6\\), expected \\(12, 6\\)"):
        load_checkpoint(path, Net(vocab=12))
    weights = {f"model.{n}": p.numpy() for n, p in model.named_parameters()}
    weights["model.out.bias"] = weights["model.out.bias"].astype(np.int64)
    meta = np.load(path)["meta"]
    np.savez(tmp_path / "int.npz", meta=meta, **weights)
    with pytest.raises(CheckpointError, match="out.bias holds int64 values"):
        load_checkpoint(tmp_path / "int.npz", Net())
    weights["model.out.bias"] = np.full(11, np.nan, dtype=np.float32)
    np.savez(tmp_path / "nan.npz", meta=meta, **weights)
    with pytest.raises(CheckpointError, match="NaN or infinite"):
        load_checkpoint(tmp_path / "nan.npz", Net())
    with pytest.raises(CheckpointError, match="optim.state.1.exp_avg has shape \\(6,\\), its "
                                              "parameter \\(11,\\)"):
        load_checkpoint(path, Net(), AdamW(Net().out.parameters()))


def test_persistent_buffers_are_saved_and_checked_like_weights(tmp_path):
    class Counted(Net):
        def __init__(self):
            super().__init__()
            self.register_buffer("seen", tt.tensor(np.arange(3, dtype=np.int64)))

    model = Counted()
    save_checkpoint(tmp_path / "ckpt.npz", model)
    fresh = Counted()
    fresh.seen.data = np.zeros(3, dtype=np.int64)
    load_checkpoint(tmp_path / "ckpt.npz", fresh)
    assert fresh.seen.numpy().tolist() == [0, 1, 2]        # an integer buffer is fine
    with pytest.raises(CheckpointError, match="missing weights \\['seen'\\]"):
        save_checkpoint(tmp_path / "plain.npz", Net())
        load_checkpoint(tmp_path / "plain.npz", Counted())


# -- atomicity ---------------------------------------------------------------------------------
def test_a_failed_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    save_small(path, "previous")
    previous_bytes = path.read_bytes()

    def crash_midway(file, arrays):
        file.write(b"PK\x03\x04 half a zip file ...")
        raise OSError("No space left on device")

    monkeypatch.setattr(checkpoint, "_write_npz", crash_midway)
    with pytest.raises(OSError, match="No space left"):
        save_small(path, "new")
    assert os.listdir(tmp_path) == ["ckpt.npz"]          # no temporary file left behind
    assert path.read_bytes() == previous_bytes
    assert load_checkpoint(path, Net())["config"] == {"tag": "previous"}


CHILD = textwrap.dedent("""
    import sys
    import tinytensor as tt
    from tinytransformer import Linear
    from tinytransformer.utils.checkpoint import save_checkpoint

    model = Linear(1000, 2000)      # 8 MB of float32: each save takes a while
    step = 0
    while True:
        save_checkpoint(sys.argv[1], model, config={"step": step})
        step += 1
""")


def test_a_process_killed_mid_save_never_leaves_a_corrupt_checkpoint(tmp_path):
    path = tmp_path / "ckpt.npz"
    env = dict(os.environ, PYTHONPATH=REPO_ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))

    def temp_files():
        return [n for n in os.listdir(tmp_path) if n.startswith(".ckpt.npz.")]

    killed_mid_write = 0
    for round_ in range(3):
        proc = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], env=env, cwd=REPO_ROOT,
                                stdin=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        try:
            # Round 0 kills during the very first save; later rounds wait for a
            # complete checkpoint and kill while the next one is being written.
            deadline = time.monotonic() + 30
            while not (temp_files() and (round_ == 0 or path.exists())):
                if proc.poll() is not None:
                    pytest.fail(f"the child died: {proc.stderr.read().decode()}")
                if time.monotonic() > deadline:
                    pytest.fail("the child never started a save")
                time.sleep(0.001)
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            proc.stderr.close()
        assert proc.returncode == -signal.SIGKILL
        if path.exists():
            loaded = load_checkpoint(path, Linear(1000, 2000))
            assert loaded["config"]["step"] >= 0
        else:
            assert round_ == 0
        leftovers = temp_files()
        killed_mid_write += bool(leftovers)
        for name in leftovers:  # a killed save's temporary file stays; the next round needs none
            os.remove(tmp_path / name)
    assert path.exists()
    assert killed_mid_write >= 1, "no kill landed in the middle of a save"


def test_atomic_write_text_and_binary(tmp_path):
    path = tmp_path / "vocab.txt"
    atomic_write(path, lambda f: f.write("héllo\nwörld\n"), mode="w")
    assert path.read_text(encoding="utf-8") == "héllo\nwörld\n"
    atomic_write(path, lambda f: f.write(b"\x00\x01"))
    assert path.read_bytes() == b"\x00\x01"
    assert os.listdir(tmp_path) == ["vocab.txt"]


def test_atomic_write_failure_keeps_old_content_and_cleans_up(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(b"old")

    def fail(f):
        f.write(b"partial")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        atomic_write(path, fail)
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["data.bin"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_atomic_write_gives_ordinary_permissions(tmp_path):
    reference = tmp_path / "reference"
    reference.write_bytes(b"x")
    path = tmp_path / "new"
    atomic_write(path, lambda f: f.write(b"x"))
    assert os.stat(path).st_mode & 0o777 == os.stat(reference).st_mode & 0o777
    os.chmod(path, 0o600)
    atomic_write(path, lambda f: f.write(b"y"))
    assert os.stat(path).st_mode & 0o777 == 0o600      # an existing file keeps its mode


def test_atomic_write_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="mode"):
        atomic_write(tmp_path / "f", lambda f: None, mode="a")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        atomic_write(tmp_path / "no_dir" / "f", lambda f: None)


# -- devices -----------------------------------------------------------------------------------
@pytest.mark.gpu
@pytest.mark.skipif(not tt.cuda_is_available(), reason="CUDA is not available")
def test_checkpoint_moves_between_devices(tmp_path):
    model, optimizer, _ = trained()
    model.to("cuda")
    train_step(model, optimizer)
    assert optimizer.state[model.out.weight]["exp_avg"].device == "cuda"
    path = tmp_path / "ckpt.npz"
    save_checkpoint(path, model, optimizer)

    cpu_model = Net()
    cpu_optimizer = AdamW(cpu_model.parameters())
    load_checkpoint(path, cpu_model, cpu_optimizer)
    # Not bit-equal: the GPU's matrix products add in another order.
    np.testing.assert_allclose(cpu_model(IDS).numpy(), model(IDS.to("cuda")).numpy(),
                               rtol=1e-5, atol=1e-6)
    assert cpu_optimizer.state[cpu_model.out.weight]["exp_avg"].device == "cpu"

    gpu_model = Net()
    gpu_optimizer = AdamW(gpu_model.parameters())
    load_checkpoint(path, gpu_model, device="cuda")
    gpu_optimizer.load_state_dict(load_checkpoint(path)["optim_state"])
    assert all(p.device == "cuda" for p in gpu_model.parameters())
    assert gpu_optimizer.state[gpu_model.out.weight]["exp_avg"].device == "cuda"
    train_step(model, optimizer)
    train_step(gpu_model, gpu_optimizer)
    for a, b in zip(model.parameters(), gpu_model.parameters()):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-7)
