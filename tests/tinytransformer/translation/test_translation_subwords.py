"""Subword tokenizers (SentencePiece): text round trips, a checkpoint carries its tokenizer
and gives the same ids and translations after loading, translate.py needs nothing else, the
subword path of train_translate.py end to end, and the errors.

All data comes from the built-in corpus (builtin_splits), never from files outside the tests.
"""
import re

import numpy as np
import pytest

from tinytransformer.data import UNK
from tinytransformer.translation import TrainConfig, Trainer, Translator, builtin_splits
from tinytransformer.translation.tokenizers import (SentencePieceTokenizer, WordTokenizer,
                                                    tokenizer_from_config)
from tinytransformer.utils.checkpoint import CheckpointError, CheckpointReader, save_checkpoint

spm = pytest.importorskip("sentencepiece")

# Words that occur nowhere in the built-in corpus but are spelled with its letters only.
UNSEEN = ["The flibbertigibbet was here.", "Mary saw a jellyfish.", "I like pavlova.",
          "Jim's jumbo kebab was very good."]


@pytest.fixture(scope="module")
def splits():
    return builtin_splits(0)


@pytest.fixture(scope="module")
def english_model(splits):
    return SentencePieceTokenizer.train([en for _, en in splits["train"]], "en", vocab_size=300)


@pytest.fixture(scope="module")
def chinese_model(splits):
    return SentencePieceTokenizer.train([zh for zh, _ in splits["train"]], "zh", vocab_size=400)


def sentencepiece_ids(tokenizer, text):
    """The ids SentencePiece itself gives, from the tokenizer's saved bytes alone."""
    processor = spm.SentencePieceProcessor()
    processor.LoadFromSerializedProto(tokenizer.model_bytes())
    return processor.EncodeAsIds(text), processor.unk_id()


# -- round trips ----------------------------------------------------------------------------
def test_english_pieces_round_trip_every_held_out_sentence(splits, english_model):
    assert english_model.lang == "en" and english_model.kind == "sentencepiece"
    assert english_model.to_config()["kind"] == "sentencepiece"
    held_out = [en for _, en in splits["dev"] + splits["test"]]
    assert len(held_out) == 1000
    broken = [s for s in held_out if english_model.detokenize(english_model.tokenize(s)) != s]
    assert broken == []
    pieces = english_model.tokenize("I saw him in the park yesterday.")
    assert all(isinstance(p, str) for p in pieces) and len(pieces) >= 2
    assert "".join(pieces).replace("\u2581", " ").strip() == "I saw him in the park yesterday."


def test_chinese_pieces_round_trip_every_held_out_sentence(splits, chinese_model):
    held_out = [zh for zh, _ in splits["dev"] + splits["test"]]
    broken = [s for s in held_out if chinese_model.detokenize(chinese_model.tokenize(s)) != s]
    assert broken == [], f"{len(broken)} changed, e.g. {broken[:3]}"


def test_chinese_pieces_round_trip_sentences_without_full_width_marks(splits, chinese_model):
    """What does round-trip today: sentences whose punctuation NFKC leaves alone (。)."""
    held_out = [zh for zh, _ in splits["dev"] + splits["test"] if not set(zh) & set("？！，")]
    assert len(held_out) > 300
    assert [s for s in held_out if chinese_model.detokenize(chinese_model.tokenize(s)) != s] == []


def test_an_unseen_word_is_spelled_from_pieces_not_unknown(splits, english_model):
    alphabet = set("".join(en for _, en in splits["train"]))
    corpus_words = {w.strip(".,!?").lower() for _, en in splits["train"] for w in en.split()}
    for sentence in UNSEEN:
        assert set(sentence) <= alphabet, sentence
        new = {w.strip(".,!?").lower() for w in sentence.split()} - corpus_words
        assert new, sentence                                        # really an unseen word
        pieces = english_model.tokenize(sentence)
        assert english_model.detokenize(pieces) == sentence
        assert "<unk>" not in pieces and "\u2047" not in english_model.detokenize(pieces)
        ids, unk = sentencepiece_ids(english_model, sentence)
        assert unk not in ids, (sentence, pieces)
    pieces = english_model.tokenize("The flibbertigibbet was here.")
    assert len(pieces) > 5 and "\u2581flibbertigibbet" not in pieces


