"""When a cron schedule in its own time zone is due: one rule for training and backup schedules.

Schedules are written in wall-clock time of a zone (02:30 Europe/Paris is 00:30 UTC in summer,
01:30 UTC in winter). Around DST changes: a wall-clock minute that does not exist that night
(spring forward) does not fire; one that comes twice (fall back) fires once, on its first pass.
croniter alone gets both wrong (it fires a skipped 02:30 at 03:00, and a repeated one at 02:30
and again at 02:59), so the minutes are walked in UTC here and croniter only matches fields.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

ONE_MINUTE = timedelta(minutes=1)


@functools.lru_cache(maxsize=4096)
def _minutes_hours(cron: str) -> tuple[frozenset[int] | None, frozenset[int] | None]:
    """The minutes and hours a cron expression can fire at (None: any, or not plain numbers)."""
    fields, _ = croniter.expand(cron)

    def numbers(field: list[int | str]) -> frozenset[int] | None:
        return frozenset(v for v in field if isinstance(v, int)) if all(isinstance(v, int) for v in field) else None

    return numbers(fields[0]), numbers(fields[1])


def matches(cron: str, local: datetime) -> bool:
    """Whether the wall-clock minute `local` is one of the expression's."""
    minutes, hours = _minutes_hours(cron)
    # croniter.match costs ~0.3 ms; a minute or hour the expression never names is ruled out
    # ~20 times faster from the cached expansion (most of a tick at 1,000 schedules).
    if (minutes is not None and local.minute not in minutes) or (hours is not None and local.hour not in hours):
        return False
    return bool(croniter.match(cron, local.replace(tzinfo=None, fold=0)))


def due_minute(cron: str, tz: str, now: datetime, *, catch_up: timedelta = ONE_MINUTE) -> datetime | None:
    """The latest scheduled minute (UTC) in the `catch_up` window that ends with `now`'s minute, or None.

    With the default window, only `now`'s own minute counts. A longer one lets a dispatcher that
    was down for a few minutes still start what fell due meanwhile (the caller keeps it to once,
    by run ids made from the minute). Raises ValueError/KeyError for a bad cron or zone.
    """
    zone = ZoneInfo(tz)
    minute = now.astimezone(UTC).replace(second=0, microsecond=0)
    for back in range(max(1, catch_up // ONE_MINUTE)):
        candidate = minute - back * ONE_MINUTE
        local = candidate.astimezone(zone)
        if local.fold:  # the second pass of a repeated wall-clock hour: it fired on the first
            continue
        if matches(cron, local):
            return candidate
    return None


def next_run(cron: str, tz: str, now: datetime) -> datetime | None:
    """The next minute (UTC) after `now` the schedule fires at, by the rule above; None if none
    within a thousand candidates. Raises ValueError/KeyError for a bad cron or zone."""
    zone = ZoneInfo(tz)
    start = now.astimezone(zone).replace(tzinfo=None, second=0, microsecond=0)
    candidates = croniter(cron, start)
    for _ in range(1000):
        local = candidates.get_next(datetime)
        aware = local.replace(tzinfo=zone, fold=0)
        if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != local:
            continue  # a wall-clock minute that does not exist that night (spring forward)
        return aware.astimezone(UTC)
    return None


def next_of(schedules: list[tuple[str, str]], now: datetime) -> datetime | None:
    """The soonest next run of several (cron, zone) schedules; bad ones are left out."""
    found = []
    for cron, tz in schedules:
        try:
            when = next_run(cron, tz, now)
        except (ValueError, KeyError):
            continue
        if when is not None:
            found.append(when)
    return min(found, default=None)
