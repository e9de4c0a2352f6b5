"""Freed transfer buffers go back to the system.

glibc serves an allocation above its mmap threshold (128 KiB) with its own mapping, returned
when freed; but after the first such buffer is freed it raises the threshold, up to 32 MiB.
From then on the chunk-sized buffers of image transfers come from the heap arenas (one per
thread that allocates, up to eight per core), and freed arena memory mostly stays in the
process: about 1 GiB after 100 parallel uploads. Setting the threshold fixes it where it is.
"""
from __future__ import annotations

import ctypes
import logging

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3           # glibc's malloc.h
MMAP_THRESHOLD_BYTES = 128 * 1024


def return_large_buffers() -> bool:
    """Fixes glibc's mmap threshold; False where the C library is not glibc."""
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        log.info("not glibc: freed buffers are left to the C library's own policy")
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
