"""Helpers of the translation tests: the example programs as modules, and child processes
that always end.

Every child starts with the default SIGINT disposition (a pytest started in the
background of a non-interactive shell hands its children SIGINT *ignored*, and
then Ctrl-C could not reach them), with no stdin unless one is given (pytest
may have none, or a terminal), this checkout first on its path, and is killed
at its timeout. `Children` ends every process it started.
"""
import importlib.util
import os
import pathlib
import signal
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[3]


def load_example(name):
    """examples/<name>.py as a module, to call its main() in this process."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def default_sigint():
    """preexec_fn: the child gets the default SIGINT, whatever this process has."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def child_env(**extra):
    env = dict(os.environ, PYTHONUNBUFFERED="1", **extra)
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + paths)
    return env


def run_python(args, timeout=300, **kwargs):
    """subprocess.run of `python args...` in the repository root (killed at the timeout)."""
    if "input" not in kwargs:
        kwargs.setdefault("stdin", subprocess.DEVNULL)
    kwargs.setdefault("text", True)
    return subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, env=child_env(),
                          preexec_fn=default_sigint, capture_output=True, timeout=timeout,
                          **kwargs)


class Children:
    """start(args) -> Popen of `python args...`; close() kills and reaps what is left."""

    def __init__(self):
        self.processes = []

    def start(self, args, **kwargs):
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        kwargs.setdefault("text", True)
        process = subprocess.Popen([sys.executable, *map(str, args)], cwd=ROOT, env=child_env(),
                                   preexec_fn=default_sigint, **kwargs)
        self.processes.append(process)
        return process

    def close(self):
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            try:
                process.communicate(timeout=30)
            except (ValueError, OSError, subprocess.TimeoutExpired):
                pass
        self.processes = []
