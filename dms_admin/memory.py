"""Process-wide allocator settings (glibc), applied once at start-up by the app config."""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger(__name__)

# mallopt() parameters (malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

# Why: glibc serves each allocation above its mmap threshold with a fresh mmap, whose pages are
# faulted in one by one, and returns it to the kernel on free. The threshold adapts upwards only
# to the largest block freed so far, so a file that grows by a line per change (the accounts
# file: 1.4 MB at 10,000 mailboxes) is always just above it: every read, decode, lower() and
# copy of it page-faulted ~350 fresh pages; in a VM that was ~5 ms of a 20 ms mailbox create.
# Fixed thresholds keep blocks up to 16 MB on the heap, and at most 16 MB of free heap top.
MMAP_THRESHOLD = 16 * 1024 * 1024
TRIM_THRESHOLD = 16 * 1024 * 1024


def tune_malloc() -> bool:
    """Set the thresholds; False where the C library has no mallopt (musl has a no-op one)."""
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    done = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    if not done:
        log.debug("mallopt refused the thresholds; the allocator keeps its defaults")
    return done
