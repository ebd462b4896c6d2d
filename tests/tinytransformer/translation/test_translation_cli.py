"""The example programs as a user meets them: train_translate.py checks its inputs
before the first step and says what is wrong in one line; translate.py gives one
output line per input line, whatever the lines hold."""
import re

import numpy as np
import pytest

import tinytensor as tt
from tinytransformer import Transformer
from tinytransformer.data import Vocab
from tinytransformer.translation import (LongSentenceWarning, TrainConfig, Trainer, Translator,
                                         builtin_splits, tokenize)
from tinytransformer.translation.translator import split_tokens
from translation_processes import load_example

SMALL = ["--d-model", "16", "--d-ff", "32", "--layers", "1", "--heads", "2", "--batch-tokens",
         "300", "--no-progress", "--no-plots"]


@pytest.fixture(scope="module")
def train_translate():
    return load_example("train_translate")


@pytest.fixture(scope="module")
def translate():
    return load_example("translate")


@pytest.fixture(scope="module")
def data():
    splits = builtin_splits(0)
    return {"train": splits["train"][:300], "dev": splits["dev"][:20], "test": splits["test"][:20]}


# -- train_translate.py: bad inputs --------------------------------------------------------
def bad_inputs(tmp_path, tiny_tsv):
    train, dev = tiny_tsv
    files = {
        "empty.tsv": b"",
        "utf16.tsv": train.read_text(encoding="utf-8").encode("utf-16"),
        "gbk.tsv": "".join(f"{line}\n" for line in train.read_text(encoding="utf-8").splitlines()
                           if all(ord(c) < 0x10000 for c in line)).encode("gbk", "ignore"),
        "five.tsv": b"".join(train.read_bytes().splitlines(keepends=True)[:5]),
        "not-a-checkpoint.npz": b"hello",
    }
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    (tmp_path / "a-file").write_text("x")
    tiny = ["--data", train, "--dev", dev]
    return {
        "empty data": (["--data", tmp_path / "empty.tsv"], "holds no sentence pairs"),
        "UTF-16 data": (["--data", tmp_path / "utf16.tsv"], "holds no sentence pairs"),
        "GBK data": (["--data", tmp_path / "gbk.tsv"], "holds no sentence pairs"),
        "empty dev": (["--data", train, "--dev", tmp_path / "empty.tsv"], "--dev .* no sentence"),
        "missing data": (["--data", tmp_path / "missing.tsv"], "No such file or directory"),
        "every pair too long": (tiny + ["--max-len", "3"], "none of the 300 training pairs fits"),
        "five pairs, no dev": (["--data", tmp_path / "five.tsv"], "too few to hold out"),
        "eval every 0": (tiny + ["--eval-every", "0"], "eval_every must be an integer >= 1"),
        "no steps": (tiny + ["--steps", "0"], "steps must be an integer >= 1"),
        "negative dropout": (tiny + ["--dropout", "-1"], "dropout"),
        "heads do not divide": (tiny + ["--heads", "3"], "not divisible"),
        "a thousand layers": (tiny + ["--layers", "1000"], "n_layers=1000 is out of range"),
        "time limit 0": (tiny + ["--time-limit", "0"], "--time-limit must be a positive"),
        "beam 0": (tiny + ["--beam", "0"], "--beam must be at least 1"),
        "unknown device": (tiny + ["--device", "tpu"], "device 'tpu': unknown device"),
        "out under a file": (tiny + ["--out", tmp_path / "a-file" / "run"], "cannot use"),
        "resume missing": (tiny + ["--resume", tmp_path / "none.npz"], "no such checkpoint"),
        "resume junk": (tiny + ["--resume", tmp_path / "not-a-checkpoint.npz"],
                        "not a valid tinytransformer checkpoint"),
    }


def test_bad_inputs_are_one_clear_line_before_any_step(train_translate, tmp_path, tiny_tsv, capsys):
    for case, (args, message) in bad_inputs(tmp_path, tiny_tsv).items():
        out = tmp_path / f"out-{case.replace(' ', '-')}"
        argv = ["--out", out] + SMALL + args
        code = train_translate.main([str(a) for a in argv])
        captured = capsys.readouterr()
        errors = captured.err.strip().splitlines()
        assert code == 1, (case, captured)
        assert errors and errors[-1].startswith("train_translate.py: "), (case, captured.err)
        assert re.search(message, errors[-1]), (case, errors[-1])
        assert all(line.startswith("train_translate.py: ") for line in errors), (case, errors)
        assert "Traceback" not in captured.err + captured.out
        assert not (out / "last.npz").exists(), case


