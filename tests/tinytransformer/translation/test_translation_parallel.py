"""Tests of TSV reading, splitting and batching (tinytransformer.translation.parallel)."""

import warnings

import numpy as np
import pytest

from tinytransformer.data import BOS, EOS, PAD
from tinytransformer.translation.parallel import make_batches, read_tsv, train_dev_split


# ------------------------------------------------------------------------------ read_tsv

def _write(tmp_path, text, name="pairs.tsv"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def test_read_tsv_with_bom_and_both_directions(tmp_path):
    path = _write(tmp_path, "\ufeffHi.\t嗨。\tCC-BY 2.0 (France) Attribution: tatoeba.org\n"
                            "Run!\t你用跑的。\n")
    assert read_tsv(path) == [("嗨。", "Hi."), ("你用跑的。", "Run!")]
    assert read_tsv(path, src="en", tgt="zh") == [("Hi.", "嗨。"), ("Run!", "你用跑的。")]
    with pytest.raises(ValueError):
        read_tsv(path, src="zh", tgt="zh")


def test_read_tsv_skips_malformed_lines_with_one_warning(tmp_path):
    path = _write(tmp_path, "Hi.\t嗨。\n"
                            "no tab here\n"          # line 2: one column
                            "\t空的英语\n"           # line 3: empty English
                            "Wait!\t等等！\tattr\n"
                            "\n"                    # blank: ignored, not counted
                            "Empty Chinese\t \n")    # line 6: empty Chinese
    with pytest.warns(UserWarning, match=r"skipped 3 malformed line.*first at line 2"):
        pairs = read_tsv(path)
    assert pairs == [("嗨。", "Hi."), ("等等！", "Wait!")]


def test_read_tsv_clean_file_gives_no_warning(tmp_path):
    path = _write(tmp_path, "Hi.\t嗨。\r\nThanks.\t谢谢。\r\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_tsv(path) == [("嗨。", "Hi."), ("谢谢。", "Thanks.")]


def test_read_tsv_survives_invalid_utf8(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_bytes("Hi.\t嗨。\n".encode() + b"Bad \xff\t\xfe\n" + "Go.\t走。\n".encode())
    with pytest.warns(UserWarning, match="skipped 1 .*line 2"):
        assert read_tsv(path) == [("嗨。", "Hi."), ("走。", "Go.")]


def test_train_dev_split_keeps_sources_apart():
    pairs = [(f"句子{i % 40}", f"sentence {i}") for i in range(100)]   # repeated sources
    train, dev = train_dev_split(pairs, dev_fraction=0.25, seed=3)
    assert sorted(train + dev) == sorted(pairs)
    assert not {s for s, _ in train} & {s for s, _ in dev}
    assert len({s for s, _ in dev}) == 10
    assert train_dev_split(pairs, dev_fraction=0.25, seed=3) == (train, dev)
    assert train_dev_split(pairs, dev_fraction=0.25, seed=4) != (train, dev)


# ------------------------------------------------------------------------------ make_batches

def _random_pairs(n, seed=0):
    rng = np.random.default_rng(seed)
    src = [rng.integers(4, 50, size=rng.integers(1, 15)).tolist() for _ in range(n)]
    tgt = [rng.integers(4, 50, size=rng.integers(1, 15)).tolist() for _ in range(n)]
    return src, tgt


def _strip(row):
    return [int(t) for t in row if t != PAD]


def test_make_batches_padding_specials_and_shapes():
    src = [[5, 6, 7], [8]]
    tgt = [[9], [10, 11, 12, 13]]
    [(s, t)] = make_batches(src, tgt, max_tokens=100, shuffle=False)
    assert s.dtype == np.int64 and t.dtype == np.int64
    assert s.tolist() == [[8, EOS, PAD, PAD], [5, 6, 7, EOS]]
    assert t.tolist() == [[BOS, 10, 11, 12, 13, EOS], [BOS, 9, EOS, PAD, PAD, PAD]]


def test_make_batches_every_pair_exactly_once_within_budget():
    src, tgt = _random_pairs(300)
    batches = make_batches(src, tgt, max_tokens=120, shuffle=True, seed=1)
    seen = []
    for s, t in batches:
        assert s.shape[0] == t.shape[0]
        assert s.shape[0] * max(s.shape[1], t.shape[1]) <= 120
        for s_row, t_row in zip(s, t):
            s_row, t_row = _strip(s_row), _strip(t_row)
            assert s_row[-1] == EOS and t_row[0] == BOS and t_row[-1] == EOS
            seen.append((tuple(s_row[:-1]), tuple(t_row[1:-1])))
    assert sorted(seen) == sorted(zip(map(tuple, src), map(tuple, tgt)))


def test_make_batches_groups_similar_lengths_and_shuffles_deterministically():
    src, tgt = _random_pairs(300, seed=2)
    batches = make_batches(src, tgt, max_tokens=200, shuffle=False)
    widths = [s.shape[1] for s, _ in batches]
    assert widths == sorted(widths)                 # unshuffled: in length order
    padding = sum(int((s == PAD).sum()) for s, _ in batches)
    assert padding < 0.1 * sum(s.size for s, _ in batches)

    def summary(bs):
        return [(s.tolist(), t.tolist()) for s, t in bs]
    a = make_batches(src, tgt, max_tokens=200, shuffle=True, seed=5)
    assert summary(a) == summary(make_batches(src, tgt, 200, shuffle=True, seed=5))
    assert summary(a) != summary(make_batches(src, tgt, 200, shuffle=True, seed=6))
    rng_batches = make_batches(src, tgt, 200, rng=np.random.default_rng(5))
    assert summary(rng_batches) == summary(a)


def test_make_batches_long_pair_gets_its_own_batch_and_errors():
    batches = make_batches([[4] * 30, [5]], [[6], [7]], max_tokens=10, shuffle=False)
    assert [s.shape for s, _ in batches] == [(1, 2), (1, 31)]
    assert make_batches([], [], max_tokens=10) == []
    with pytest.raises(ValueError):
        make_batches([[4]], [], max_tokens=10)
