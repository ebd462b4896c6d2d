"""The ways a training run refuses to start or stops early, each one exception type.

The example catches these and prints their one-line message; nothing else
about them is special.
"""

__all__ = ["TrainingError", "NonFiniteError", "RunFolderError", "Interrupted"]


class TrainingError(ValueError):
    """The run cannot start or go on; the message says why and what to change."""


class NonFiniteError(TrainingError):
    """The loss or the gradient became NaN or infinite; no weight was changed."""


class RunFolderError(TrainingError):
    """The output folder cannot be used by this run (in use, not writable, or
    holding another run's checkpoints); the message says what to do."""


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped the run at a step boundary, after saving last.npz."""

    def __init__(self, signum, message):
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + signum      # the shell's convention: 130, 143