@pytest.fixture(scope="module")
def subword_trainer(splits):
    config = TrainConfig(d_model=16, n_heads=2, n_layers=1, d_ff=32, batch_tokens=300, warmup=20,
                         lr_factor=2.0, max_len=40, seed=2, steps=3, eval_every=3,
                         tokenizer="sentencepiece-en", subword_vocab=300)
    return Trainer({"train": splits["train"], "dev": splits["dev"][:5]}, config)


def test_the_trainer_builds_subwords_for_english_and_characters_for_chinese(subword_trainer):
    t = subword_trainer.translator
    assert isinstance(t.tgt_tokenizer, SentencePieceTokenizer) and t.tgt_tokenizer.lang == "en"
    assert isinstance(t.src_tokenizer, WordTokenizer) and t.src_tokenizer.lang == "zh"
    assert t.src_tokenizer.tokenize("我有苹果。") == ["我", "有", "苹", "果", "。"]
    # the target vocabulary is pieces: far fewer than the corpus's distinct words (~680)
    assert len(t.tgt_vocab) <= 300 + 4
    assert "\u2581the" in t.tgt_vocab or "\u2581The" in t.tgt_vocab


def test_the_trainers_vocab_encodes_a_word_it_spells_from_known_pieces(subword_trainer):
    """This word's pieces happen to all be in the vocabulary: no <unk>."""
    t = subword_trainer.translator
    pieces = t.tgt_tokenizer.tokenize(UNSEEN[0])
    ids = t.tgt_vocab.encode(pieces)
    assert len(ids) == len(pieces) and UNK not in ids, list(zip(pieces, ids))


def test_the_trainers_vocab_encodes_every_unseen_word_without_unknown(subword_trainer):
    t = subword_trainer.translator
    unknown = {}
    for sentence in UNSEEN:
        pieces = t.tgt_tokenizer.tokenize(sentence)
        missing = [p for p, i in zip(pieces, t.tgt_vocab.encode(pieces)) if i == UNK]
        if missing:
            unknown[sentence] = missing
    assert unknown == {}


# -- a checkpoint carries the tokenizer -----------------------------------------------------
@pytest.fixture(scope="module")
def subword_run(subword_trainer, tmp_path_factory):
    folder = tmp_path_factory.mktemp("subword-run")
    subword_trainer.run(folder, progress=False)
    return subword_trainer, folder


def held_out_sentences(splits, n=60):
    zh = [z for z, _ in splits["test"][:n]]
    en = [e for _, e in splits["test"][:n]] + UNSEEN
    return zh, en


def test_a_loaded_checkpoint_has_the_same_tokenizer_ids_and_translations(subword_run, splits):
    trainer, folder = subword_run
    original = trainer.translator
    with CheckpointReader(folder / "last.npz") as ckpt:
        assert ckpt.config["tgt_tokenizer"]["kind"] == "sentencepiece"
        assert ckpt.config["src_tokenizer"] == {"kind": "words", "lang": "zh"}
        assert ckpt.read_blob("tgt_tokenizer") == original.tgt_tokenizer.model_bytes()
        assert "blob.src_tokenizer" not in ckpt.names()        # words need no model
    loaded, header = Translator.load(folder / "last.npz")
    assert header["extra"]["trainer"]["step"] == 3
    assert isinstance(loaded.tgt_tokenizer, SentencePieceTokenizer)
    assert isinstance(loaded.src_tokenizer, WordTokenizer)
    assert loaded.tgt_tokenizer.model_bytes() == original.tgt_tokenizer.model_bytes()
    assert loaded.tgt_tokenizer.to_config() == original.tgt_tokenizer.to_config()
    assert loaded.tgt_vocab.itos == original.tgt_vocab.itos
    assert loaded.src_vocab.itos == original.src_vocab.itos

    zh, en = held_out_sentences(splits)
    for sentence in en:
        pieces = loaded.tgt_tokenizer.tokenize(sentence)
        assert pieces == original.tgt_tokenizer.tokenize(sentence)
        assert loaded.tgt_vocab.encode(pieces) == original.tgt_vocab.encode(pieces)
        assert loaded.tgt_tokenizer.detokenize(pieces) == sentence
    assert_same = np.testing.assert_array_equal
    assert_same(loaded.encode_sources(zh), original.encode_sources(zh))
    # ids -> text through the loaded target side gives the original's text
    ids = [original.tgt_vocab.encode(original.tgt_tokenizer.tokenize(s)) for s in en]
    assert [loaded.detokenize(i) for i in ids] == [original.detokenize(i) for i in ids]
    assert [original.detokenize(i) for i in ids[:len(zh)]] == en[:len(zh)]

    for name, p in original.model.named_parameters():
        assert_same(dict(loaded.model.named_parameters())[name].numpy(), p.numpy())
    assert loaded.translate(zh[:20]) == original.translate(zh[:20])
    assert loaded.translate(zh[:5], beam_size=2) == original.translate(zh[:5], beam_size=2)


