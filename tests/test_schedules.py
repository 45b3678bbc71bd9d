"""The one schedule dispatcher (dms_admin.schedules.dispatch_due), on the real Redis and the test database."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import django_rq
import pytest

from dms_admin import schedules
from dms_admin.models import JobRun

pytestmark = pytest.mark.django_db(transaction=True)  # django_rq enqueues when the transaction commits

NAMESPACE = uuid.UUID("9a1d2f36-3c47-4a55-8e0b-1d2c3b4a5f60")
KIND = "spam-train"
FUNC = "spam.jobs.training_job"


@dataclass(frozen=True)
class Row:
    id: int
    cron: str
    timezone: str = "UTC"
    enabled: bool = True


@pytest.fixture(autouse=True)
def _redis(settings, redis_url):  # type: ignore[no-untyped-def]
    settings.RQ_QUEUES = {name: {"URL": redis_url} for name in ("default", "backups")}
    for name in ("default", "backups"):
        django_rq.get_queue(name).empty()


def dispatch(rows: list[Row], now: datetime, **options: object) -> schedules.Dispatched[Row]:
    return schedules.dispatch_due(
        rows,
        kind=KIND,
        func=FUNC,
        namespace=NAMESPACE,
        label="test schedule",
        now=now,
        **options,  # type: ignore[arg-type]
    )


def run_id(schedule_id: int, minute: datetime) -> str:
    return str(schedules.schedule_run_id(NAMESPACE, KIND, schedule_id, minute))


def test_a_schedule_starts_in_its_own_minute_of_its_own_zone_and_not_before() -> None:
    rows = [Row(1, "30 2 * * *", "Europe/Paris"), Row(2, "30 3 * * *", "Europe/Paris")]
    assert dispatch(rows, datetime(2025, 7, 1, 0, 29, 50, tzinfo=UTC)).started == []  # 02:29 in Paris
    tick = dispatch(rows, datetime(2025, 7, 1, 0, 30, 20, tzinfo=UTC), queue="backups", timeout=99)
    minute = datetime(2025, 7, 1, 0, 30, tzinfo=UTC)
    assert tick.started == [run_id(1, minute)] and (tick.known, tick.waiting, tick.bad) == (0, [], [])
    run = JobRun.objects.get()
    assert (run.kind, run.func, run.args, run.queue, run.status) == (KIND, FUNC, [1], "backups", "queued")
    job = django_rq.get_queue("backups").fetch_job(tick.started[0])
    assert job is not None and job.func_name == FUNC and job.args == (tick.started[0], 1) and job.timeout == 99
    assert dispatch(rows, datetime(2025, 7, 1, 0, 31, 0, tzinfo=UTC)).started == []  # its minute is over


@pytest.mark.parametrize(
    ("night", "runs_at"),
    [
        ("2025-03-29", []),  # 02:00-03:00 does not exist that night in Paris: no 02:30 run
        ("2025-10-25", [datetime(2025, 10, 26, 0, 30, tzinfo=UTC)]),  # it comes twice: one run, 02:30+02:00
    ],
)
def test_a_dst_night_starts_a_run_at_most_once(night: str, runs_at: list[datetime]) -> None:
    rows = [Row(7, "30 2 * * *", "Europe/Paris")]
    start = datetime.fromisoformat(f"{night}T23:00:30+00:00")
    started = []
    for minute in range(300):  # every minute of the night, with a catch-up window as backups have
        started += dispatch(rows, start + timedelta(minutes=minute), catch_up=timedelta(minutes=10)).started
    assert started == [run_id(7, when) for when in runs_at]
    assert JobRun.objects.count() == len(runs_at)


def test_a_minute_dispatched_twice_gives_one_run() -> None:
    rows = [Row(3, "* * * * *")]
    now = datetime(2025, 1, 1, 12, 0, 10, tzinfo=UTC)
    first = dispatch(rows, now)
    again = dispatch(rows, now + timedelta(seconds=40))  # a retried tick, a second dispatcher
    assert len(first.started) == 1 and again.started == [] and again.known == 1
    # The same schedule twice in one tick: its run is not known yet when looked up, so the second
    # insert of the id is what refuses it (as for two dispatchers racing in the same minute).
    racing = dispatch([Row(4, "* * * * *"), Row(4, "* * * * *")], now)
    assert racing.started == [run_id(4, now.replace(second=0))]
    assert JobRun.objects.count() == 2
    assert sorted(django_rq.get_queue("default").job_ids) == sorted(first.started + racing.started)


def test_a_disabled_schedule_is_skipped(caplog) -> None:  # type: ignore[no-untyped-def]
    tick = dispatch([Row(5, "* * * * *", enabled=False), Row(6, "bad", enabled=False)], datetime.now(UTC))
    assert (tick.started, tick.known, tick.waiting, tick.bad) == ([], 0, [], [])
    assert not JobRun.objects.exists() and caplog.records == []


def test_a_bad_cron_or_zone_is_one_warning_and_the_others_still_start(caplog) -> None:  # type: ignore[no-untyped-def]
    bad = [Row(11, "every night"), Row(12, "61 * * * *"), Row(13, "* * * * *", "Mars/Olympus")]
    bad += [Row(14, "* * * * *", "Europe"), Row(15, "* * * * *", ""), Row(16, "* * * * *", "../../etc/passwd")]
    good = [Row(10, "* * * * *"), Row(17, "0 12 * * *", "Asia/Tokyo")]  # 12:00 in Tokyo is 03:00 UTC
    now = datetime(2025, 1, 1, 3, 0, 10, tzinfo=UTC)
    with caplog.at_level(logging.WARNING, logger="dms_admin.schedules"):
        tick = dispatch([good[0], *bad, good[1]], now)
    assert tick.started == [run_id(10, now.replace(second=0)), run_id(17, now.replace(second=0))]
    assert tick.bad == bad
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == len(bad)
    for row, message in zip(bad, warned, strict=True):
        assert message.startswith(f"test schedule {row.id} has a bad cron or time zone: ")


def test_a_busy_schedule_waits_and_one_at_a_time_starts_one(django_assert_max_num_queries) -> None:  # type: ignore[no-untyped-def]
    rows = [Row(21, "0 3 * * *"), Row(22, "0 3 * * *"), Row(23, "0 3 * * *"), Row(24, "0 4 * * *")]
    now = datetime(2025, 1, 1, 3, 0, 10, tzinfo=UTC)
    minute = now.replace(second=0)
    tick = dispatch(rows, now, busy=lambda row: row.id == 21, result=lambda row: {"schedule": row.id})
    assert tick.started == [run_id(22, minute), run_id(23, minute)] and tick.waiting == [(rows[0], minute)]
    assert JobRun.objects.get(pk=tick.started[0]).result == {"schedule": 22}

    JobRun.objects.all().delete()
    asked = []
    with django_assert_max_num_queries(4):  # the known runs, then the insert of one (in a savepoint)
        single = dispatch(rows, now, busy=lambda row: asked.append(row.id) or False, one_at_a_time=True)
    assert single.started == [run_id(21, minute)] and single.waiting == [(rows[1], minute), (rows[2], minute)]
    assert asked == [21]  # asked once: after one started, the others wait without asking
    JobRun.objects.all().delete()
    assert dispatch(rows, now, busy=lambda row: True, one_at_a_time=True).waiting == [(r, minute) for r in rows[:3]]


def test_enabled_rows_read_as_tuples_are_schedules() -> None:
    row = schedules.EnabledRow._make((8, "* * * * *", "UTC"))
    assert (row.id, row.cron, row.timezone, row.enabled) == (8, "* * * * *", "UTC", True)
    assert len(dispatch([row], datetime(2025, 1, 1, tzinfo=UTC)).started) == 1  # type: ignore[list-item]


@pytest.mark.parametrize("name", ["Europe", "", "Mars/Olympus", "../etc", "/etc/localtime", "UTC\x00", "x" * 300])
def test_a_zone_that_is_not_one_is_a_value_error(name: str) -> None:
    with pytest.raises(ValueError, match="is not a known time zone"):
        schedules.zone(name)
    with pytest.raises(ValueError):
        schedules.due_minute("* * * * *", name, datetime(2025, 1, 1, tzinfo=UTC))
    assert schedules.next_of([("* * * * *", name), ("0 1 * * *", "UTC")], datetime(2025, 1, 1, tzinfo=UTC)) == (
        datetime(2025, 1, 1, 1, 0, tzinfo=UTC)
    )
