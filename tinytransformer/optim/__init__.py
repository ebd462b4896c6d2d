"""Optimizers and learning-rate schedules, as torch.optim."""
from .optimizers import SGD, Adam, AdamW, Optimizer, clip_grad_norm_
from . import lr_scheduler
from .lr_scheduler import LRScheduler, NoamSchedule, WarmupCosine, WarmupLinear
