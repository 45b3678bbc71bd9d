"""What every part of the archive package shares: the temporary-file prefix, the block size, file helpers."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

TEMP_PREFIX = ".dms-admin-tmp-"
BLOCK = 1 << 20


class Sink(Protocol):
    """Where a stream writes on to: the archive file, age, a compressor."""

    def write(self, data: bytes, /) -> int: ...


def unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def remove(paths: Iterable[Path], *more: Path) -> None:
    for path in [*paths, *more]:
        unlink(path)
