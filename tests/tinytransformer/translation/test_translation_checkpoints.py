"""Loading a translator checkpoint checks it against itself: every malformed file is one
CheckpointError with one clear line, in Translator.load and in translate.py, and only
the arrays the model uses are read."""
import io
import json
import time
import zipfile

import numpy as np
import pytest

import tinytensor as tt
from tinytransformer import Transformer
from tinytransformer.data import Vocab
from tinytransformer.translation import Translator, tokenize
from tinytransformer.utils.checkpoint import CheckpointError
from translation_processes import load_example

SENTENCES = [("我有苹果。", "I have an apple."), ("他喜欢猫。", "He likes cats."),
             ("好久不见。", "Long time no see.")]


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """A small translator saved with an optimizer's state, and its path."""
    tt.manual_seed(0)
    src = Vocab.build([tokenize(zh, "zh") for zh, _ in SENTENCES])
    tgt = Vocab.build([tokenize(en, "en") for _, en in SENTENCES])
    model = Transformer(len(src), len(tgt), d_model=8, n_heads=2, n_layers=1, d_ff=16, max_len=12)
    translator = Translator(model, src, tgt, "zh", "en", ["Tom"])
    from tinytransformer.optim import Adam
    optimizer = Adam(model.parameters(), lr=1e-3)
    loss = tt.cross_entropy(model(np.array([[5, 6, 3]]), np.array([[2, 5]]))[0], np.array([5, 3]))
    loss.backward()
    optimizer.step()
    path = tmp_path_factory.mktemp("good") / "model.npz"
    translator.save(path, optimizer, extra={"note": "x"})
    return translator, path


