"""Saving and loading training checkpoints, and writing any file atomically.

A checkpoint is ONE .npz file (a zip of NumPy arrays, readable without this
library) holding:

    model.<dotted name>         every parameter, e.g. model.layers.0.linear1.weight
    optim.state.<i>.<name>      the optimizer's state for parameter number i
                                (e.g. optim.state.3.exp_avg, optim.state.3.step)
    blob.<name>                 opaque bytes as a uint8 array (e.g. a tokenizer model),
                                given to save_checkpoint(blobs=) and read with read_blob
    meta                        UTF-8 JSON, as a uint8 array: the format tag, `config`
                                (what is needed to rebuild the model), `extra`
                                (vocabularies, step, RNG state...), and the
                                optimizer's type and param_groups (lr, betas, ...)

No pickled objects are stored: loading never runs code from the file.

Loading is lazy and checked (see `CheckpointReader`): the zip directory and
`meta` are read first, then only the arrays the model and optimizer need, each
checked against its zip header (shape, dtype, size) before a byte of it is
read, so a damaged or hostile file costs little. Every way a file can fail to
be a usable checkpoint raises one error type, `CheckpointError` (a
ValueError), with one line saying what is wrong.

Writes are atomic (see `atomic_write`): the file is written under a temporary
name in the same directory and renamed onto the target only once it is
complete, so a crash or a kill mid-save leaves the previous checkpoint as it
was - never a half-written one. (A kill can leave the temporary file behind, a
hidden `.<name>.*.tmp` next to the target; it is safe to delete.)
"""
import json
import math
import os
import zipfile
import zlib
from collections import OrderedDict

import numpy as np

from tinytensor.files import atomic_write  # noqa: F401 - re-exported: the one atomic write

__all__ = ["atomic_write", "save_checkpoint", "load_checkpoint", "average_checkpoints",
           "CheckpointReader", "CheckpointError", "CheckpointNotFoundError"]

FORMAT = "tinytransformer-checkpoint"
VERSION = 1
MAX_META_BYTES = 1 << 28      # the JSON part: vocabularies of millions of tokens fit


class CheckpointError(ValueError):
    """A file that is not a usable checkpoint (damaged, not a checkpoint, or not
    matching the model it is loaded into); the message says which and why."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """There is no file at the path (also a FileNotFoundError)."""


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


MAX_BLOB_BYTES = 1 << 28


def save_checkpoint(path, model, optimizer=None, config=None, extra=None, blobs=None):
    """Save the model's parameters, the optimizer's state (optional), the
    JSON-serializable dicts `config` and `extra`, and `blobs` ({name: bytes},
    say a tokenizer's model) to ONE .npz file at `path` (written exactly
    there, atomically; no ".npz" is appended)."""
    arrays = OrderedDict()
    if model is not None:
        for name, value in model.state_dict().items():
            arrays[f"model.{name}"] = value
    for name, data in (blobs or {}).items():
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError(f"save_checkpoint: blob {name!r} must be bytes, got "
                            f"{type(data).__name__}")
        arrays[f"blob.{name}"] = np.frombuffer(bytes(data), dtype=np.uint8)
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
    returned (or None if none was saved; model_state is empty when only an
    optimizer is given). If `model` is given, it is moved to
    `device` (if given) and its parameters are loaded: every one must be in
    the file with its shape and a float dtype, and the file may hold no other
    model weights; if `optimizer` is given, its state is loaded onto its
    parameters' devices - so build the optimizer on the model's parameters,
    then load. Only the arrays needed are read (all model and optimizer
    arrays when neither is given, never any other).

    A file that is not a usable checkpoint raises CheckpointError (a
    ValueError); a missing file raises CheckpointNotFoundError (also a
    FileNotFoundError).
    """
    with CheckpointReader(path) as reader:
        model_state = OrderedDict()
        if model is not None or optimizer is None:
            model_state = reader.read_model_state(model)
        optim_state = None
        if reader.meta.get("optimizer") is not None and (optimizer is not None or model is None):
            optim_state = reader.read_optimizer_state(optimizer)
    if model is not None:
        if device is not None:
            model.to(device)
        model.load_state_dict(model_state)
    if optimizer is not None:
        if optim_state is None:
            raise CheckpointError(f"load_checkpoint: {path} holds no optimizer state "
                                  "(it was saved without optimizer=)")
        try:
            optimizer.load_state_dict(optim_state)
        except (ValueError, KeyError, TypeError) as error:
            raise CheckpointError(f"{path}: its optimizer state does not fit: {error}") from None
    return {"config": reader.config, "extra": reader.extra, "model_state": model_state,
            "optim_state": optim_state}


