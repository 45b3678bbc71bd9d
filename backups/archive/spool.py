"""The writer's first pass: the scan compared with the parent, spooled to a temporary file."""

from __future__ import annotations

import marshal
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from backups.archive.parent import IndexedParent, SortedParent
from backups.archive.progress import Progress
from backups.archive.scanner import scan

Record = tuple[str, str, int, int, int, int, int, int, str, str, str, str]  # Entry's fields, then the disk path
_SPOOL_BATCH = 1024


def _common_prefix(paths: set[str]) -> str:
    """The deepest folder holding all the paths ("" for none): a safety backup scans only that."""
    common: list[str] | None = None
    for path in paths:
        parts = path.split("/")
        if common is None:
            common = parts
        else:
            n = 0
            for a, b in zip(common, parts, strict=False):
                if a != b:
                    break
                n += 1
            del common[n:]
    return "/".join(common or [])


def scan_to_spool(
    spool: IO[bytes],
    roots: dict[str, Path],
    only: set[str] | None,
    name: str,
    incremental: bool,
    parent: SortedParent | IndexedParent | None,
) -> Progress:
    """First pass: the scan, compared with the parent, into the spool file; the totals of what to archive."""
    state = Progress()
    batch: list[Record] = []
    for entry, disk in scan(roots, prefix=_common_prefix(only) if only is not None else ""):
        if only is not None and entry.path not in only:
            continue
        old = parent.get(entry.path) if parent is not None else None
        if incremental and old is not None and entry.type == "file" and old.same_as(entry):
            sha256, archive = old.sha256, old.archive
        else:
            sha256, archive = "", name
            state.files_total += 1
            state.bytes_total += entry.size
        batch.append(
            (
                entry.path,
                entry.type,
                entry.size,
                entry.mtime,
                entry.mtime_ns,
                entry.uid,
                entry.gid,
                entry.mode,
                sha256,
                entry.link,
                archive,
                disk,
            )
        )
        if len(batch) >= _SPOOL_BATCH:
            _spool_write(spool, batch)
            batch.clear()
    if batch:
        _spool_write(spool, batch)
    if parent is not None:
        parent.finish()
    return state


def _spool_write(spool: IO[bytes], batch: list[Record]) -> None:
    data = marshal.dumps(batch)
    spool.write(struct.pack("<I", len(data)) + data)


def spooled(spool: IO[bytes]) -> Iterator[Record]:
    spool.seek(0)
    while size := spool.read(4):
        data = spool.read(struct.unpack("<I", size)[0])
        yield from marshal.loads(data)  # noqa: S302  # our own spool, written moments ago (mode 0600)
