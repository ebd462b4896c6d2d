"""Padding: rows of different lengths into one rectangular id array."""
import numpy as np

__all__ = ["pad_sequences"]


def pad_sequences(rows, pad_id=0, length=None, dtype=np.int64):
    """A (len(rows), length) array: each row's ids, then `pad_id` up to `length`
    (default: the longest row). A row longer than `length` is an error, never
    silently cut."""
    rows = [list(row) for row in rows]
    if not rows:
        raise ValueError("pad_sequences: no rows to pad")
    longest = max(len(row) for row in rows)
    length = longest if length is None else length
    if longest > length:
        raise ValueError(f"pad_sequences: a row has {longest} ids, more than length={length}")
    out = np.full((len(rows), length), pad_id, dtype=dtype)
    for i, row in enumerate(rows):
        out[i, :len(row)] = row
    return out
