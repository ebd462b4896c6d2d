"""The C word2vec file formats (word2vec.c's and gensim's save_word2vec_format):
a header "V D", then one word per line with its D values, as text
("word 0.1 -0.25 ...") or binary ("word " + D little-endian float32 + "\\n")."""
import io

import numpy as np

from ..utils import atomic_write

__all__ = ["save_word2vec_format", "load_word2vec_format"]


def save_word2vec_format(path, keys, vectors, binary=False):
    """Write `keys` and their rows of `vectors` to `path`, atomically."""
    vectors = np.asarray(vectors, dtype=np.float32)
    _check_keys(keys)

    def write(f):
        f.write(f"{len(keys)} {vectors.shape[1]}\n".encode("utf-8"))
        if binary:
            data = vectors.astype("<f4")
            for key, row in zip(keys, data):
                f.write(key.encode("utf-8") + b" " + row.tobytes() + b"\n")
        else:
            buffer = io.StringIO()
            for key, row in zip(keys, vectors):
                buffer.write(key + " " + " ".join(map(str, row)) + "\n")
                if buffer.tell() > 1 << 20:
                    f.write(buffer.getvalue().encode("utf-8"))
                    buffer = io.StringIO()
            f.write(buffer.getvalue().encode("utf-8"))

    atomic_write(path, write)


def load_word2vec_format(path, binary=False, limit=None, encoding="utf-8"):
    """(keys, (V, D) float32 vectors) of a file in the word2vec format, text or
    binary, e.g. one written by gensim or word2vec.c. A repeated word keeps its
    first vector; `limit` reads only the first that many vectors."""
    with open(path, "rb") as f:
        header = f.readline().decode(encoding).split()
        if len(header) != 2:
            raise ValueError(f"{path}: the first line must be 'V D' (vocabulary size, "
                             f"dimension), got {' '.join(header)!r}")
        count, dim = int(header[0]), int(header[1])
        if limit is not None:
            count = min(count, int(limit))
        keys, vectors = [], np.empty((count, dim), dtype=np.float32)
        if binary:
            reader = _BinaryRows(f, dim)
            for i in range(count):
                key, row = reader.next_row(path, i)
                keys.append(key.decode(encoding))
                vectors[i] = row
        else:
            for i in range(count):
                line = f.readline()
                if not line:
                    raise EOFError(f"{path}: the header announces {count} vectors but the "
                                   f"file ends after {i}")
                parts = line.decode(encoding).rstrip().split(" ")
                if len(parts) != dim + 1:
                    raise ValueError(f"{path}, line {i + 2}: expected a word and {dim} "
                                     f"values, got {len(parts) - 1} values")
                keys.append(parts[0])
                vectors[i] = np.array(parts[1:], dtype=np.float32)
    seen, keep = set(), []
    for i, key in enumerate(keys):
        if key not in seen:
            seen.add(key)
            keep.append(i)
    if len(keep) != len(keys):
        keys, vectors = [keys[i] for i in keep], vectors[keep]
    return keys, vectors


def _check_keys(keys):
    for key in keys:
        if not key or any(ch.isspace() for ch in key):
            raise ValueError(f"save_word2vec_format: the word {key!r} is empty or contains "
                             "whitespace, which the format cannot store")


class _BinaryRows:
    """Reads "word " + D float32 (+ an optional "\\n") records from a binary file."""

    def __init__(self, f, dim, chunk=1 << 20):
        self.f, self.size, self.chunk = f, 4 * dim, chunk
        self.dim, self.buffer, self.pos = dim, b"", 0

    def _fill(self):
        more = self.f.read(self.chunk)
        self.buffer = self.buffer[self.pos:] + more
        self.pos = 0
        return bool(more)

    def next_row(self, path, i):
        while True:
            space = self.buffer.find(b" ", self.pos)
            if space != -1 and len(self.buffer) - space - 1 >= self.size:
                break
            if not self._fill():
                raise EOFError(f"{path}: the file ends inside vector {i} (is the header's "
                               "count right? is it really a binary file?)")
        key = self.buffer[self.pos:space].lstrip(b"\n")  # word2vec.c puts "\n" after a vector
        row = np.frombuffer(self.buffer, dtype="<f4", count=self.dim, offset=space + 1)
        self.pos = space + 1 + self.size
        return key, row
