"""The parent archive's manifest, read alongside the scan to tell what changed and what was deleted."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from backups.archive.manifest import Entry, order_key


class Unsorted(Exception):
    """The parent's manifest is not in `order_key` order (written before it was): look it up instead."""


class SortedParent:
    """The parent's entries read alongside the scan, both in `order_key` order: one entry in memory."""

    def __init__(self, entries: Iterator[Entry], gone: Callable[[str], None]) -> None:
        self.entries, self.gone = entries, gone
        self.asked: list[str] | None = None
        self.key: list[str] = []
        self.current = self._next()

    def _next(self) -> Entry | None:
        previous = self.key
        for entry in self.entries:
            self.key = order_key(entry.path)
            if previous and self.key <= previous:
                raise Unsorted
            return entry
        return None

    def get(self, path: str) -> Entry | None:
        key = order_key(path)
        if self.asked is not None and key <= self.asked:
            raise Unsorted
        self.asked = key
        while self.current is not None and self.key < key:
            self.gone(self.current.path)
            self.current = self._next()
        if self.current is not None and self.key == key:
            found, self.current = self.current, self._next()
            return found
        return None

    def finish(self) -> None:
        while self.current is not None:
            self.gone(self.current.path)
            self.current = self._next()


class IndexedParent:
    """A parent manifest in another order (older manifests): held in memory as a dict, as before."""

    def __init__(self, entries: Iterator[Entry], gone: Callable[[str], None]) -> None:
        self.index = {e.path: e for e in entries}
        self.gone = gone

    def get(self, path: str) -> Entry | None:
        return self.index.pop(path, None)

    def finish(self) -> None:
        for path in sorted(self.index, key=order_key):
            self.gone(path)
        self.index.clear()
