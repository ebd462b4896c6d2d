"""Scores as the field reports them: our BLEU and chrF are sacreBLEU's own figures (checked
against its command line), with its signatures; translate.py --test prints them for a
checkpoint on any Tatoeba-format file."""
import json
import re
import subprocess
import sys

import pytest

import tinytensor as tt
from tinytransformer import Transformer
from tinytransformer.data import Vocab
from tinytransformer.translation import (Scores, Translator, builtin_splits, corpus_bleu,
                                         format_samples, read_tsv, score_translations, tokenize)
from translation_processes import load_example

sacrebleu = pytest.importorskip("sacrebleu")

# Hypotheses that are right, nearly right (a word, the case, the punctuation) and wrong.
ENGLISH = [
    ("I have an apple.", "I have an apple."),
    ("He like cats.", "He likes cats."),
    ("long time no see!", "Long time no see."),
    ("The weather is good today.", "The weather is nice today."),
    ("We go to the park yesterday.", "We went to the park yesterday."),
    ("Where is station?", "Where is the station?"),
    ("She reads a book in the library every morning.",
     "Every morning she reads in the library."),
    ("Thanks.", "Thank you very much."),
]
CHINESE = [
    ("我有苹果。", "我有苹果。"),
    ("他喜欢猫", "他喜欢猫。"),
    ("好久没见。", "好久不见。"),
    ("今天天气很好。", "今天天气不错。"),
    ("我们昨天去公园。", "我们昨天去了公园。"),
    ("车站在哪？", "车站在哪里？"),
    ("她每天早上在图书馆看书，看了3本。", "她每天早上都在图书馆读书，读了三本。"),
    ("谢谢。", "非常感谢你。"),
]


