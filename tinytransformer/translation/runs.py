"""What keeps a training run safe from other runs and from signals.

* `RunFolder`: a run's output folder belongs to one run at a time. A lock file
  held with `fcntl.flock` refuses a second live run on the same folder; the
  kernel drops the lock when its process ends, however it ends, so a crashed or
  killed run never leaves the folder stuck. The folder's checkpoints name the
  run that wrote them (a run id), so a new run can tell its own from another's.
* `StopSignals`: while training, SIGINT (Ctrl-C) and SIGTERM (what `kill`,
  `timeout` and batch schedulers send) only ask the loop to stop; it stops at
  the next step boundary, where the model, the optimizer, the schedule, the
  data position and the random generator agree, and saves a checkpoint there.
  A second signal stops at once.
"""
import os
import signal
import threading

from ..utils.checkpoint import CheckpointError, CheckpointReader
from .errors import RunFolderError

try:
    import fcntl
except ImportError:              # Windows: no flock; a second run is not detected there
    fcntl = None

__all__ = ["RunFolder", "StopSignals", "CHECKPOINTS", "STEP_CHECKPOINTS"]

CHECKPOINTS = ("last.npz", "best.npz", "averaged.npz")
STEP_CHECKPOINTS = "step-*.npz"     # kept for averaging (TrainConfig.keep_checkpoints)
LOCK_NAME = ".lock"


class RunFolder:
    """A run's output folder, locked while the run uses it.

        with RunFolder("runs/translate") as folder:    # RunFolderError if another run has it
            ...

    Entering creates the folder, checks that files can be written in it, and
    takes the lock (re-entrant within the process); leaving releases it.
    """

    def __init__(self, path):
        import pathlib
        self.path = pathlib.Path(path)
        self._fd, self._depth = None, 0
        self.claimed = False

    def __truediv__(self, name):
        return self.path / name

    def __fspath__(self):
        return os.fspath(self.path)

    def __str__(self):
        return str(self.path)

    def __enter__(self):
        if self._depth == 0:
            self._acquire()
        self._depth += 1
        return self

    def __exit__(self, *exc):
        self._depth -= 1
        if self._depth == 0:
            self._release()

    def _acquire(self):
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise RunFolderError(f"cannot use {self.path} as the output folder: "
                                 f"{error.strerror or error}") from None
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = _read_pid(fd)
                os.close(fd)
                raise RunFolderError(
                    f"{self.path} is in use by another training run"
                    f"{f' (process {holder})' if holder else ''}: wait for it to end, or "
                    "choose another --out") from None
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            self._probe_writable()
        except OSError as error:
            os.close(fd)
            raise RunFolderError(f"cannot write in {self.path}: {error.strerror or error}") from None
        self._fd = fd

    def _probe_writable(self):
        """Checkpoints are written next to their final name and renamed: try that once."""
        probe = self.path / f".write-test-{os.getpid()}"
        with open(probe, "wb") as f:
            f.write(b"ok")
            f.flush()
            os.fsync(f.fileno())
        os.replace(probe, self.path / f".write-test-{os.getpid()}.done")
        os.remove(self.path / f".write-test-{os.getpid()}.done")

    def _release(self):
        if self._fd is not None:
            if fcntl is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)   # the lock file stays: removing it would race with a newcomer
            self._fd = None

    # -- whose checkpoints are these? --------------------------------------------------
    def checkpoint_runs(self):
        """{file name: run id} of the checkpoints in the folder; the id is None for
        a checkpoint older than run ids, "unreadable" for a damaged file."""
        runs = {}
        steps = sorted(path.name for path in self.path.glob(STEP_CHECKPOINTS))
        for name in list(CHECKPOINTS) + steps:
            path = self.path / name
            if not path.exists():
                continue
            try:
                with CheckpointReader(path) as ckpt:
                    trainer = (ckpt.extra or {}).get("trainer") or {}
                    runs[name] = trainer.get("run_id")
            except CheckpointError:
                runs[name] = "unreadable"
        return runs

    def best_bleu(self, run_id):
        """The best dev BLEU recorded in best.npz, if that file is this run's."""
        path = self.path / "best.npz"
        try:
            with CheckpointReader(path) as ckpt:
                trainer = (ckpt.extra or {}).get("trainer") or {}
                if trainer.get("run_id") == run_id:
                    return float(trainer.get("best_bleu", -1.0))
        except (CheckpointError, TypeError, ValueError):
            pass
        return None


def _read_pid(fd):
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 32).decode().strip()
        return int(text) if text.isdigit() else None
    except OSError:
        return None


class StopSignals:
    """While active, SIGINT and SIGTERM set `requested` (the signal number)
    instead of interrupting; a second one raises KeyboardInterrupt at once.

    A signal whose disposition is "ignore" stays ignored (a program started in
    the background of a shell, or under nohup, keeps it so), and outside the
    main thread nothing is installed, as Python allows handlers only there.
    """

    SIGNALS = tuple(s for s in (getattr(signal, "SIGINT", None), getattr(signal, "SIGTERM", None))
                    if s is not None)

    def __init__(self):
        self.requested = None
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                previous = signal.getsignal(signum)
                if previous is signal.SIG_IGN or previous is None:
                    continue
                self._previous[signum] = previous
                signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc):
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous = {}

    def _handle(self, signum, frame):
        if self.requested is None:
            self.requested = signum
            return
        raise KeyboardInterrupt(f"second {signal.Signals(signum).name}: stopping at once")

    @property
    def name(self):
        return signal.Signals(self.requested).name if self.requested else None
