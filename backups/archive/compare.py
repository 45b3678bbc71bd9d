"""A manifest compared with the disk: what a restore would create, overwrite or leave alone."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from backups.archive.manifest import Entry
from backups.archive.scanner import scan


@dataclasses.dataclass
class Preview:
    create: list[str] = dataclasses.field(default_factory=list)
    overwrite: list[str] = dataclasses.field(default_factory=list)
    unchanged: int = 0
    kept: list[str] = dataclasses.field(default_factory=list)  # on disk, not in the backup: left alone
    bytes: int = 0

    def as_dict(self, limit: int = 200) -> dict[str, Any]:
        return {
            "create": self.create[:limit],
            "overwrite": self.overwrite[:limit],
            "kept": self.kept[:limit],
            "counts": {
                "create": len(self.create),
                "overwrite": len(self.overwrite),
                "unchanged": self.unchanged,
                "kept": len(self.kept),
            },
            "bytes": self.bytes,
        }


def preview(entries: Iterable[Entry], roots: dict[str, Path], prefix: str) -> Preview:
    result = Preview()
    wanted = {e.path: e for e in entries}
    on_disk = {e.path: e for e, _ in scan(roots, prefix=prefix)}
    for path, entry in wanted.items():
        current = on_disk.get(path)
        if current is None:
            result.create.append(path)
            result.bytes += entry.size
        elif entry.type == "dir" or current.same_as(entry):
            result.unchanged += 1
        else:
            result.overwrite.append(path)
            result.bytes += entry.size
    result.kept = sorted(p for p, e in on_disk.items() if p not in wanted and e.type != "dir")
    return result
