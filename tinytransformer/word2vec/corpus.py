"""Reading a corpus: one sentence per line, streamed, so memory stays bounded
however large the file (text8 is one line of 17M words)."""
import os

__all__ = ["MAX_SENTENCE_LENGTH", "read_corpus_file", "LineSentences", "checked_sentences"]

MAX_SENTENCE_LENGTH = 10000   # as gensim: longer lines are cut into sentences this long

_WHITESPACE = (b" ", b"\n", b"\t", b"\r", b"\f", b"\v")


def read_corpus_file(path, max_sentence_length=MAX_SENTENCE_LENGTH, chunk_bytes=1 << 20):
    """Yield the sentences of a plain-text UTF-8 file as lists of words.

    One line is one sentence; words are separated by whitespace. The file is
    read `chunk_bytes` at a time and a line longer than `max_sentence_length`
    words comes out in pieces of that many words. A byte that is not UTF-8 is
    an error naming the file and the byte's offset in it.
    """
    if max_sentence_length < 1:
        raise ValueError(f"max_sentence_length must be >= 1, got {max_sentence_length}")
    line = []       # the words of the current line not yet yielded
    pending = []    # blocks after the last whitespace seen: the start of an unfinished word
    offset = 0      # where in the file the text being decoded starts
    with open(path, "rb") as f:
        while True:
            block = f.read(chunk_bytes)
            if block:
                # Cut after the last whitespace byte, so no word (and no UTF-8 character:
                # whitespace bytes never occur inside one) is split. Only the new block is
                # searched, so a file without whitespace is read in linear time.
                cut = max(block.rfind(w) for w in _WHITESPACE) + 1
                if cut == 0:
                    pending.append(block)
                    continue
                data, rest = b"".join(pending) + block[:cut], block[cut:]
                pending = [rest] if rest else []
            else:
                data, pending = b"".join(pending), []
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as error:
                raise UnicodeDecodeError(
                    error.encoding, error.object, error.start, error.end,
                    f"{error.reason} in {os.fspath(path)!r} at byte {offset + error.start} "
                    "(the corpus must be UTF-8 text)") from None
            offset += len(data)
            pieces = text.split("\n")
            for i, piece in enumerate(pieces):
                line.extend(piece.split())
                ended = i < len(pieces) - 1 or not block  # the last piece may go on
                while len(line) >= max_sentence_length:
                    yield line[:max_sentence_length]
                    line = line[max_sentence_length:]
                if ended and line:
                    yield line
                    line = []
            if not block:
                return


class LineSentences:
    """A corpus file as a re-iterable sequence of sentences (lists of words),
    for every epoch: `Word2Vec(LineSentences("text8"))` is the same as
    `Word2Vec(corpus_file="text8")`."""

    def __init__(self, path, max_sentence_length=MAX_SENTENCE_LENGTH):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"LineSentences: no such file: {path}")
        self.path, self.max_sentence_length = os.fspath(path), max_sentence_length

    def __iter__(self):
        return read_corpus_file(self.path, self.max_sentence_length)

    def __repr__(self):
        return f"LineSentences({self.path!r})"


def checked_sentences(sentences, what):
    """Iterate `sentences`, refusing a plain string where a list of words belongs."""
    for sentence in sentences:
        if isinstance(sentence, (str, bytes)):
            raise TypeError(f"{what}: each sentence must be a list of words, got a "
                            f"{type(sentence).__name__} ({sentence[:40]!r}); split it first")
        yield sentence
