"""Where an archive path is restored on disk; unsafe paths refused."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from backups.archive.errors import ArchiveError


def split_root(arcpath: str) -> tuple[str, str]:
    top, _, rel = arcpath.partition("/")
    return top, rel


def safe_target(roots: dict[str, Path], arcpath: str) -> Path | None:
    top, rel = split_root(arcpath)
    root = roots.get(top)
    if root is None:
        return None
    parts = rel.split("/") if rel else []
    if "" in parts or "." in parts or ".." in parts:
        raise ArchiveError(f"The archive holds an unsafe path: {arcpath}")
    return root.joinpath(*parts) if parts else root


def in_roots(roots: dict[str, Path], wanted: Iterable[str]) -> set[str]:
    """The wanted names that go into one of the roots: `safe_target`'s checks, without making paths."""
    picked = set()
    for name in wanted:
        top, _, rel = name.partition("/")
        if top not in roots:
            continue
        if rel:
            parts = rel.split("/")
            if "" in parts or "." in parts or ".." in parts:
                raise ArchiveError(f"The archive holds an unsafe path: {name}")
        picked.add(name)
    return picked
