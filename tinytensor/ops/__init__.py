"""Every differentiable operation, registered in one place.

`OPS` maps each public operation's name to its function. The test suite
iterates over it, so an operation added here without a gradient check fails
the tests.

`reference` holds plain versions of the fused operations of nn.py, made of
the operations here; they are not operations of their own, so not in OPS.

`__all__` (computed at the end) lists the operations only, so that
`from tinytensor.ops import *` does not also hand out the submodule names
(`nn`, `shape`, ...): `tinytensor.nn` is the package of torch.nn's names.
"""
import types

OPS = {}


def register(func):
    """Record a public operation in OPS (used as a decorator)."""
    OPS[func.__name__] = func
    return func


from .elementwise import *  # noqa: E402,F401,F403
from .comparison import *  # noqa: E402,F401,F403
from .reduction import *  # noqa: E402,F401,F403
from .shape import *  # noqa: E402,F401,F403
from .indexing import *  # noqa: E402,F401,F403
from .linalg import *  # noqa: E402,F401,F403
from .activation import *  # noqa: E402,F401,F403
from .loss import *  # noqa: E402,F401,F403
from .nn import *  # noqa: E402,F401,F403
from .inplace import *  # noqa: E402,F401,F403
from .sampling import *  # noqa: E402,F401,F403
from .updates import *  # noqa: E402,F401,F403
from . import reference  # noqa: E402,F401

# Keep this last: every public name imported above except the submodules and `register`.
__all__ = ["OPS"] + [name for name, value in list(globals().items())
                     if not name.startswith("_") and name not in ("OPS", "register", "types")
                     and not isinstance(value, types.ModuleType)]
