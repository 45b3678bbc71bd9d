"""Retention over a simulated 90-day clock: exactly what the policy says, never the newest verified, no broken chain."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from backups.retention import ArchiveFacts, Rules, to_delete

START = datetime(2025, 1, 1, 3, 30, tzinfo=UTC)
RULES = Rules(keep_last=3, keep_daily=7, keep_weekly=4, keep_monthly=3, max_age_days=30)


def simulate(days: int, *, verified_day: int | None = None, incremental: bool = False) -> dict[int, ArchiveFacts]:
    """One backup a day, pruned right after it, as the backup job does."""
    alive: dict[int, ArchiveFacts] = {}
    for day in range(days):
        parent = None
        when = START + timedelta(days=day)
        if incremental and when.weekday() != 6 and alive:  # a full every Sunday
            parent = max(alive)
        alive[day] = ArchiveFacts(day, when, verified=day == verified_day, parent=parent)
        for gone in to_delete(alive.values(), RULES, now=when):
            del alive[gone]
    return alive


def expected_days(days: int) -> set[int]:
    now = START + timedelta(days=days - 1)
    dates = {d: (START + timedelta(days=d)).date() for d in range(days)}
    newest = sorted(dates, reverse=True)
    keep = set(newest[:3]) | set(newest[:7])  # one a day: the daily buckets are the last 7 days
    weeks: dict[tuple[int, int], int] = {}
    months: dict[tuple[int, int], int] = {}
    for d in newest:
        weeks.setdefault(dates[d].isocalendar()[:2], d)
        months.setdefault((dates[d].year, dates[d].month), d)
    keep |= set(sorted(weeks.values(), reverse=True)[:4]) | set(sorted(months.values(), reverse=True)[:3])
    return {d for d in keep if START + timedelta(days=d) >= now - timedelta(days=30)}


def test_it_keeps_exactly_what_the_policy_says_over_90_days() -> None:
    alive = simulate(90)
    assert set(alive) == expected_days(90)
    # 2025-03-31 is day 89: the last 7 days, the Sundays ending the 3 weeks before, and March's newest.
    assert {(START + timedelta(days=d)).date() for d in alive} >= {date(2025, 3, 31), date(2025, 3, 23)}
    assert all(START + timedelta(days=89) - alive[d].created_at <= timedelta(days=30) for d in alive)


def test_it_never_deletes_the_newest_verified_backup() -> None:
    alive = simulate(90, verified_day=20)
    assert set(alive) == expected_days(90) | {20}


def test_an_incremental_chain_is_never_broken() -> None:
    alive = simulate(90, incremental=True)
    for archive in alive.values():
        assert archive.parent is None or archive.parent in alive
    assert expected_days(90) <= set(alive)
    fulls = [a for a in alive.values() if a.parent is None]
    assert fulls and all(a.created_at.weekday() == 6 or a.id == 0 for a in fulls)


def test_the_newest_archive_is_kept_even_when_counts_are_zero() -> None:
    archives = [ArchiveFacts(i, START + timedelta(days=i)) for i in range(5)]
    assert to_delete(archives, Rules(0, 0, 0, 0, 1), now=START + timedelta(days=4)) == [3, 2, 1, 0]