def test_translator_save_and_load_keep_a_sentencepiece_model_on_both_sides(splits, tmp_path):
    """Translator.save/load directly, subwords on both sides (Chinese pieces too)."""
    config = TrainConfig(d_model=16, n_heads=2, n_layers=1, d_ff=32, max_len=40,
                         tokenizer="sentencepiece", subword_vocab=300)
    trainer = Trainer({"train": splits["train"][:1000], "dev": splits["dev"][:5]}, config)
    original = trainer.translator
    path = tmp_path / "both.npz"
    original.save(path)
    loaded, _ = Translator.load(path)
    for side in ("src_tokenizer", "tgt_tokenizer"):
        a, b = getattr(original, side), getattr(loaded, side)
        assert isinstance(b, SentencePieceTokenizer)
        assert b.model_bytes() == a.model_bytes() and b.lang == a.lang
    assert original.src_tokenizer.model_bytes() != original.tgt_tokenizer.model_bytes()
    zh = [z for z, _ in splits["test"][:30]]
    assert [loaded.src_tokenizer.tokenize(s) for s in zh] == \
        [original.src_tokenizer.tokenize(s) for s in zh]
    np.testing.assert_array_equal(loaded.encode_sources(zh), original.encode_sources(zh))
    assert loaded.translate(zh[:5]) == original.translate(zh[:5])


