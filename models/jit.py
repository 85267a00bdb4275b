"""numba compilation in one place: a typed ``kernel`` decorator.

numba is untyped; wrapping ``njit`` here keeps the annotations of each kernel visible to mypy.
Kernels are cached on disk (``cache=True``) so a process pays the compile time once per change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numpy as np
import numpy.typing as npt
from numba import njit

F = TypeVar("F", bound=Callable[..., Any])

#: Array types of the kernels' annotations (numba ignores them; mypy reads them).
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int32]
LongArray = npt.NDArray[np.int64]


def kernel(function: F) -> F:
    """``function`` compiled in nopython mode, cached on disk."""
    return cast(F, njit(cache=True, nogil=True)(function))
