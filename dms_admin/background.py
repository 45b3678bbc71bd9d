"""A small thread pool per process, for work that waits on the kernel or a C library without the
GIL (file writes and fsyncs, SHA-1 of history blobs, libcrypt hashing) while the request's own
thread goes on."""

from __future__ import annotations

import concurrent.futures
import os

_POOL: tuple[int, concurrent.futures.ThreadPoolExecutor] | None = None


def background() -> concurrent.futures.ThreadPoolExecutor:
    """The pool of this process (a forked RQ work horse or gunicorn worker makes its own)."""
    global _POOL
    if _POOL is None or _POOL[0] != os.getpid():
        _POOL = (os.getpid(), concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="dms-admin-background"))
    return _POOL[1]
