"""Small named thread pools per process, for work that waits on the kernel or runs in a C library
without the GIL (file writes and fsyncs, SHA-1 of history blobs, libcrypt hashing) while the
request's own thread goes on.

Each use has its own pool, so a slow task of one kind never queues work of another behind it
(the config store's blob writes run under the config lock and must not wait for hashing).
"""

from __future__ import annotations

import concurrent.futures
import os
import threading

_POOLS: dict[str, concurrent.futures.ThreadPoolExecutor] = {}
_POOLS_PID = os.getpid()
_LOCK = threading.Lock()


def background(name: str, threads: int = 1) -> concurrent.futures.ThreadPoolExecutor:
    """The pool `name` of this process (a forked RQ work horse or gunicorn worker makes its own)."""
    global _POOLS_PID
    with _LOCK:
        if os.getpid() != _POOLS_PID:
            _POOLS.clear()  # the threads of the parent's pools do not exist in a fork
            _POOLS_PID = os.getpid()
        if name not in _POOLS:
            _POOLS[name] = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix=f"dms-admin-{name}")
        return _POOLS[name]
