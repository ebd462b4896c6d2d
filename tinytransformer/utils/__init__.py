"""What every application needs around a model: atomic files and checkpoints,
and one progress reporter."""
from .checkpoint import atomic_write, load_checkpoint, save_checkpoint
from .progress import Progress
