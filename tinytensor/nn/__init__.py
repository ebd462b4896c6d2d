"""torch.nn's functional side: `import tinytensor.nn.functional as F`.

The layers (Module, Linear, MultiHeadAttention, ...) live in tinytransformer.nn;
this package holds only the functions they are built from.
"""
from . import functional  # noqa: F401
