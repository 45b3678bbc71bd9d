"""Which archives a policy lets go. Pure: archives and a policy in, the ids to delete out.

Kept: the newest `keep_last`; the newest archive of each of the last `keep_daily` days,
`keep_weekly` ISO weeks and `keep_monthly` months that have one; then anything older than
`max_age_days` goes (0: no limit). Whatever the counts say, three things are always kept:
the newest archive (the one just written), the newest verified archive, and every archive an
incremental that is kept depends on (its parent, the parent's parent, … down to the full).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable, Iterable
from datetime import UTC, datetime, timedelta, tzinfo


@dataclasses.dataclass(frozen=True)
class ArchiveFacts:
    id: int
    created_at: datetime  # aware
    verified: bool = False
    parent: int | None = None


@dataclasses.dataclass(frozen=True)
class Rules:
    keep_last: int = 7
    keep_daily: int = 7
    keep_weekly: int = 4
    keep_monthly: int = 3
    max_age_days: int = 30


def _newest_per_bucket(archives: list[ArchiveFacts], count: int, key: Callable[[ArchiveFacts], Hashable]) -> set[int]:
    kept: set[int] = set()
    seen: set[Hashable] = set()
    for archive in archives:  # newest first
        if len(seen) >= count:
            break
        bucket = key(archive)
        if bucket not in seen:
            seen.add(bucket)
            kept.add(archive.id)
    return kept


def to_delete(archives: Iterable[ArchiveFacts], rules: Rules, *, now: datetime, tz: tzinfo = UTC) -> list[int]:
    ordered = sorted(archives, key=lambda a: (a.created_at, a.id), reverse=True)
    if not ordered:
        return []

    def local(a: ArchiveFacts) -> datetime:
        return a.created_at.astimezone(tz)

    keep = {a.id for a in ordered[: rules.keep_last]}
    keep |= _newest_per_bucket(ordered, rules.keep_daily, lambda a: local(a).date())
    keep |= _newest_per_bucket(ordered, rules.keep_weekly, lambda a: local(a).isocalendar()[:2])
    keep |= _newest_per_bucket(ordered, rules.keep_monthly, lambda a: (local(a).year, local(a).month))
    if rules.max_age_days:
        oldest = now - timedelta(days=rules.max_age_days)
        keep = {a.id for a in ordered if a.id in keep and a.created_at >= oldest}
    keep.add(ordered[0].id)
    newest_verified = next((a for a in ordered if a.verified), None)
    if newest_verified:
        keep.add(newest_verified.id)
    parents = {a.id: a.parent for a in ordered}
    for archive_id in list(keep):
        parent = parents.get(archive_id)
        while parent is not None and parent not in keep:
            keep.add(parent)
            parent = parents.get(parent)
    return [a.id for a in ordered if a.id not in keep]
