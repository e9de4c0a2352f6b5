"""Transfer buffers are reused while transfers run, and given back when each one ends.

Every message of an image transfer allocates buffers of its size (a chunk read from the
store, its framing, grpc's copy of it). Served from fresh mappings, as glibc does above its
mmap threshold (128 KiB by default), each one is mapped, faulted in page by page, zeroed and
unmapped again: on a virtual machine whose freed memory goes back to the host, those page
faults were 70% of the controller's CPU during a download. Left to glibc's dynamic threshold
instead, the chunk-sized buffers come from the heap arenas (one per thread that allocates, up
to eight per core), and what the arenas free mostly stays in the process: about 1 GiB after
100 parallel uploads.

So both thresholds are fixed where they are: buffers below MMAP_THRESHOLD_BYTES (every
message a transfer moves) come from the arenas and are reused; an arena gives memory back
by itself only when more than TRIM_THRESHOLD_BYTES is free at its top; and a trim when a
transfer ends (limits/slots.py) returns what the arenas kept.
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
# Above the largest message (controller.max_message_bytes, 4 MiB by default).
MMAP_THRESHOLD_BYTES = 8 * 1024 * 1024
# Two messages: at 16 MiB, 100 parallel uploads left 42 MiB more in the process after them
# (bench/stream_load_bench.py); at 2 MiB nothing, and downloads ran as fast.
TRIM_THRESHOLD_BYTES = 2 * 1024 * 1024


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


def reuse_transfer_buffers() -> bool:
    """Fixes glibc's mmap and trim thresholds; False where the C library is not glibc."""
    mallopt = getattr(_LIBC, "mallopt", None)
    if mallopt is None:
        log.info("not glibc: freed buffers are left to the C library's own policy")
        return False
    return bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)) and bool(
        mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
    )
