"""torch.nn.functional's names for tinytensor's neural-network functions:

    import tinytensor.nn.functional as F
    loss = F.cross_entropy(logits, targets, label_smoothing=0.1)

Each name here is the operation itself (defined in tinytensor/ops/nn.py, with
its forward and backward), not a wrapper, so `F.softmax is tt.softmax`.
"""
from ..ops import (binary_cross_entropy_with_logits, cross_entropy, dropout, gelu,  # noqa: F401
                   layer_norm, log_sigmoid, log_softmax, mse_loss, relu, scaled_dot_product_attention,
                   sigmoid, softmax, tanh)
