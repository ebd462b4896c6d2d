"""The word2vec text and binary formats, against files written by hand (and
gensim's, where gensim is installed)."""
import os
import struct

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from tinytransformer.word2vec import KeyedVectors

try:
    import gensim
    from gensim.models import KeyedVectors as GensimKeyedVectors
    GENSIM_DATA = os.path.join(os.path.dirname(gensim.__file__), "test", "test_data")
except ImportError:  # gensim is only used to compare with, never required
    gensim = None

needs_gensim = pytest.mark.skipif(gensim is None, reason="gensim is not installed")


# ----------------------------------------------------------------------------------------
# The word2vec file formats
# ----------------------------------------------------------------------------------------
HAND_VECTORS = np.array([[0.5, -1.25, 2.0], [0.0, 0.001, -3.5]], dtype=np.float32)
HAND_WORDS = ["hello", "wörld"]


def test_text_format_matches_a_file_written_by_hand_and_round_trips(tmp_path):
    path = tmp_path / "vectors.txt"
    KeyedVectors(HAND_VECTORS, HAND_WORDS).save_word2vec_format(path)
    assert path.read_bytes() == "2 3\nhello 0.5 -1.25 2.0\nwörld 0.0 0.001 -3.5\n".encode()
    rng = np.random.default_rng(0)
    vectors = (rng.standard_normal((50, 7)) * 10.0 ** rng.integers(-8, 8, (50, 7))).astype(np.float32)
    words = [f"w{i}" for i in range(48)] + ["ünïcode", "x"]
    KeyedVectors(vectors, words).save_word2vec_format(path)
    back = KeyedVectors.load_word2vec_format(path)
    assert back.index_to_key == words
    assert_array_equal(back.vectors, vectors)           # exactly: the shortest repr round-trips
    assert KeyedVectors.load_word2vec_format(path, limit=3).index_to_key == words[:3]


def test_binary_format_matches_a_file_written_by_hand_and_round_trips(tmp_path):
    path = tmp_path / "vectors.bin"
    KeyedVectors(HAND_VECTORS, HAND_WORDS).save_word2vec_format(path, binary=True)
    expected = (b"2 3\n" + b"hello " + struct.pack("<3f", 0.5, -1.25, 2.0) + b"\n"
                + "wörld ".encode() + struct.pack("<3f", 0.0, 0.001, -3.5) + b"\n")
    assert path.read_bytes() == expected
    back = KeyedVectors.load_word2vec_format(path, binary=True)
    assert back.index_to_key == HAND_WORDS
    assert_array_equal(back.vectors, HAND_VECTORS)
    # without the newline after each vector (as gensim writes it), and a vector whose
    # bytes contain spaces and newlines
    tricky = np.frombuffer(b"\n \n  \n\n \n\n  ", dtype="<f4").reshape(1, 3)
    path.write_bytes(b"2 3\n" + b"a " + tricky.tobytes() + b"b " + HAND_VECTORS[0].tobytes())
    back = KeyedVectors.load_word2vec_format(path, binary=True)
    assert back.index_to_key == ["a", "b"]
    assert_array_equal(back.vectors, np.concatenate([tricky, HAND_VECTORS[:1]]))


def test_formats_refuse_broken_files(tmp_path):
    path = tmp_path / "broken.txt"
    path.write_text("3 2\na 1 2\nb 3 4\n")
    with pytest.raises(EOFError):
        KeyedVectors.load_word2vec_format(path)
    path.write_text("1 2\na 1 2 3\n")
    with pytest.raises(ValueError, match="expected a word and 2 values"):
        KeyedVectors.load_word2vec_format(path)
    path.write_bytes(b"2 2\na " + struct.pack("<2f", 1, 2))
    with pytest.raises(EOFError):
        KeyedVectors.load_word2vec_format(path, binary=True)
    with pytest.raises(ValueError, match="whitespace"):
        KeyedVectors(np.zeros((1, 2)), ["two words"]).save_word2vec_format(tmp_path / "x.txt")


@needs_gensim
@pytest.mark.parametrize("binary", [False, True])
def test_gensim_reads_our_files_and_we_read_gensims(tmp_path, binary):
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((30, 5)).astype(np.float32)
    words = [f"wörd{i}" for i in range(30)]
    ours_path, their_path = tmp_path / "ours", tmp_path / "theirs"
    KeyedVectors(vectors, words).save_word2vec_format(ours_path, binary=binary)
    theirs = GensimKeyedVectors.load_word2vec_format(ours_path, binary=binary)
    assert theirs.index_to_key == words
    assert_array_equal(theirs.vectors, vectors)
    theirs.save_word2vec_format(their_path, binary=binary)
    back = KeyedVectors.load_word2vec_format(their_path, binary=binary)
    assert back.index_to_key == words
    assert_array_equal(back.vectors, vectors)