def test_translate_py_alone_translates_a_subword_checkpoint(subword_run, splits, run_python):
    trainer, folder = subword_run
    zh, _ = held_out_sentences(splits, 8)
    expected = trainer.translator.translate(zh)
    result = run_python(["examples/translate.py", "--checkpoint", folder / "last.npz", *zh],
                        timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split("\n") == expected + [""]
    assert result.stderr == ""


# -- train_translate.py on the subword path -------------------------------------------------
def write_tsv(path, pairs):
    path.write_text("".join(f"{en}\t{zh}\n" for zh, en in pairs), encoding="utf-8")
    return path


def test_train_translate_trains_tests_and_averages_with_subwords(splits, tmp_path, run_python):
    train = write_tsv(tmp_path / "train.tsv", splits["train"][:300])
    test = write_tsv(tmp_path / "test.tsv", splits["test"][:15])
    out = tmp_path / "run"
    result = run_python(["examples/train_translate.py", "--data", train, "--test", test,
                         "--out", out, "--tokenizer", "sentencepiece-en", "--subword-vocab", "300",
                         "--d-model", "16", "--d-ff", "32", "--layers", "1", "--heads", "2",
                         "--batch-tokens", "300", "--max-len", "40", "--steps", "4",
                         "--eval-every", "2", "--average", "2", "--beam", "2",
                         "--no-progress", "--no-plots"], timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    stdout = result.stdout
    assert "data: 270 training, 30 dev, 15 test pairs (zh -> en)" in stdout, stdout
    assert sorted(p.name for p in out.glob("step-*.npz")) == ["step-0000002.npz",
                                                              "step-0000004.npz"]
    for name in ("averaged.npz", "best.npz", "last.npz"):
        assert (out / name).is_file(), name
    assert re.search(r"averaged\.npz \(mean of the last 2 evaluations\): dev BLEU \d+\.\d, "
                     r"best\.npz \d+\.\d: testing (averaged|best)\.npz", stdout), stdout
    assert re.search(r"test scores of (averaged|best)\.npz on 15 pairs \(.*test\.tsv\):", stdout)
    for decoding in ("greedy", "beam 2"):
        assert re.search(rf"^{decoding}: BLEU \d+\.\d  chrF \d+\.\d$", stdout, re.M), stdout
    assert "BLEU signature" in stdout and "chrF signature" in stdout
    averaged, header = Translator.load(out / "averaged.npz")
    assert header["extra"]["averaged"] == ["step-0000002.npz", "step-0000004.npz"]
    assert isinstance(averaged.tgt_tokenizer, SentencePieceTokenizer)
    last, _ = Translator.load(out / "last.npz")
    assert averaged.tgt_tokenizer.model_bytes() == last.tgt_tokenizer.model_bytes()
    assert isinstance(averaged.translate("我有苹果。"), str)


# -- errors ---------------------------------------------------------------------------------
def test_bytes_that_are_not_a_model_are_a_value_error():
    for junk in (b"not a model", b"", bytes(range(256))):
        with pytest.raises(ValueError, match="not a SentencePiece model"):
            SentencePieceTokenizer(junk, "en")
    with pytest.raises(ValueError, match="unknown language"):
        SentencePieceTokenizer(b"not a model", "fr")
    with pytest.raises(ValueError, match="no sentences"):
        SentencePieceTokenizer.train(["", "   "], "en")
    with pytest.raises(ValueError, match="without its model bytes"):
        tokenizer_from_config({"kind": "sentencepiece", "lang": "en"}, None)
    with pytest.raises(ValueError, match="unknown tokenizer 'bpe'"):
        tokenizer_from_config({"kind": "bpe", "lang": "en"})


def test_tokenizer_from_config_rebuilds_a_model_from_its_bytes(english_model):
    again = tokenizer_from_config(english_model.to_config(), english_model.model_bytes())
    assert isinstance(again, SentencePieceTokenizer)
    for sentence in UNSEEN + ["Long time no see."]:
        assert again.tokenize(sentence) == english_model.tokenize(sentence)


def without(path, out, drop=(), replace=None):
    """A copy of the checkpoint at `path` without the arrays `drop` (and with `replace`)."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files if name not in drop}
    arrays.update(replace or {})
    with open(out, "wb") as f:
        np.savez(f, **arrays)
    return out


def test_a_checkpoint_missing_its_tokenizer_model_is_a_checkpoint_error(subword_run, tmp_path):
    _, folder = subword_run
    good = folder / "last.npz"
    missing = without(good, tmp_path / "missing.npz", drop=["blob.tgt_tokenizer"])
    with CheckpointReader(missing) as ckpt:
        assert ckpt.config["tgt_tokenizer"]["kind"] == "sentencepiece"
    with pytest.raises(CheckpointError, match="tgt_tokenizer") as error:
        Translator.load(missing)
    assert "\n" not in str(error.value)
    junk = without(good, tmp_path / "junk.npz",
                   replace={"blob.tgt_tokenizer": np.frombuffer(b"garbage", dtype=np.uint8)})
    with pytest.raises(CheckpointError, match="tgt_tokenizer.*not a SentencePiece model"):
        Translator.load(junk)


def test_a_config_naming_sentencepiece_without_a_blob_written_directly(subword_run, tmp_path):
    trainer, _ = subword_run
    t = trainer.translator
    path = tmp_path / "no-blob.npz"
    save_checkpoint(path, t.model, config=t.config())             # no blobs=
    with pytest.raises(CheckpointError, match="tgt_tokenizer"):
        Translator.load(path)


def test_translate_py_reports_the_missing_tokenizer_in_one_line(subword_run, tmp_path,
                                                                 run_python):
    _, folder = subword_run
    missing = without(folder / "last.npz", tmp_path / "missing.npz", drop=["blob.tgt_tokenizer"])
    result = run_python(["examples/translate.py", "--checkpoint", missing, "我有苹果。"],
                        timeout=120)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("translate.py: ") and \
        "tgt_tokenizer" in lines[0], result.stderr
    assert result.stdout == ""


def test_an_unknown_tokenizer_name_is_a_value_error_naming_the_options():
    with pytest.raises(ValueError) as error:
        TrainConfig(tokenizer="bpe")
    message = str(error.value)
    for option in ("words", "sentencepiece-en", "sentencepiece", "'bpe'"):
        assert option in message, message
    for ok in ("words", "sentencepiece-en", "sentencepiece"):
        assert TrainConfig(tokenizer=ok).tokenizer == ok
    with pytest.raises(ValueError, match="subword_vocab"):
        TrainConfig(subword_vocab=3)
