"""The only package that touches the generated cffi ``lib``: one module per C layer.

C functions return -errno (or a status); these modules turn them into typed
Python exceptions and plain Python values. Everything above is pure Python and
uses the names re-exported here (``from gcheap import _lowlevel as _ll``).
"""
from gcheap._lowlevel.base import check, doubles, ffi, lib  # noqa: F401
from gcheap._lowlevel.kernel import *  # noqa: F401,F403
from gcheap._lowlevel.cmc import *  # noqa: F401,F403
from gcheap._lowlevel.runtime import *  # noqa: F401,F403
from gcheap._lowlevel.snapshot import *  # noqa: F401,F403
from gcheap._lowlevel.testing import *  # noqa: F401,F403
from gcheap._lowlevel.interp import *  # noqa: F401,F403
from gcheap.errors import kernel_error  # noqa: F401