def average_checkpoints(paths, out_path, extra=None):
    """Write to `out_path` a checkpoint whose every model weight is the element-wise mean
    of that weight in the checkpoints `paths` (the standard NMT trick: the mean of the last
    few checkpoints of a run is usually better than any one of them, for free).

    All must hold the same weights (names, shapes, dtypes) and the same config; the
    config and blobs (say, a tokenizer) of the first are kept, its `extra` is replaced
    by `extra` (default: {"averaged": [the file names]}), and no optimizer state is
    written (an average is for using, not for resuming). The mean is taken in float64
    and stored in each weight's own dtype. Returns the number of weights averaged.
    """
    paths = [os.fspath(p) for p in paths]
    if not paths:
        raise ValueError("average_checkpoints: no checkpoints given")
    sums, dtypes, config, blobs = OrderedDict(), {}, None, {}
    for number, path in enumerate(paths):
        with CheckpointReader(path) as reader:
            state = reader.read_model_state()
            if number == 0:
                config = reader.config
                blobs = {name[len("blob."):]: reader.read_blob(name[len("blob."):])
                         for name in reader.names("blob.")}
                dtypes = {name: value.dtype for name, value in state.items()}
                sums = OrderedDict((name, value.astype(np.float64)) for name, value in state.items())
                continue
            if reader.config != config:
                raise CheckpointError(f"average_checkpoints: {path} has another config than "
                                      f"{paths[0]} (a different model or vocabulary)")
            if list(state) != list(sums):
                raise CheckpointError(f"average_checkpoints: {path} holds other weights than "
                                      f"{paths[0]}")
            for name, value in state.items():
                if value.shape != sums[name].shape or value.dtype != dtypes[name]:
                    raise CheckpointError(f"average_checkpoints: {path}: {name} is "
                                          f"{value.dtype} {value.shape}, in {paths[0]} "
                                          f"{dtypes[name]} {sums[name].shape}")
                sums[name] += value
    mean = OrderedDict((name, (total / len(paths)).astype(dtypes[name]))
                       for name, total in sums.items())

    class _State:                 # what save_checkpoint asks of a model: its state_dict()
        def state_dict(self):
            return mean

    extra = {"averaged": [os.path.basename(p) for p in paths]} if extra is None else extra
    save_checkpoint(out_path, _State(), None, config, extra, blobs)
    return len(mean)


