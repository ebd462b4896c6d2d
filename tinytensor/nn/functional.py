"""torch.nn.functional's names for tinytensor's neural-network functions:

    import tinytensor.nn.functional as F
    loss = F.cross_entropy(logits, targets, label_smoothing=0.1)

Each name here is the operation itself (defined in tinytensor/ops/activation.py,
loss.py, nn.py and elementwise.py, with its forward and backward), not a wrapper, so
`F.softmax is tt.softmax`. The arguments are torch's, in torch's order
(`F.embedding(input, weight)`: the ids first).
"""
from ..ops.elementwise import relu, sigmoid, tanh  # noqa: F401
from ..ops.activation import gelu, log_softmax, logsigmoid, softmax  # noqa: F401
from ..ops.loss import (binary_cross_entropy, binary_cross_entropy_with_logits,  # noqa: F401
                        cross_entropy, l1_loss, mse_loss, nll_loss)
from ..ops.nn import (add_layer_norm, dropout, embedding, layer_norm, linear, one_hot,  # noqa: F401
                      packed_attention, relu_dropout, scaled_dot_product_attention)
from ..ops.sampling import negative_sampling_loss  # noqa: F401

__all__ = ["add_layer_norm", "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "dropout",
           "embedding", "gelu", "l1_loss", "layer_norm", "linear", "log_softmax", "logsigmoid",
           "mse_loss", "negative_sampling_loss", "nll_loss", "one_hot", "packed_attention", "relu", "relu_dropout",
           "scaled_dot_product_attention", "sigmoid", "softmax", "tanh"]
