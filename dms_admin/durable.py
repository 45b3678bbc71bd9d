"""Making a rename survive a power cut: the one helper the config store, the backup writer and the
Sieve home script share. Its own module, so the backup worker need not import pygit2 for it."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries (a file just renamed into it) to disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