class CheckpointReader:
    """A checkpoint opened for lazy, checked reading.

        with CheckpointReader("best.npz") as ckpt:
            ckpt.config                        # from `meta`, read at once
            ckpt.read("model.output_bias", shape=(100,), float_only=True)

    Opening reads the zip directory and `meta` only. `read` looks at an
    array's .npy header and at the size the zip directory records before it
    reads the data, and the zip checksum is verified once the data is read.
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        if not os.path.exists(self.path):
            raise CheckpointNotFoundError(f"load_checkpoint: no such file: {self.path}")
        if os.path.isdir(self.path):
            raise CheckpointError(f"{self.path} is a directory, not a checkpoint file")
        try:
            self._zip = zipfile.ZipFile(self.path)
        except PermissionError:
            raise CheckpointError(f"cannot read {self.path}: permission denied") from None
        except (zipfile.BadZipFile, OSError, ValueError, EOFError):
            # The zip directory sits at the END of the file: a truncated file loses it.
            raise self._invalid("it is not a complete .npz (zip) archive; truncated, or not a "
                                "checkpoint at all") from None
        try:
            self._members = {info.filename[:-4]: info for info in self._zip.infolist()
                             if info.filename.endswith(".npy")}
            self.meta = self._read_meta()
        except BaseException:
            self.close()
            raise
        self.config, self.extra = self.meta.get("config"), self.meta.get("extra")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self._zip.close()

    def _invalid(self, reason):
        return CheckpointError(f"{self.path} is not a valid tinytransformer checkpoint: {reason}")

    # -- single arrays ---------------------------------------------------------------
    def names(self, prefix=""):
        """The names of the arrays in the file (read from its directory)."""
        return [name for name in self._members if name.startswith(prefix)]

    def nbytes(self, prefix=""):
        """The total size of the arrays whose names start with `prefix`, as the
        zip directory records it (nothing is read)."""
        return sum(info.file_size for name, info in self._members.items()
                   if name.startswith(prefix))

    def header(self, name):
        """(shape, dtype) of an array, from its .npy header alone."""
        with self._open(name) as f:
            return self._read_header(name, f)[:2]

    def read(self, name, shape=None, float_only=False, max_bytes=None):
        """One array, checked before its data is read: present, not an object
        array, of `shape` (if given), of a float dtype (if `float_only`), at most
        `max_bytes` long, and exactly as long as the zip directory says."""
        with self._open(name) as f:
            actual_shape, dtype, fortran = self._read_header(name, f)
            if shape is not None and tuple(actual_shape) != tuple(shape):
                raise CheckpointError(f"{self.path}: {name} has shape {tuple(actual_shape)}, "
                                      f"expected {tuple(shape)}")
            if float_only and dtype.kind != "f":
                raise CheckpointError(f"{self.path}: {name} holds {dtype} values, expected "
                                      "floating-point numbers")
            nbytes = math.prod(actual_shape) * dtype.itemsize
            if max_bytes is not None and nbytes > max_bytes:
                raise CheckpointError(f"{self.path}: {name} is {nbytes:,} bytes, more than the "
                                      f"{max_bytes:,} allowed")
            if self._members[name].file_size != f.tell() + nbytes:
                raise self._invalid(f"the size of {name} in its zip directory does not match "
                                    "its header")
            try:
                data = bytearray(nbytes)
                if f.readinto(data) != nbytes or f.read(1):
                    raise self._invalid(f"{name} is truncated")
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as error:
                # A damaged archive: a checksum (only checked at the end), zlib, ...
                raise self._invalid(f"{name}: {type(error).__name__}: {error}") from None
        array = np.frombuffer(data, dtype=dtype)
        order = "F" if fortran else "C"
        return array.reshape(actual_shape, order=order)

    def _open(self, name):
        if name not in self._members:
            raise CheckpointError(f"{self.path} has no array {name!r}")
        try:
            return self._zip.open(self._members[name])
        except (zipfile.BadZipFile, NotImplementedError, OSError, ValueError, EOFError) as error:
            raise self._invalid(f"{name}: {type(error).__name__}: {error}") from None

    def _read_header(self, name, f):
        try:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        except (ValueError, TypeError, SyntaxError, EOFError, zipfile.BadZipFile, zlib.error,
                OSError) as error:
            raise self._invalid(f"{name} has no valid .npy header ({error})") from None
        if dtype.hasobject:
            raise self._invalid(f"{name} holds Python objects, which are never loaded")
        return tuple(shape), dtype, fortran

    def _read_meta(self):
        if "meta" not in self._members:
            raise self._invalid("it has no 'meta' entry (a plain .npz file?)")
        shape, dtype = self.header("meta")
        if dtype != np.uint8 or len(shape) != 1:
            raise self._invalid("its 'meta' entry is not UTF-8 bytes")
        data = self.read("meta", max_bytes=MAX_META_BYTES)
        try:
            meta = json.loads(data.tobytes().decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as error:
            raise self._invalid(f"its 'meta' entry is not JSON ({error})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise self._invalid("its 'meta' entry has no tinytransformer format tag")
        if meta.get("version") != VERSION:
            raise self._invalid(f"it has format version {meta.get('version')}, this code reads "
                                f"version {VERSION}")
        if meta.get("optimizer") is not None and not (
                isinstance(meta["optimizer"], dict) and "type" in meta["optimizer"]
                and isinstance(meta["optimizer"].get("param_groups"), list)):
            raise self._invalid("its optimizer entry is malformed")
        return meta

    def read_blob(self, name):
        """The bytes saved as blobs={name: ...} (a CheckpointError if absent or not bytes)."""
        key = f"blob.{name}"
        if key not in self._members:
            raise CheckpointError(f"{self.path} has no saved {name!r} (blob.{name})")
        shape, dtype = self.header(key)
        if dtype != np.uint8 or len(shape) != 1:
            raise self._invalid(f"its {key} entry is not bytes")
        return self.read(key, max_bytes=MAX_BLOB_BYTES).tobytes()

    # -- a model's and an optimizer's arrays -----------------------------------------
    def read_model_state(self, model=None):
        """{name: array} of what the model's state_dict() holds (parameters and
        persistent buffers), each checked against the model's tensor (present,
        same shape; a parameter float and finite); the file may hold no model
        weights the model lacks. Without a model: every model.* array."""
        saved = [name[len("model."):] for name in self.names("model.")]
        if model is None:
            return OrderedDict((name, self.read("model." + name)) for name in saved)
        parameters = dict(model.named_parameters())
        # What state_dict() saves: the parameters and the persistent buffers.
        own = model._state_tensors() if hasattr(model, "_state_tensors") else OrderedDict(parameters)
        saved_names = set(saved)
        missing = [name for name in own if name not in saved_names]
        unexpected = [name for name in saved if name not in own]
        if missing or unexpected:
            raise CheckpointError(f"{self.path} does not fit this model: missing weights "
                                  f"{missing[:5]}{' ...' if len(missing) > 5 else ''}, "
                                  f"unexpected weights {unexpected[:5]}"
                                  f"{' ...' if len(unexpected) > 5 else ''}")
        state = OrderedDict()
        for name, p in own.items():
            state[name] = self.read("model." + name, shape=p.shape, float_only=name in parameters)
            if state[name].dtype.kind == "f" and not np.isfinite(state[name]).all():
                raise CheckpointError(f"{self.path}: model.{name} holds NaN or infinite values")
        return state

    def read_optimizer_state(self, optimizer=None):
        """What optimizer.state_dict() returned. With an optimizer, every saved
        array must be a scalar step or have its parameter's shape (checked
        before reading)."""
        saved = self.meta.get("optimizer")
        if saved is None:
            return None
        if optimizer is not None and saved["type"] != type(optimizer).__name__:
            raise CheckpointError(f"load_checkpoint: {self.path} holds {saved['type']} state, "
                                  f"which cannot be loaded into a {type(optimizer).__name__}")
        params = optimizer._indexed_params() if optimizer is not None else None
        state = {}
        for name in self.names("optim.state."):
            index, _, key = name[len("optim.state."):].partition(".")
            if not index.isdigit() or not key:
                raise self._invalid(f"its array name {name!r} is not optim.state.<i>.<name>")
            index = int(index)
            if params is not None:
                if index >= len(params):
                    raise CheckpointError(f"{self.path}: optimizer state for parameter {index}, "
                                          f"but the model has {len(params)} parameters")
                shape, _ = self.header(name)
                if shape not in ((), tuple(params[index].shape)):
                    raise CheckpointError(f"{self.path}: {name} has shape {shape}, its "
                                          f"parameter {tuple(params[index].shape)}")
            state.setdefault(index, {})[key] = self.read(name)
        return {"state": state, "param_groups": saved["param_groups"]}
