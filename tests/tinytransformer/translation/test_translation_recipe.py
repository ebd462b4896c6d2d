"""The Tatoeba recipe's pieces: examples/split_pairs.py and train_translate.py --preset."""
import pytest

from tinytransformer.translation import read_tsv
from translation_processes import load_example


@pytest.fixture(scope="module")
def split_pairs():
    return load_example("split_pairs")


@pytest.fixture(scope="module")
def train_translate():
    return load_example("train_translate")


def write_pairs(path, pairs):
    path.write_text("".join(f"{en}\t{zh}\tCC-BY 2.0 (France) #{i}\n"
                            for i, (en, zh) in enumerate(pairs)), encoding="utf-8")


PAIRS = [(f"Sentence {i} translation {k}.", f"句子{i}。") for i in range(40) for k in range(1 + i % 3)]


def test_split_keeps_every_line_once_and_each_chinese_sentence_on_one_side(split_pairs, tmp_path):
    source = tmp_path / "dev.tsv"
    write_pairs(source, PAIRS)
    first, second = tmp_path / "out" / "a.tsv", tmp_path / "out" / "b.tsv"
    assert split_pairs.main([str(source), str(first), str(second)]) == 0
    lines = source.read_text(encoding="utf-8").splitlines()
    a = first.read_text(encoding="utf-8").splitlines()
    b = second.read_text(encoding="utf-8").splitlines()
    assert sorted(a + b) == sorted(lines)                          # verbatim, none lost
    assert [line for line in lines if line in a] == a               # the input's order
    chinese_a = {line.split("\t")[1] for line in a}
    chinese_b = {line.split("\t")[1] for line in b}
    assert not chinese_a & chinese_b
    assert len(chinese_b) == 20 and len(chinese_a) == 20            # --fraction 0.5 of 40
    assert len(read_tsv(second)) == len(b)                          # still the Tatoeba format
    # The same split from shuffled input: it depends on the set of sentences and the seed.
    shuffled = tmp_path / "shuffled.tsv"
    shuffled.write_text("\n".join(reversed(lines)) + "\n", encoding="utf-8")
    again = tmp_path / "again.tsv", tmp_path / "again2.tsv"
    assert split_pairs.main([str(shuffled), str(again[0]), str(again[1])]) == 0
    assert {line.split("\t")[1] for line in again[1].read_text(encoding="utf-8").splitlines()} \
        == chinese_b


def test_split_never_writes_over_a_file_and_reports_in_one_line(split_pairs, tmp_path, capsys):
    source = tmp_path / "dev.tsv"
    write_pairs(source, PAIRS)
    first, second = tmp_path / "a.tsv", tmp_path / "b.tsv"
    second.write_text("keep me\n")
    assert split_pairs.main([str(source), str(first), str(second)]) == 1
    assert capsys.readouterr().err.strip() == \
        f"split_pairs.py: {second} exists already: choose another name, or --overwrite"
    assert second.read_text() == "keep me\n" and not first.exists()
    assert split_pairs.main([str(source), str(first), str(second), "--overwrite"]) == 0
    assert second.read_text() != "keep me\n"
    capsys.readouterr()
    for argv, message in (
            ([str(tmp_path / "missing.tsv"), str(tmp_path / "x"), str(tmp_path / "y")],
             "No such file or directory"),
            ([str(source), str(first), str(first), "--overwrite"], "three different files"),
            ([str(source), str(first), str(second), "--fraction", "1.5"], "between 0 and 1")):
        assert split_pairs.main(argv) == 1
        error = capsys.readouterr().err.strip()
        assert len(error.splitlines()) == 1 and message in error, error


def test_preset_sets_the_recipe_and_explicit_options_win(train_translate):
    args = train_translate.parse_args(["--preset", "tatoeba", "--data", "train.tsv"])
    assert (args.d_model, args.n_heads, args.n_layers, args.d_ff) == (256, 4, 3, 1024)
    assert (args.tokenizer, args.average, args.keep_checkpoints, args.time_limit) == \
        ("sentencepiece-en", 3, 3, 52.0)
    args = train_translate.parse_args(["--preset", "tatoeba", "--data", "train.tsv",
                                       "--dropout", "0.3", "--time-limit", "5",
                                       "--tokenizer", "words"])
    assert (args.dropout, args.time_limit, args.tokenizer, args.d_model) == (0.3, 5.0, "words", 256)
    # Without a preset: words for the built-in corpus, subwords for --data.
    assert train_translate.parse_args([]).tokenizer == "words"
    assert train_translate.parse_args(["--data", "x.tsv"]).tokenizer == "sentencepiece-en"
    assert train_translate.parse_args(["--average", "4"]).keep_checkpoints == 4


def test_preset_needs_data(train_translate, capsys):
    with pytest.raises(SystemExit) as stop:
        train_translate.parse_args(["--preset", "tatoeba"])
    assert stop.value.code == 2
    assert "--preset tatoeba trains on your pairs: give --data" in capsys.readouterr().err
