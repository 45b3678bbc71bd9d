"""Whether the backup volume has room for the next archive."""

from __future__ import annotations

import shutil
from pathlib import Path

from backups.archive.errors import NotEnoughSpace
from backups.archive.progress import mb


def estimate_needed(source_bytes: int, ratio: float | None) -> int:
    """Space to ask for: the source at the last archive's compression ratio (else 1:1), plus slack."""
    ratio = 1.0 if ratio is None else min(1.0, max(ratio, 0.05))
    return int(source_bytes * ratio * 1.05) + (1 << 20)


def check_free_space(folder: Path, needed: int) -> None:
    usage = shutil.disk_usage(folder)
    if usage.free < needed:
        raise NotEnoughSpace(
            f"Not enough free space in {folder}: the backup needs about {mb(needed)}, "
            f"{mb(usage.free)} is free (of {mb(usage.total)})."
        )
