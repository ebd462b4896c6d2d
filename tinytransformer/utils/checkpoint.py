"""Saving and loading training checkpoints, and writing any file atomically.

A checkpoint is ONE .npz file (a zip of NumPy arrays, readable without this
library) holding:

    model.<dotted name>         every parameter, e.g. model.layers.0.linear1.weight
    optim.state.<i>.<name>      the optimizer's state for parameter number i
                                (e.g. optim.state.3.exp_avg, optim.state.3.step)
    meta                        UTF-8 JSON, as a uint8 array: the format tag, `config`
                                (what is needed to rebuild the model), `extra`
                                (vocabularies, step, RNG state...), and the
                                optimizer's type and param_groups (lr, betas, ...)

No pickled objects are stored: loading never runs code from the file.

Writes are atomic (see `atomic_write`): the file is written under a temporary
name in the same directory and renamed onto the target only once it is
complete, so a crash or a kill mid-save leaves the previous checkpoint as it
was - never a half-written one. (A kill can leave the temporary file behind, a
hidden `.<name>.*.tmp` next to the target; it is safe to delete.)
"""
import json
import os
import tempfile
import zipfile
from collections import OrderedDict

import numpy as np

__all__ = ["atomic_write", "save_checkpoint", "load_checkpoint"]

FORMAT = "tinytransformer-checkpoint"
VERSION = 1


# -- atomic writes -------------------------------------------------------------------
def atomic_write(path, write_fn, mode="wb"):
    """Write a file so that `path` holds either its old content or the complete
    new one, even if the process crashes or is killed halfway.

    `write_fn(f)` receives an open file object (binary for mode="wb", UTF-8
    text for mode="w") and writes the content. Steps:
      1. write to a new temporary file in the same directory (same file system,
         so step 3 is a rename, not a copy);
      2. flush and os.fsync it, so the data is on disk before the name is;
      3. os.replace it onto `path`, which POSIX and Windows perform atomically.
    If write_fn raises, the temporary file is removed, `path` is untouched,
    and the exception propagates.

    This is the one way files are written atomically in this project: use it
    for anything a crash must not corrupt (checkpoints, vocabularies, vectors).
    """
    if mode not in ("w", "wt", "wb"):
        raise ValueError(f"atomic_write: mode must be 'w' (text) or 'wb' (binary), got {mode!r}")
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"atomic_write: directory {directory!r} does not exist "
                                f"(cannot write {path!r})")
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as f:
            write_fn(f)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates the file readable by its owner only; give it the
        # permissions an ordinary open() would have.
        os.chmod(tmp, _permissions_for(path))
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_directory(directory)


def _permissions_for(path):
    try:
        return os.stat(path).st_mode & 0o7777  # keep an existing file's permissions
    except FileNotFoundError:
        umask = os.umask(0)  # the only way to read the umask is to set it...
        os.umask(umask)      # ...and put it straight back
        return 0o666 & ~umask


def _fsync_directory(directory):
    """Make the rename itself durable: on POSIX, the directory entry lives in
    the directory, which has to be synced too. (Windows cannot open a
    directory; its rename is durable once it returns.)"""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- checkpoints ---------------------------------------------------------------------