def test_a_translator_file_without_training_state_cannot_be_resumed(train_translate, tmp_path,
                                                                    tiny_tsv, data, capsys):
    Trainer(data, TrainConfig(d_model=16, n_heads=2, n_layers=1, d_ff=32)).translator.save(
        tmp_path / "model.npz")
    train, dev = tiny_tsv
    code = train_translate.main([str(a) for a in ["--out", tmp_path / "run", "--data", train,
                                                  "--dev", dev, "--resume", tmp_path / "model.npz"]
                                 + SMALL])
    assert code == 1
    assert capsys.readouterr().err.strip().endswith("it was saved by Translator.save, not by a Trainer")


def test_empty_data_ends_at_once_instead_of_spinning(tmp_path, run_python):
    (tmp_path / "empty.tsv").write_bytes(b"")
    result = run_python(["examples/train_translate.py", "--data", tmp_path / "empty.tsv",
                         "--out", tmp_path / "run", "--no-progress"], timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"train_translate.py: --data {tmp_path / 'empty.tsv'} holds no sentence pairs "
        "(expected UTF-8 lines English<TAB>Chinese)"]


def test_another_runs_folder_is_refused_and_overwrite_is_explicit(train_translate, tmp_path,
                                                                 tiny_tsv, capsys):
    train, dev = tiny_tsv
    base = [str(a) for a in ["--out", tmp_path, "--data", train, "--dev", dev, "--steps", "2",
                             "--eval-every", "2"] + SMALL]
    assert train_translate.main(base) == 0
    best = (tmp_path / "best.npz").read_bytes()
    capsys.readouterr()
    assert train_translate.main(base + ["--seed", "1"]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"train_translate.py: {tmp_path} already holds the checkpoints of a "
                            "run (best.npz, last.npz): continue it with --resume")
    assert (tmp_path / "best.npz").read_bytes() == best
    assert train_translate.main(base + ["--seed", "1", "--overwrite"]) == 0
    assert (tmp_path / "best.npz").read_bytes() != best
    capsys.readouterr()
    assert train_translate.main(base + ["--resume", str(tmp_path / "last.npz"), "--steps", "3"]) == 0
    assert "resuming" in capsys.readouterr().out


