"""Writes that survive a power cut, shared by the config store, the backup writer and the Sieve
home script. Its own module, so the backup worker need not import pygit2 for it."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries (a file just renamed into it) to disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_file(
    target: Path, data: bytes, *, stage_dir: Path, prefix: str, mode: int, owner: tuple[int, int] | None = None
) -> None:
    """`target` holds `data` or what it held before, never a part: a temp file in `stage_dir` (on
    the same filesystem), fsynced, renamed over it, and the folder synced. `owner` is tried, and
    kept as it comes when we may not give files away (not root)."""
    fd, tmp = tempfile.mkstemp(prefix=prefix, dir=stage_dir)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fchmod(fh.fileno(), mode)
            if owner is not None and owner != (os.geteuid(), os.getegid()):
                with contextlib.suppress(PermissionError):
                    os.fchown(fh.fileno(), *owner)
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(target.parent)