def _json_default(value):
    """Let NumPy numbers and arrays (e.g. a Generator's state) go into JSON."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _encode_json(obj, what):
    try:
        text = json.dumps(obj, default=_json_default)
    except (TypeError, ValueError) as error:
        raise TypeError(f"save_checkpoint: {what} must be JSON-serializable (numbers, strings, "
                        f"lists, dicts, NumPy arrays): {error}") from None
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


def _write_npz(file, arrays):
    np.savez(file, **arrays)


def save_checkpoint(path, model, optimizer=None, config=None, extra=None):
    """Save the model's parameters, the optimizer's state (optional), and the
    JSON-serializable dicts `config` and `extra` to ONE .npz file at `path`
    (written exactly there, atomically; no ".npz" is appended)."""
    arrays = OrderedDict()
    if model is not None:
        for name, value in model.state_dict().items():
            arrays[f"model.{name}"] = value
    meta = {"format": FORMAT, "version": VERSION, "config": config, "extra": extra,
            "optimizer": None}
    if optimizer is not None:
        state = optimizer.state_dict()
        for index, entries in state["state"].items():
            for key, value in entries.items():
                arrays[f"optim.state.{index}.{key}"] = np.asarray(value)
        meta["optimizer"] = {"type": type(optimizer).__name__,
                             "param_groups": state["param_groups"]}
    arrays["meta"] = _encode_json(meta, "config and extra")
    atomic_write(path, lambda f: _write_npz(f, arrays))


def load_checkpoint(path, model=None, optimizer=None, device=None):
    """Read a checkpoint written by save_checkpoint.

    Returns {"config", "extra", "model_state", "optim_state"}: model_state is
    an ordered {name: NumPy array}, optim_state what optimizer.state_dict()
    returned (or None if none was saved). If `model` is given, it is moved to
    `device` (if given) and its parameters are loaded (strictly: names and
    shapes must match); if `optimizer` is given, its state is loaded onto its
    parameters' devices - so build the optimizer on the model's parameters,
    then load.

    A file that is not a complete checkpoint raises ValueError; a missing
    file raises FileNotFoundError.
    """
    path = os.fspath(path)
    arrays = _read_arrays(path)
    meta = _read_meta(path, arrays)
    model_state = OrderedDict((name[len("model."):], value) for name, value in arrays.items()
                              if name.startswith("model."))
    optim_state = None
    if meta.get("optimizer") is not None:
        state = {}
        for name, value in arrays.items():
            if name.startswith("optim.state."):
                index, key = name[len("optim.state."):].split(".", 1)
                state.setdefault(int(index), {})[key] = value
        optim_state = {"state": state, "param_groups": meta["optimizer"]["param_groups"]}

    if model is not None:
        if device is not None:
            model.to(device)
        model.load_state_dict(model_state)
    if optimizer is not None:
        if optim_state is None:
            raise ValueError(f"load_checkpoint: {path} holds no optimizer state "
                             "(it was saved without optimizer=)")
        saved_type = meta["optimizer"]["type"]
        if saved_type != type(optimizer).__name__:
            raise ValueError(f"load_checkpoint: {path} holds {saved_type} state, which cannot be "
                             f"loaded into a {type(optimizer).__name__}")
        optimizer.load_state_dict(optim_state)
    return {"config": meta["config"], "extra": meta["extra"], "model_state": model_state,
            "optim_state": optim_state}


def _invalid(path, reason):
    return ValueError(f"{path} is not a valid tinytransformer checkpoint: {reason}")


def _read_arrays(path):
    """Every array in the file, read completely (a zip member's checksum is
    only checked once it has been read to the end)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"load_checkpoint: no such file: {path}")
    if os.path.isfile(path) and not zipfile.is_zipfile(path):
        # The zip directory sits at the END of the file: a truncated file loses it.
        raise _invalid(path, "it is not a complete .npz (zip) archive; truncated, or not a "
                             "checkpoint at all")
    try:
        with np.load(path, allow_pickle=False) as npz:
            return OrderedDict((name, npz[name]) for name in npz.files)
    except (PermissionError, IsADirectoryError):
        raise
    except Exception as error:
        # A damaged archive fails in many ways inside zipfile and NumPy
        # (BadZipFile on a checksum, EOFError, zlib.error, ValueError, ...).
        raise _invalid(path, f"{type(error).__name__}: {error}") from error


def _read_meta(path, arrays):
    if "meta" not in arrays:
        raise _invalid(path, "it has no 'meta' entry (a plain .npz file?)")
    try:
        meta = json.loads(arrays["meta"].tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise _invalid(path, f"its 'meta' entry is not JSON ({error})") from error
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise _invalid(path, "its 'meta' entry has no tinytransformer format tag")
    if meta.get("version") != VERSION:
        raise _invalid(path, f"it has format version {meta.get('version')}, this code reads "
                             f"version {VERSION}")
    return meta