def sacrebleu_command_line(tmp_path, hypotheses, references, tokenizer):
    """{metric name: (score, signature)} from `python -m sacrebleu` on files, as a paper's
    authors would run it."""
    hyp, ref = tmp_path / "hypotheses.txt", tmp_path / "references.txt"
    hyp.write_text("".join(f"{line}\n" for line in hypotheses), encoding="utf-8")
    ref.write_text("".join(f"{line}\n" for line in references), encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "sacrebleu", str(ref), "-i", str(hyp),
                             "-m", "bleu", "chrf", "--tokenize", tokenizer, "--format", "json",
                             "--width", "6"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return {entry["name"]: (entry["score"], entry["signature"])
            for entry in json.loads(result.stdout)}


@pytest.mark.parametrize("pairs, target_lang, tokenizer",
                         [(ENGLISH, "en", "13a"), (CHINESE, "zh", "zh")], ids=["en", "zh"])
def test_scores_are_sacrebleus_command_line_figures(tmp_path, pairs, target_lang, tokenizer):
    hypotheses, references = [h for h, _ in pairs], [r for _, r in pairs]
    expected = sacrebleu_command_line(tmp_path, hypotheses, references, tokenizer)
    scores = score_translations(hypotheses, references, target_lang)
    assert isinstance(scores, Scores) and scores.n == len(pairs)
    # The command line prints 6 decimals: equal up to that rounding.
    assert scores.bleu == pytest.approx(expected["BLEU"][0], abs=1e-6)
    assert scores.chrf == pytest.approx(expected["chrF2"][0], abs=1e-6)
    assert 0 < scores.bleu < 100 and 0 < scores.chrf < 100    # the test data is not trivial
    assert scores.bleu_signature == expected["BLEU"][1]
    assert scores.chrf_signature == expected["chrF2"][1]


def test_signatures_name_the_settings():
    english = score_translations(["I have an apple."], ["I have an apple."], "en")
    chinese = score_translations(["我有苹果。"], ["我有苹果。"], "zh")
    assert english.bleu == pytest.approx(100) and english.chrf == pytest.approx(100)
    for scores, tokenizer in ((english, "tok:13a"), (chinese, "tok:zh")):
        assert tokenizer in scores.bleu_signature.split("|")
        for signature in (scores.bleu_signature, scores.chrf_signature):
            assert "nrefs:1" in signature.split("|")
            assert f"version:{sacrebleu.__version__}" in signature
    for setting in ("nc:6", "nw:0"):             # chrF2's defaults: characters up to 6, no words
        assert setting in english.chrf_signature.split("|")


def test_corpus_bleu_keeps_its_figures():
    """corpus_bleu (the training loop's dev BLEU) is sacrebleu.corpus_bleu with the tokenizer
    chosen by the references' language, as before it delegated to evaluation.py."""
    for pairs, tokenizer in ((ENGLISH, "13a"), (CHINESE, "zh")):
        hypotheses, references = [h for h, _ in pairs], [r for _, r in pairs]
        expected = sacrebleu.corpus_bleu(hypotheses, [references], tokenize=tokenizer).score
        assert corpus_bleu(hypotheses, references) == pytest.approx(expected, abs=1e-9)
        assert corpus_bleu(iter(hypotheses), tuple(references)) == pytest.approx(expected, abs=1e-9)


def test_unpaired_or_empty_input_is_a_clear_error():
    with pytest.raises(ValueError, match=r"^score_translations: 2 hypotheses but 3 references"):
        score_translations(["a", "b"], ["a", "b", "c"], "en")
    with pytest.raises(ValueError, match=r"^score_translations: no sentences to score"):
        score_translations([], [], "zh")
    with pytest.raises(ValueError, match=r"hypotheses\[0\] is a list, not a string"):
        score_translations([["I", "have"]], ["I have"], "en")
    with pytest.raises(ValueError, match=r"target_lang must be one of \['en', 'zh'\], got 'fr'"):
        score_translations(["a"], ["a"], "fr")
    with pytest.raises(ValueError, match=r"1 hypotheses but 2 references"):
        corpus_bleu(["a"], ["a", "b"])


def test_scores_print_as_one_line_and_the_signatures_below():
    scores = Scores(bleu=31.24, chrf=52.0, bleu_signature="nrefs:1|tok:13a",
                    chrf_signature="nrefs:1|nc:6", n=3)
    assert str(scores).splitlines() == ["BLEU 31.2  chrF 52.0",
                                        "  BLEU signature: nrefs:1|tok:13a",
                                        "  chrF signature: nrefs:1|nc:6"]
    assert scores.format() == str(scores)


def test_samples_are_one_block_per_sentence():
    sources = [f"源{i}" for i in range(12)]
    text = format_samples(sources, [f"hyp {i}" for i in range(12)],
                          [f"ref {i}" for i in range(12)], limit=10)
    lines = text.splitlines()
    assert len(lines) == 30
    assert lines[:3] == ["   1  source       源0", "      translation  hyp 0",
                         "      reference    ref 0"]
    assert lines[-3] == "  10  source       源9"
    assert len(format_samples(sources, sources, sources, limit=None).splitlines()) == 36


# -- translate.py --test -----------------------------------------------------------------
@pytest.fixture(scope="module")
def translate():
    return load_example("translate")


@pytest.fixture(scope="module")
def untrained_checkpoint(tmp_path_factory):
    """A small untrained zh -> en translator, saved, and 12 test pairs (zh, en)."""
    splits = builtin_splits(0)
    tt.manual_seed(0)
    src = Vocab.build([tokenize(zh, "zh") for zh, _ in splits["train"][:300]])
    tgt = Vocab.build([tokenize(en, "en") for _, en in splits["train"][:300]])
    model = Transformer(len(src), len(tgt), d_model=16, n_heads=2, n_layers=1, d_ff=32,
                        max_len=40)
    translator = Translator(model, src, tgt, "zh", "en")
    path = tmp_path_factory.mktemp("model") / "model.npz"
    translator.save(path)
    return translator, path, splits["test"][:12]


def write_tatoeba(path, pairs):
    """(zh, en) pairs as English<TAB>Chinese<TAB>attribution lines."""
    path.write_text("".join(f"{en}\t{zh}\tCC-BY 2.0 (France)\n" for zh, en in pairs),
                    encoding="utf-8")


def printed_scores(stdout, name):
    """(bleu, chrf, bleu signature, chrf signature) of the block headed `name:`."""
    match = re.search(rf"^{name}:\nBLEU (\d+\.\d)  chrF (\d+\.\d)\n  BLEU signature: (\S+)\n"
                      r"  chrF signature: (\S+)$", stdout, re.MULTILINE)
    assert match, stdout
    return float(match[1]), float(match[2]), match[3], match[4]


def test_translate_test_prints_the_scores_of_greedy_and_beam(untrained_checkpoint, tmp_path,
                                                             run_python):
    translator, path, pairs = untrained_checkpoint
    # Half of the references are the model's own greedy output, so that the scores are
    # neither 0 nor 100 and a wrong pairing of translations and references would show.
    greedy = translator.translate([zh for zh, _ in pairs])
    pairs = [(zh, out if i % 2 == 0 and out.strip() else en)
             for i, ((zh, en), out) in enumerate(zip(pairs, greedy))]
    test_file = tmp_path / "test.tsv"
    write_tatoeba(test_file, pairs)
    result = run_python(["examples/translate.py", "--checkpoint", path, "--test", test_file,
                         "--beam", "2"], timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.startswith(f"{test_file}: 12 sentence pairs, zh -> en\n")

    sources, references = zip(*read_tsv(test_file, "zh", "en"))
    for name, beam in (("greedy", 1), ("beam 2", 2)):
        expected = score_translations(translator.translate(sources, beam), references, "en")
        bleu, chrf, bleu_signature, chrf_signature = printed_scores(result.stdout, name)
        assert bleu == round(expected.bleu, 1) and chrf == round(expected.chrf, 1), name
        assert (bleu_signature, chrf_signature) == (expected.bleu_signature,
                                                    expected.chrf_signature)
    assert 0 < printed_scores(result.stdout, "greedy")[0] < 100
    samples = result.stdout.split("the first 10 translations (beam 2) and their references:\n")
    assert len(samples) == 2
    assert samples[1].splitlines()[0] == f"   1  source       {sources[0]}"
    assert samples[1].splitlines()[2] == f"      reference    {references[0]}"
    assert len(samples[1].splitlines()) == 30


def test_translate_test_beams_4_unless_told(translate, untrained_checkpoint, tmp_path, capsys):
    _, path, pairs = untrained_checkpoint
    write_tatoeba(tmp_path / "test.tsv", pairs[:3])
    assert translate.main(["--checkpoint", str(path), "--test", str(tmp_path / "test.tsv")]) == 0
    out = capsys.readouterr().out
    assert "\ngreedy:\nBLEU " in out and "\nbeam 4:\nBLEU " in out
    assert translate.main(["--checkpoint", str(path), "--test", str(tmp_path / "test.tsv"),
                           "--beam", "1"]) == 0
    out = capsys.readouterr().out
    assert "\ngreedy:\nBLEU " in out and "\nbeam" not in out


def test_translate_test_file_problems_are_one_line(translate, untrained_checkpoint, tmp_path,
                                                   capsys):
    _, path, _ = untrained_checkpoint
    (tmp_path / "empty.tsv").write_text("\n\n", encoding="utf-8")
    (tmp_path / "one-column.tsv").write_text("only English here\n", encoding="utf-8")
    cases = {
        tmp_path / "missing.tsv": f"translate.py: --test {tmp_path / 'missing.tsv'}: "
                                  "No such file or directory",
        tmp_path: f"translate.py: --test {tmp_path}: Is a directory",
        tmp_path / "empty.tsv": f"translate.py: --test {tmp_path / 'empty.tsv'} holds no sentence "
                                "pairs (expected UTF-8 lines English<TAB>Chinese)",
    }
    for test_file, message in cases.items():
        assert translate.main(["--checkpoint", str(path), "--test", str(test_file)]) == 1
        captured = capsys.readouterr()
        assert captured.err.splitlines() == [message] and captured.out == "", test_file
    # A malformed line is a warning line; a file of only those then holds no pairs.
    assert translate.main(["--checkpoint", str(path), "--test",
                           str(tmp_path / "one-column.tsv")]) == 1
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 2 and errors[0].startswith("translate.py: warning: read_tsv: skipped 1 ")
    assert errors[1].endswith("holds no sentence pairs (expected UTF-8 lines English<TAB>Chinese)")
    assert translate.main(["--checkpoint", str(path), "--test", str(tmp_path / "empty.tsv"),
                           "我有苹果。"]) == 1
    assert capsys.readouterr().err == ("translate.py: --test scores a file; give it no sentences "
                                       "to translate\n")


def test_translate_test_missing_file_in_a_process(untrained_checkpoint, tmp_path, run_python):
    _, path, _ = untrained_checkpoint
    result = run_python(["examples/translate.py", "--checkpoint", path, "--test",
                         tmp_path / "missing.tsv"], timeout=120)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"translate.py: --test {tmp_path / 'missing.tsv'}: "
                                          "No such file or directory"]
    assert "Traceback" not in result.stderr + result.stdout
