"""The progress of a backup, verify or restore, counted in files and bytes, and its status line."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable


@dataclasses.dataclass
class Progress:
    files_total: int = 0
    bytes_total: int = 0
    files_done: int = 0
    bytes_done: int = 0
    started: float = dataclasses.field(default_factory=time.monotonic)

    @property
    def percent(self) -> int:
        if self.bytes_total:
            return int(100 * self.bytes_done / self.bytes_total)
        return int(100 * self.files_done / self.files_total) if self.files_total else 0

    def message(self, verb: str) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = self.bytes_done / elapsed
        left = (self.bytes_total - self.bytes_done) / rate if rate > 0 else 0
        return (
            f"{verb} {self.files_done:,}/{self.files_total:,} files, {mb(self.bytes_done)}/{mb(self.bytes_total)}"
            f" at {mb(rate)}/s, about {int(left)} s left"
        )


ProgressCallback = Callable[[Progress], None]


def mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"
