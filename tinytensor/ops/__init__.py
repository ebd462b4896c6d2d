"""Every differentiable operation, registered in one place.

`OPS` maps each public operation's name to its function. The test suite
iterates over it, so an operation added here without a gradient check fails
the tests.

`reference` holds plain versions of the fused operations of nn.py, made of
the operations here; they are not operations of their own, so not in OPS.
"""
OPS = {}


def register(func):
    """Record a public operation in OPS (used as a decorator)."""
    OPS[func.__name__] = func
    return func


from .elementwise import *  # noqa: E402,F401,F403
from .reduction import *  # noqa: E402,F401,F403
from .shape import *  # noqa: E402,F401,F403
from .indexing import *  # noqa: E402,F401,F403
from .linalg import *  # noqa: E402,F401,F403
from .nn import *  # noqa: E402,F401,F403
from . import reference  # noqa: E402,F401
