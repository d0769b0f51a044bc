"""The C heap of a hub process: kept near what it uses (glibc only; a no-op elsewhere).

Rules this module keeps:
1. `tune` before serving: glibc raises its mmap threshold after the first large buffer is freed
   (so later 10 MB uploads stay in the heap, never given back) and gives every thread its own
   arena; a fixed threshold and two arenas halve the peak RSS of 32 concurrent 10 MB uploads
   (bench/load.py).
2. `give_back` once a process falls quiet (`hub.connections`: no request in flight for `QUIET`
   seconds after one was served): the free pages left inside the heap by the requests it served
   return to the system (`malloc_trim`), so that what a burst of traffic left behind is not
   carried into the next. Never while a request is served: it takes the heap's locks.
"""

from __future__ import annotations

import contextlib
import ctypes
from typing import Any

M_ARENA_MAX, M_MMAP_THRESHOLD = -8, -3  # glibc mallopt parameters
QUIET = 1.0  # seconds without a request in flight before the heap's free pages are given back


def _libc() -> Any:
    with contextlib.suppress(OSError):
        libc = ctypes.CDLL(None)
        if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim"):
            return libc
    return None


_LIBC = _libc()


def tune() -> None:
    """Rule 1."""
    if _LIBC is not None:
        _LIBC.mallopt(M_MMAP_THRESHOLD, 256 * 1024)
        _LIBC.mallopt(M_ARENA_MAX, 2)


def give_back() -> None:
    """Rule 2: return the heap's free pages to the system."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
