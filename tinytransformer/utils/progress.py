"""One progress reporter for every long loop in the project (training steps,
Word2Vec epochs, decoding a test set).

It is a tqdm bar where tqdm is installed and the output is shown; without
tqdm it prints a plain line now and then, so a run in a log file still shows
it is alive. `enabled=False` silences the bar but keeps `write()`, so the
messages a loop prints (evaluations, warnings) are never lost.

    with Progress(total=1200, unit="step", desc="train") as bar:
        for step in range(1200):
            ...
            bar.update(1, loss=f"{loss:.3f}")
"""
import sys
import time

__all__ = ["Progress"]


class Progress:
    """A progress bar: `update(n, **postfix)`, `write(message)`, `close()`."""

    def __init__(self, total=None, desc=None, unit="it", initial=0, enabled=True,
                 stream=None, unit_scale=False, min_interval=10.0):
        self.total, self.desc, self.unit, self.n = total, desc, unit, initial
        self.enabled, self.stream = enabled, stream or sys.stderr
        self.postfix, self.min_interval = {}, min_interval
        self.start = self.last_print = time.perf_counter()
        self._initial = initial
        self._bar = None
        if enabled:
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                # smoothing=0: the rate and the time left come from the average since the
                # start, as the plain lines' do. tqdm's default weighs the last interval
                # most, so after an evaluation between two steps the bar showed a third
                # of the real rate and three times the time left, for a while.
                self._bar = tqdm(total=total, desc=desc, unit=unit, initial=initial,
                                 file=self.stream, dynamic_ncols=True, unit_scale=unit_scale,
                                 smoothing=0)

    # -- use as a context manager ------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- reporting -----------------------------------------------------------------
    def update(self, n=1, **postfix):
        """Count n more units done; keyword arguments are shown after the bar."""
        self.n += n
        if postfix:
            self.postfix.update(postfix)
        if self._bar is not None:
            if postfix:
                self._bar.set_postfix(self.postfix, refresh=False)
            self._bar.update(n)
        elif self.enabled and time.perf_counter() - self.last_print >= self.min_interval:
            self._print_line()

    def set_postfix(self, **postfix):
        self.postfix.update(postfix)
        if self._bar is not None:
            self._bar.set_postfix(self.postfix)

    def write(self, message):
        """Print a line without breaking the bar (always printed, even when disabled)."""
        if self._bar is not None:
            self._bar.write(message, file=self.stream)
        else:
            print(message, file=self.stream if self.enabled else sys.stdout, flush=True)

    def rate(self):
        """Units per second since the start."""
        return (self.n - self._initial) / max(time.perf_counter() - self.start, 1e-9)

    def close(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self.enabled and self.n != self._initial:
            self._print_line()
            self.enabled = False   # one final line, even if close() is called twice

    def _print_line(self):
        self.last_print = time.perf_counter()
        done = f"{self.n}/{self.total}" if self.total else f"{self.n}"
        extras = "".join(f", {k}={v}" for k, v in self.postfix.items())
        head = f"{self.desc}: " if self.desc else ""
        print(f"{head}{done} {self.unit}s, {self.rate():.1f} {self.unit}/s{extras}",
              file=self.stream, flush=True)
