"""The shared vocabulary and padding helper (tinytransformer.data)."""
import numpy as np
import pytest

from tinytransformer.data import BOS, EOS, PAD, SPECIAL_TOKENS, UNK, Vocab, pad_sequences


def test_specials_come_first_then_most_frequent_with_first_seen_ties():
    vocab = Vocab.build([["b", "a", "c"], ["a", "d"]])
    assert vocab.itos == list(SPECIAL_TOKENS) + ["a", "b", "c", "d"]
    assert vocab.counts.tolist() == [0, 0, 0, 0, 2, 1, 1, 1]
    assert vocab.total == 5
    assert (PAD, UNK, BOS, EOS) == (0, 1, 2, 3)


def test_min_freq_and_max_size_cut_rare_tokens():
    lists = [["x"] * 3 + ["y"] * 2 + ["z"]]
    assert Vocab.build(lists, min_freq=2).itos[4:] == ["x", "y"]
    assert Vocab.build(lists, max_size=5).itos[4:] == ["x"]
    with pytest.raises(ValueError, match="min_freq"):
        Vocab.build(lists, min_freq=0)


def test_unknown_tokens_encode_to_unk_or_minus_one_without_specials():
    with_specials = Vocab.build([["我", "有", "苹果"]])
    assert with_specials.encode(["我", "猫"]) == [with_specials.stoi["我"], UNK]
    bare = Vocab.build([["the", "cat", "the"]], specials=())
    assert bare.itos == ["the", "cat"]
    assert bare.encode(["cat", "dog"]) == [1, -1]
    array = bare.encode_array(["the", "dog", "cat"])
    assert array.dtype == np.int32 and array.tolist() == [0, -1, 1]


def test_decode_stops_at_end_and_drops_pad_and_start():
    vocab = Vocab.build([["a", "b"]])
    a, b = vocab.stoi["a"], vocab.stoi["b"]
    assert vocab.decode([BOS, a, PAD, b, EOS, a]) == ["a", "b"]
    assert vocab.decode([BOS, a, EOS], strip_special=False) == ["<s>", "a", "</s>"]


def test_dict_round_trip_and_old_form():
    vocab = Vocab.build([["a", "b", "a"]])
    again = Vocab.from_dict(vocab.to_dict())
    assert again == vocab and again.counts.tolist() == vocab.counts.tolist()
    old = Vocab.from_dict({"tokens": list(SPECIAL_TOKENS) + ["a"]})
    assert old.encode(["a", "q"]) == [4, UNK]
    with pytest.raises(ValueError, match="specials"):
        Vocab.from_dict({"tokens": ["a", "b"]})
    with pytest.raises(ValueError, match="duplicate"):
        Vocab.from_dict({"tokens": list(SPECIAL_TOKENS) + ["a", "a"]})
    with pytest.raises(TypeError, match="tokenize"):
        Vocab.build(["a string"])


def test_pad_sequences():
    out = pad_sequences([[5, 6, 7], [8]], pad_id=0)
    assert out.dtype == np.int64 and out.tolist() == [[5, 6, 7], [8, 0, 0]]
    assert pad_sequences([[1]], pad_id=9, length=3).tolist() == [[1, 9, 9]]
    with pytest.raises(ValueError, match="more than length"):
        pad_sequences([[1, 2, 3]], length=2)
    with pytest.raises(ValueError, match="no rows"):
        pad_sequences([])
