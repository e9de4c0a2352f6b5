"""Freed transfer buffers go back to the system.

glibc serves an allocation above its mmap threshold (128 KiB) with its own mapping, returned
when freed; but after the first such buffer is freed it raises the threshold, up to 32 MiB.
From then on the chunk-sized buffers of image transfers come from the heap arenas (one per
thread that allocates, up to eight per core), and freed arena memory mostly stays in the
process: about 1 GiB after 100 parallel uploads. Setting the threshold fixes it where it is,
and a trim when a transfer ends returns what the arenas kept of the smaller buffers.
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # glibc's malloc.h
MMAP_THRESHOLD_BYTES = 128 * 1024


def _glibc():
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


_LIBC = _glibc()
_malloc_trim = getattr(_LIBC, "malloc_trim", None)


def trim() -> None:
    """Gives the heap's free memory back to the system (glibc: every arena), as a transfer
    ends: what its threads freed would otherwise stay in their arenas."""
    if _malloc_trim is not None:
        _malloc_trim(0)


def return_large_buffers() -> bool:
    """Fixes glibc's mmap threshold; False where the C library is not glibc."""
    mallopt = getattr(_LIBC, "mallopt", None)
    if mallopt is None:
        log.info("not glibc: freed buffers are left to the C library's own policy")
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