def npy(array):
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def rewrite(source, target, config=None, drop=(), replace=None, raw=None):
    """A copy of a checkpoint with its config changed, arrays dropped or replaced,
    or members written as raw bytes."""
    replace, raw = replace or {}, raw or {}
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w") as zout:
        for info in zin.infolist():
            name = info.filename[:-len(".npy")]
            if name in drop or name in replace or name in raw:
                continue
            data = zin.read(info)
            if name == "meta" and config is not None:
                meta = json.loads(np.load(io.BytesIO(data)).tobytes())
                meta["config"] = config(meta["config"])
                data = npy(np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
            zout.writestr(info.filename, data)
        for name, array in replace.items():
            zout.writestr(name + ".npy", npy(array))
        for name, data in raw.items():
            zout.writestr(name + ".npy", data)
    return target


def with_model(**changes):
    return lambda config: {**config, "model": {**config["model"], **changes}}


def with_key(key, value):
    return lambda config: {**config, key: value}


def without(key):
    return lambda config: {k: v for k, v in config.items() if k != key}


def shorter_vocab(side):
    def change(config):
        vocab = dict(config[f"{side}_vocab"])
        vocab["tokens"], vocab["counts"] = vocab["tokens"][:-1], vocab["counts"][:-1]
        return {**config, f"{side}_vocab": vocab}
    return change


WEIGHT = "model.src_embed.weight"
BAD_CONFIGS = {
    "no model config": (without("model"), "no 'model'"),
    "a billion layers": (with_model(n_layers=10 ** 9), "n_layers=1000000000 is out of range"),
    "negative d_model": (with_model(d_model=-8), "d_model=-8 is out of range"),
    "d_model a string": (with_model(d_model="big"), "d_model must be an integer"),
    "fractional layers": (with_model(n_layers=1.5), "n_layers must be an integer"),
    "heads do not divide": (with_model(n_heads=3), "not divisible"),
    "dropout above one": (with_model(dropout=2.0), "dropout"),
    "unknown model field": (with_model(n_layer=2), "unknown fields"),
    "model config a list": (with_key("model", [1, 2]), "expected a dict"),
    "vocab shorter than embedding": (shorter_vocab("src"), "src_vocab has .* tokens, but"),
    "target vocab shorter": (shorter_vocab("tgt"), "tgt_vocab has .* tokens, but"),
    "vocab not a dict": (with_key("tgt_vocab", ["<pad>"]), "tgt_vocab is malformed"),
    "vocab without specials": (with_key("src_vocab", {"tokens": ["a", "b"]}), "malformed"),
    "vocab of numbers": (with_key("src_vocab", {"tokens": ["<pad>", "<unk>", "<s>", "</s>", 5]}),
                         "not strings|tokens, but"),
    "unknown language": (with_key("src_lang", "fr"), "languages"),
    "proper nouns not words": (with_key("proper_nouns", "Tom"), "proper_nouns"),
    "more layers than weights": (with_model(n_layers=40), "describes a model of"),
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_a_malformed_config_is_one_clear_error(good, tmp_path, case):
    change, message = BAD_CONFIGS[case]
    path = rewrite(good[1], tmp_path / "bad.npz", config=change)
    start = time.perf_counter()
    with pytest.raises(CheckpointError, match=message) as info:
        Translator.load(path)
    assert time.perf_counter() - start < 5          # nothing huge was built
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def bad_arrays(good):
    translator, _ = good
    weight = translator.model.src_embed.weight.numpy()
    return {
        "missing weight": (dict(drop=[WEIGHT]), "missing weights"),
        "wrong shape": (dict(replace={WEIGHT: weight[:-1]}), "has shape"),
        "integer weight": (dict(replace={WEIGHT: weight.astype(np.int32)}), "floating-point"),
        "NaN weight": (dict(replace={WEIGHT: weight * np.nan}), "NaN or infinite"),
        "object array": (dict(replace={WEIGHT: np.array([{"a": 1}], dtype=object)}),
                         "Python objects"),
        "unexpected weight": (dict(replace={"model.extra.weight": weight}), "unexpected weights"),
        "huge header, short data": (dict(raw={WEIGHT: npy(weight)[:128] + b"\0" * 64}),
                                    "zip directory does not match|shape"),
        "header claims a gigabyte": (
            dict(raw={WEIGHT: npy(np.zeros(1, np.float32)).replace(b"(1,)", b"(300000000,)")}),
            "has shape"),
        "not a header": (dict(raw={WEIGHT: b"garbage" * 20}), "no valid .npy header"),
    }


@pytest.mark.parametrize("case", ["missing weight", "wrong shape", "integer weight", "NaN weight",
                                  "object array", "unexpected weight", "huge header, short data",
                                  "header claims a gigabyte", "not a header"])
def test_a_malformed_weight_is_one_clear_error(good, tmp_path, case):
    changes, message = bad_arrays(good)[case]
    path = rewrite(good[1], tmp_path / "bad.npz", **changes)
    with pytest.raises(CheckpointError, match=message) as info:
        Translator.load(path)
    assert "\n" not in str(info.value)


def test_only_the_arrays_the_model_uses_are_read(good, tmp_path):
    translator, path = good
    # Damaged optimizer state and a junk array that claims 2.4 GB: never read, so no error.
    junk = npy(np.zeros(1, np.float64)).replace(b"(1,)", b"(300000000,)")
    optim = [n for n in np.load(path).files if n.startswith("optim.state.")][0]
    damaged = rewrite(path, tmp_path / "damaged.npz", raw={"junk": junk, optim: b"\x93NUMPY broken"})
    loaded, header = Translator.load(damaged)
    assert loaded.translate("我有苹果。") == translator.translate("我有苹果。")
    assert header["extra"] == {"note": "x"}
    from tinytransformer.utils.checkpoint import CheckpointReader
    with CheckpointReader(damaged) as ckpt, pytest.raises(CheckpointError, match="junk"):
        ckpt.read("junk")


def test_files_that_are_no_checkpoint_at_all(good, tmp_path):
    data = good[1].read_bytes()
    cases = {"empty.npz": b"", "half.npz": data[:len(data) // 2], "text.npz": b"hello\n"}
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(CheckpointError, match="not a valid tinytransformer checkpoint"):
            Translator.load(tmp_path / name)
    np.savez(tmp_path / "plain.npz", x=np.ones(2))
    with pytest.raises(CheckpointError, match="no 'meta' entry"):
        Translator.load(tmp_path / "plain.npz")
    with pytest.raises(CheckpointError, match="no such file") as info:
        Translator.load(tmp_path / "missing.npz")
    assert isinstance(info.value, FileNotFoundError)
    with pytest.raises(CheckpointError, match="directory"):
        Translator.load(tmp_path)


def test_old_checkpoints_without_proper_nouns_still_load(good, tmp_path):
    """Before the layout change a vocabulary was saved as {"tokens": [...]} alone and the
    detokenizer used the built-in corpus's names."""
    def old_form(config):
        old = without("proper_nouns")(config)
        for side in ("src_vocab", "tgt_vocab"):
            old[side] = {"tokens": config[side]["tokens"]}
        return old
    path = rewrite(good[1], tmp_path / "old.npz", config=old_form)
    loaded, _ = Translator.load(path)
    assert "Mary" in loaded.proper_nouns and "Tom" in loaded.proper_nouns
    assert loaded.src_vocab.itos == good[0].src_vocab.itos


def test_translate_cli_prints_each_checkpoint_error_as_one_line(good, tmp_path, capsys):
    translate = load_example("translate")
    cases = [rewrite(good[1], tmp_path / f"bad{i}.npz", config=change)
             for i, (change, _) in enumerate(BAD_CONFIGS.values())]
    cases += [rewrite(good[1], tmp_path / f"bad_array{i}.npz", **changes)
              for i, (changes, _) in enumerate(bad_arrays(good).values())]
    (tmp_path / "empty.npz").write_bytes(b"")
    cases += [tmp_path / "empty.npz", tmp_path / "missing.npz"]
    for path in cases:
        assert translate.main(["--checkpoint", str(path), "我"]) == 1
        captured = capsys.readouterr()
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("translate.py: "), captured.err
        assert str(path) in lines[0] and captured.out == ""


@pytest.mark.parametrize("share, tie, learned", [(False, True, False), (True, True, False),
                                                 (False, False, True), (True, False, True)])
def test_the_config_counts_the_parameters_before_anything_is_built(share, tie, learned):
    """Translator.load compares this count with the file's size before building the model."""
    model = Transformer(9, 9, d_model=8, n_heads=2, n_layers=2, d_ff=12, max_len=10,
                        share_embeddings=share, tie_output=tie, learned_positions=learned)
    assert model.config.num_parameters() == model.num_parameters()
