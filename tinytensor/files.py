"""Writing a file atomically: the one way this project writes files that a crash must not
corrupt (checkpoints, vocabularies, vectors, pictures, graphs). It lives in tinytensor so that
tinytensor's own graph drawing can use it; tinytransformer.utils re-exports it."""
import os
import tempfile

__all__ = ["atomic_write"]


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