def test_train_translate_end_to_end_writes_checkpoints_and_pictures(tmp_path, run_python):
    pytest.importorskip("matplotlib")
    out = tmp_path / "run"
    result = run_python(["examples/train_translate.py", "--out", out, "--steps", "4",
                         "--eval-every", "2", "--d-model", "16", "--d-ff", "32", "--layers", "1",
                         "--heads", "2", "--beam", "2", "--no-progress", "--draw-graph"])
    assert result.returncode == 0, result.stderr[-2000:]
    assert "test scores of best.npz on 500 pairs (the built-in test split):" in result.stdout
    for decoding in ("greedy", "beam 2"):
        assert re.search(rf"^{decoding}: BLEU \d+\.\d  chrF \d+\.\d$", result.stdout, re.M)
    assert "BLEU signature: nrefs:1|case:mixed|eff:no|tok:13a" in result.stdout
    assert re.search(r"source +好久不见。\n +translation +.*\n +reference +Long time no see\.",
                     result.stdout)
    for name in ("best.npz", "last.npz"):
        Translator.load(out / name)
    for name in ("loss.png", "attention.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in (out / "decoder_layer.svg").read_text()


def test_init_embeddings_fills_matching_target_rows(train_translate, data, tmp_path):
    trainer = Trainer(data, TrainConfig(d_model=16, n_heads=2, n_layers=1, d_ff=32, max_len=40))
    vocab = trainer.translator.tgt_vocab
    words = ["apple", "house", "notinthevocabulary"]
    vectors = {w: np.arange(16, dtype=np.float32) / (k + 1) for k, w in enumerate(words)}
    path = tmp_path / "vectors.txt"
    path.write_text("3 16\n" + "".join(f"{w} {' '.join(str(x) for x in v)}\n" for w, v in vectors.items()))
    before = trainer.model.tgt_embed.weight.numpy().copy()
    train_translate.init_embeddings(trainer, path)
    after = trainer.model.tgt_embed.weight.numpy()
    for word in ("apple", "house"):
        np.testing.assert_allclose(after[vocab.stoi[word]], vectors[word], rtol=1e-6)
    untouched = [i for i in range(len(vocab)) if vocab.itos[i] not in ("apple", "house")]
    np.testing.assert_array_equal(after[untouched], before[untouched])


# -- translate.py ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def short_model(data, tmp_path_factory):
    """A translator whose position table holds only 12 tokens, saved."""
    tt.manual_seed(0)
    src = Vocab.build([tokenize(zh, "zh") for zh, _ in data["train"]])
    tgt = Vocab.build([tokenize(en, "en") for _, en in data["train"]])
    model = Transformer(len(src), len(tgt), d_model=16, n_heads=2, n_layers=1, d_ff=32, max_len=12)
    translator = Translator(model, src, tgt, "zh", "en")
    path = tmp_path_factory.mktemp("model") / "model.npz"
    translator.save(path)
    return translator, path


def test_split_tokens_cuts_at_sentence_then_clause_ends():
    assert split_tokens(list("我有苹果。"), 11) == [list("我有苹果。")]
    assert split_tokens(list("我有苹果。他有书。"), 6) == [list("我有苹果。"), list("他有书。")]
    assert split_tokens(list("我有苹果，他有书，你有笔。"), 9) == [list("我有苹果，他有书，"), list("你有笔。")]
    assert split_tokens(list("一二三四五六七"), 3) == [list("一二三"), list("四五六"), list("七")]
    tokens = list("我昨天在公园见了他，我们一起唱歌。他很高兴！") * 3
    pieces = split_tokens(tokens, 11)
    assert sum(pieces, []) == tokens and all(len(p) <= 11 for p in pieces)


def test_a_sentence_longer_than_the_model_is_translated_in_pieces(short_model):
    translator, _ = short_model
    long_sentence = "我有苹果。" * 2 + "他喜欢猫。" * 2          # 20 tokens, the model takes 11
    with pytest.warns(LongSentenceWarning, match="sentence 1 has 20 tokens.*in 2 pieces"):
        translation = translator.translate(long_sentence)
    pieces = translator.translate(["我有苹果。我有苹果。", "他喜欢猫。他喜欢猫。", "我有苹果。"])
    assert translation == " ".join(pieces[:2])
    with pytest.raises(ValueError, match="longer than the model's 11"):
        translator.translate_ids([long_sentence])
    assert translator.translate(["", "我有苹果。"]) == ["", pieces[2]]


def test_translate_gives_one_line_per_input_line_in_order(short_model, run_python):
    translator, path = short_model
    long_line = "我有苹果。他喜欢猫。我有苹果，他有书。"
    lines = ["我有苹果。", "", "   ", long_line, "他喜欢猫。", "好久不见。"]
    raw = ("\n".join(lines[:4]) + "\n").encode() + b"\xff\xfe\xe6\x88\x91\n" + \
        "\n".join(lines[4:]).encode()          # a line with bytes that are not UTF-8; no final newline
    result = run_python(["examples/translate.py", "--checkpoint", path, "--batch-size", "2"],
                        input=raw, text=False, timeout=120)
    stdout, stderr = result.stdout.decode(), result.stderr.decode()
    assert result.returncode == 0, stderr
    out = stdout.split("\n")
    assert out[-1] == "" and len(out) - 1 == 7, stdout
    with pytest.warns(LongSentenceWarning):
        expected = translator.translate([line for line in lines if line.strip()])
    assert [out[0], out[3], out[5], out[6]] == expected[:2] + expected[2:]
    assert out[1] == out[2] == ""
    assert out[4] != ""                                  # the broken line is still translated
    assert stderr.strip().splitlines() == [
        f"translate.py: line 4: {len(tokenize(long_line, 'zh'))} tokens, more than the model's 11; "
        "translated in 2 pieces"]


def test_arguments_give_one_line_each_and_a_failing_line_costs_only_itself(
        translate, short_model, monkeypatch, capsys):
    translator, path = short_model
    expected = translator.translate(["我有苹果。", "好久不见。"])
    original = Translator.translate

    def fails_on_one_line(self, texts, *args, **kwargs):
        if any("坏" in t for t in ([texts] if isinstance(texts, str) else texts)):
            raise RuntimeError("cannot translate this")
        return original(self, texts, *args, **kwargs)

    monkeypatch.setattr(Translator, "translate", fails_on_one_line)
    assert translate.main(["--checkpoint", str(path), "我有苹果。", "", "坏", "好久不见。"]) == 0
    captured = capsys.readouterr()
    assert captured.out.split("\n") == [expected[0], "", "", expected[1], ""]
    assert captured.err.strip() == "translate.py: line 3: not translated (RuntimeError: cannot " \
                                   "translate this)"
    assert translate.main(["--checkpoint", str(path), "--beam", "0", "x"]) == 1
    assert "--beam and --batch-size must be at least 1" in capsys.readouterr().err
