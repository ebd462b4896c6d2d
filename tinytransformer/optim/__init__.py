"""Optimizers and learning-rate schedules, as torch.optim (clip_grad_norm_ and
clip_grad_value_ live in tinytransformer.nn.utils, as in torch.nn.utils, and are
also importable from here)."""
from .optimizers import SGD, Adam, AdamW, Optimizer
from ..nn.utils import clip_grad_norm_, clip_grad_value_
from . import lr_scheduler
from .lr_scheduler import (CosineAnnealingLR, LambdaLR, LinearLR, LRScheduler, NoamSchedule,
                           SequentialLR, StepLR, WarmupCosine, WarmupLinear)
