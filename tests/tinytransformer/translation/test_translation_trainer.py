"""The translator and its trainer: training, checkpoints, resume, the example CLIs."""
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from tinytransformer.translation import TrainConfig, Trainer, Translator, builtin_splits

ROOT = pathlib.Path(__file__).resolve().parents[3]
OPTIONS = TrainConfig(d_model=16, n_heads=2, n_layers=1, d_ff=32, dropout=0.1, batch_tokens=300,
                      warmup=20, lr_factor=2.0, label_smoothing=0.1, clip=1.0, steps=6,
                      eval_every=100, min_freq=1, seed=3, device="cpu", max_len=40)


@pytest.fixture(scope="module")
def data():
    splits = builtin_splits(0)
    return {"train": splits["train"][:300], "dev": splits["dev"][:20], "test": splits["test"][:20]}


def parameters(trainer):
    return {name: p.numpy().copy() for name, p in trainer.model.named_parameters()}


def test_a_tiny_model_trains_and_its_loss_falls(data):
    trainer = Trainer(data, OPTIONS.replace(steps=40))
    batches = trainer.epoch_batches(0)
    first = np.mean([trainer.train_step(*b) for b in batches[:3]])
    for src, tgt in batches[3:] + trainer.epoch_batches(1):
        last = trainer.train_step(src, tgt)
    assert last < first - 0.5, (first, last)


def test_resume_gives_the_same_result_as_an_uninterrupted_run(data, tmp_path):
    straight = Trainer(data, OPTIONS.replace(steps=8))
    straight.run(tmp_path / "straight", progress=False)

    first_half = Trainer(data, OPTIONS.replace(steps=4))
    first_half.run(tmp_path / "halves", progress=False)
    resumed = Trainer.resume(tmp_path / "halves" / "last.npz", data, {"steps": 8})
    assert resumed.state["step"] == 4
    resumed.run(tmp_path / "halves", progress=False)

    a, b = parameters(straight), parameters(resumed)
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert [x[1] for x in straight.state["train_loss"]] == [x[1] for x in resumed.state["train_loss"]]


def test_checkpoint_round_trip_gives_identical_translations(data, tmp_path):
    trainer = Trainer(data, OPTIONS.replace(steps=10))
    trainer.run(tmp_path, progress=False)
    sentences = [zh for zh, _ in data["test"][:8]]
    before = trainer.translator.translate(sentences)
    loaded, header = Translator.load(tmp_path / "last.npz")
    assert loaded.translate(sentences) == before
    assert loaded.translate(sentences, beam_size=3) == trainer.translator.translate(sentences, beam_size=3)
    assert header["extra"]["trainer"]["step"] == 10


def test_a_corrupted_checkpoint_gives_a_clear_error(tmp_path, data):
    trainer = Trainer(data, OPTIONS.replace(steps=1))
    path = tmp_path / "model.npz"
    trainer.translator.save(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValueError, match="not a valid tinytransformer checkpoint"):
        Translator.load(path)
    result = subprocess.run([sys.executable, "examples/translate.py", "--checkpoint", str(path), "我"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode != 0 and "not a valid tinytransformer checkpoint" in result.stderr


def test_translate_cli_reads_arguments_and_stdin(data, tmp_path):
    trainer = Trainer(data, OPTIONS.replace(steps=2))
    path = tmp_path / "model.npz"
    trainer.translator.save(path)
    expected = trainer.translator.translate(["我有苹果。", "好久不见。"])
    cli = [sys.executable, "examples/translate.py", "--checkpoint", str(path)]
    by_args = subprocess.run(cli + ["我有苹果。", "好久不见。"], cwd=ROOT, capture_output=True,
                             text=True, check=True)
    by_stdin = subprocess.run(cli, input="我有苹果。\n好久不见。\n", cwd=ROOT, capture_output=True,
                              text=True, check=True)
    assert by_args.stdout.splitlines() == expected == by_stdin.stdout.splitlines()


def test_train_translate_end_to_end_writes_checkpoints_and_pictures(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "examples/train_translate.py", "--out", str(out), "--steps", "4",
         "--eval-every", "2", "--d-model", "16", "--d-ff", "32", "--layers", "1", "--heads", "2",
         "--beam", "2", "--no-progress", "--draw-graph"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "test BLEU of best.npz" in result.stdout
    assert "好久不见。  ->" in result.stdout
    for name in ("best.npz", "last.npz"):
        Translator.load(out / name)
    for name in ("loss.png", "attention.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in (out / "decoder_layer.svg").read_text()


def test_ctrl_c_saves_a_checkpoint_before_exiting(tmp_path):
    import signal
    import time
    out = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-u", "examples/train_translate.py", "--out", str(out), "--steps", "100000",
         "--d-model", "16", "--d-ff", "32", "--layers", "1", "--heads", "2", "--no-progress"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in process.stdout:      # wait until training has started
        if line.startswith("model:"):
            break
    time.sleep(3)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-2000:]
    assert "interrupted at step" in stdout
    translator, header = Translator.load(out / "last.npz")
    assert header["extra"]["trainer"]["step"] > 0


def test_init_embeddings_fills_matching_target_rows(data, tmp_path):
    import importlib.util
    spec = importlib.util.spec_from_file_location("train_translate", ROOT / "examples" / "train_translate.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    trainer = Trainer(data, OPTIONS)
    vocab = trainer.translator.tgt_vocab
    words = ["apple", "house", "notinthevocabulary"]
    vectors = {w: np.arange(16, dtype=np.float32) / (k + 1) for k, w in enumerate(words)}
    path = tmp_path / "vectors.txt"
    path.write_text("3 16\n" + "".join(f"{w} {' '.join(str(x) for x in v)}\n" for w, v in vectors.items()))
    before = trainer.model.tgt_embed.weight.numpy().copy()
    example.init_embeddings(trainer, path)
    after = trainer.model.tgt_embed.weight.numpy()
    for word in ("apple", "house"):
        np.testing.assert_allclose(after[vocab.stoi[word]], vectors[word], rtol=1e-6)
    untouched = [i for i in range(len(vocab)) if vocab.itos[i] not in ("apple", "house")]
    np.testing.assert_array_equal(after[untouched], before[untouched])
