"""The health page: every check of the mail container and of the dashboard, each with its fix.

A check never raises: an engine or Redis that cannot be reached is the check's answer. When the
mail container is unreachable, the checks that need it are left out and the report says so.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.timesince import timesince

from dms_admin import units
from dms_admin.dms import ContainerStatus, DockerUnavailable, MailServer, get_mailserver
from dms_admin.envfile import parse_env
from dms_admin.models import JobRun
from dms_admin.ops import logscan

OK, WARN, ERROR = "ok", "warn", "error"
RANK = {OK: 0, WARN: 1, ERROR: 2}

# FAQ "system requirements": ClamAV keeps its signatures (~850 MB and growing) in RAM.
CLAMAV_MIN_MEMORY = 1536 * 1024 * 1024
CLOCK_WARN_SECONDS = 2.0
CLOCK_ERROR_SECONDS = 60.0
BACKUP_MAX_AGE = timedelta(days=8)
LOG_WINDOW = timedelta(hours=24)
LOG_TAIL = 5000

LOCALTIME_FIX = (
    "FAQ “How can I sync container with host date/time?”: mount the host's /etc/localtime into the mail"
    " container (`volumes: - /etc/localtime:/etc/localtime:ro`) and keep the host clock synced with NTP;"
    " set the dashboard's TZ to the same zone."
)


Gauge = tuple[str, str, float]  # (/metrics name with labels, help text, value)


@dataclasses.dataclass(frozen=True)
class Check:
    id: str
    title: str
    status: str  # ok | warn | error
    message: str
    fix: str = ""
    details: tuple[str, ...] = ()
    link: str = ""  # where the detail is (a path)
    gauges: tuple[Gauge, ...] = ()  # the same facts as numbers, for /metrics

    @property
    def ok(self) -> bool:
        return self.status == OK


@dataclasses.dataclass(frozen=True)
class Program:
    name: str
    state: str  # RUNNING, STOPPED, STARTING, BACKOFF, EXITED, FATAL, …
    detail: str
    expected: bool


@dataclasses.dataclass(frozen=True)
class HealthReport:
    checks: list[Check]
    container: ContainerStatus | None
    container_error: str  # set when the mail container is unreachable
    programs: list[Program]
    checked_at: datetime

    @property
    def reachable(self) -> bool:
        return not self.container_error

    @property
    def status(self) -> str:
        return max((c.status for c in self.checks), key=RANK.__getitem__, default=OK)


# ---- pure helpers --------------------------------------------------------------------------

# dms-healthcheck (v16) assigns these defaults through /etc/dms-settings; v15 has the same defaults.
_DEFAULTS = {"SMTP_ONLY": "0", "ENABLE_OPENDKIM": "1", "ENABLE_OPENDMARC": "1", "ENABLE_AMAVIS": "1"}
# Kept by hand (fmt: skip): a table of (switch, program) pairs, three a line.
_OPTIONAL = (
    ("ENABLE_OPENDKIM", "opendkim"), ("ENABLE_OPENDMARC", "opendmarc"), ("ENABLE_AMAVIS", "amavis"),
    ("ENABLE_CLAMAV", "clamav"), ("ENABLE_FAIL2BAN", "fail2ban"), ("ENABLE_POSTGREY", "postgrey"),
    ("ENABLE_SRS", "postsrsd"), ("ENABLE_RSPAMD_REDIS", "rspamd-redis"), ("ENABLE_RSPAMD", "rspamd"),
    ("ENABLE_MTA_STS", "mta-sts-daemon"),
)  # fmt: skip


def effective_settings(env: dict[str, str], dms_settings: str | None) -> dict[str, str]:
    """What DMS runs with: /etc/dms-settings when the image writes it, else the env with DMS's defaults."""
    if dms_settings:
        return parse_env(dms_settings)
    values = {k: v for k, v in env.items() if v != ""}  # DMS: unset or empty → default
    for key, default in _DEFAULTS.items():
        values.setdefault(key, default)
    values.setdefault("ENABLE_RSPAMD_REDIS", values.get("ENABLE_RSPAMD", "0"))
    return values


def expected_programs(values: dict[str, str], present: list[str]) -> list[str]:
    """The supervisor programs that must be RUNNING, as DMS's `dms-healthcheck` derives them."""
    expected = ["cron", "rsyslog", "postfix", "changedetector"]
    if values.get("SMTP_ONLY") != "1":
        expected.append("dovecot")
    expected += [program for key, program in _OPTIONAL if values.get(key) == "1"]
    if values.get("ENABLE_SASLAUTHD") == "1":
        expected.append(f"saslauthd_{values.get('SASLAUTHD_MECHANISMS', '')}")
    for key, program in (("ENABLE_FETCHMAIL", "fetchmail"), ("ENABLE_GETMAIL", "getmail")):
        if values.get(key) == "1":
            # With FETCHMAIL_PARALLEL / GETMAIL_PARALLEL there is one numbered program per account.
            numbered = [p for p in present if p.startswith(program + "-") and p[len(program) + 1 :].isdigit()]
            expected += numbered or [program]
    return expected


def parse_supervisorctl(output: str) -> list[tuple[str, str, str]]:
    """`supervisorctl status` lines: `<program> <STATE> <detail>` → (program, state, detail)."""
    rows = []
    for line in output.splitlines():
        parts = line.split(None, 2)
        if len(parts) >= 2 and parts[1].isupper() and parts[1].isalpha():
            rows.append((parts[0], parts[1], parts[2].strip() if len(parts) > 2 else ""))
    return rows


def programs_check(rows: list[tuple[str, str, str]], expected: list[str]) -> tuple[Check, list[Program]]:
    present = {name: (state, detail) for name, state, detail in rows}
    programs = [Program(name, state, detail, name in expected) for name, state, detail in rows]
    down = [f"{name} {present[name][0]}" for name in expected if name in present and present[name][0] != "RUNNING"]
    starting = [d for d in down if d.endswith(" STARTING")]
    failed = [d for d in down if not d.endswith(" STARTING")]
    absent = [name for name in expected if name not in present]
    running = [name for name in expected if present.get(name, ("",))[0] == "RUNNING"]
    message = f"{len(running)} of {len(expected)} expected services running"
    details = []
    if failed:
        details.append("Not running: " + ", ".join(failed))
    if starting:
        details.append("Starting: " + ", ".join(starting))
    if absent:
        details.append("Expected but not a program of this image: " + ", ".join(absent))
    status = ERROR if failed else WARN if (starting or absent) else OK
    fix = ""
    if failed:
        fix = (
            "Read the service's log (Logs page, filtered by service, or /var/log/supervisor/<program>.log), fix"
            " the cause, then `supervisorctl restart <program>` in the container or re-create it."
        )
    elif absent:
        fix = "The settings enable services this image does not define: is it a docker-mailserver image?"
    return Check("services", "Services", status, message, fix, tuple(details)), programs


def memory_check(used: int, limit: int, values: dict[str, str]) -> Check:
    message = f"Using {_size(used)} of {_size(limit)}" + (f" ({used * 100 // limit} %)" if limit else "")
    if values.get("ENABLE_CLAMAV") == "1" and limit and limit < CLAMAV_MIN_MEMORY:
        return Check(
            "memory",
            "Memory",
            WARN,
            f"ClamAV is on and the container can use only {_size(limit)} (now using {_size(used)}); ClamAV"
            " alone holds about 850 MB of signatures in memory and is killed when memory runs out.",
            "FAQ “system requirements”: with ClamAV give the container 1 core and 1 GB RAM plus swap (about"
            " 3 GB without swap) — raise the memory limit or the host's memory, or set ENABLE_CLAMAV=0.",
        )
    if limit and used > limit * 0.9:
        return Check(
            "memory",
            "Memory",
            WARN,
            message + ": nearly full.",
            "Raise the container's memory limit or turn off services you do not need (ClamAV uses the most).",
        )
    return Check("memory", "Memory", OK, message)


def clock_check(container_epoch: float, container_offset: str, local_epoch: float, margin: float) -> Check:
    """Compare the container's clock (`date +%s`) with ours, taken at the middle of the exec call."""
    diff = container_epoch - local_epoch
    ours = timezone.localtime().strftime("%z")
    if abs(diff) <= CLOCK_WARN_SECONDS + margin:
        status, message = OK, "In step with the dashboard."
    else:
        status = ERROR if abs(diff) > CLOCK_ERROR_SECONDS + margin else WARN
        message = f"The container's clock is {abs(diff):.0f} s {'ahead of' if diff > 0 else 'behind'} the dashboard's."
    if container_offset and container_offset != ours:
        status = status if status == ERROR else WARN
        message += (
            f" The container's time zone is UTC{_offset(container_offset)}, the dashboard's UTC{_offset(ours)}:"
            " log times differ."
        )
    return Check("clock", "Clock", status, message, "" if status == OK else LOCALTIME_FIX)


def _offset(zone: str) -> str:
    return f"{zone[:3]}:{zone[3:]}"


def age_check(
    id: str,
    title: str,
    last: JobRun | None,
    latest: JobRun | None,
    *,
    max_age: timedelta | None,
    never_status: str,
    now: datetime,
) -> Check:
    """How long ago the last successful job of a kind finished; warns on a newer failure."""
    when = f"{timesince(last.finished_at, now)} ago" if last and last.finished_at else "never"
    age = (now - last.finished_at).total_seconds() if last and last.finished_at else -1
    succeeded = 1 if latest is not None and latest.status == JobRun.Status.SUCCEEDED else 0
    gauges = (
        (f"dms_admin_last_{id}_age_seconds", f"Seconds since the last successful {id} finished (-1: never)", age),
        (f"dms_admin_last_{id}_succeeded", f"1 if the last {id} that ended succeeded", succeeded),
    )
    status, message, fix = OK, when, ""
    if (
        latest is not None
        and latest.status == JobRun.Status.FAILED
        and (last is None or latest.created_at > last.created_at)
    ):
        error = latest.error.strip().splitlines()[-1:] or [""]
        status, message = WARN, f"The last run failed: {error[0][:200]} (last success: {when})."
        fix = "Open the job for the whole error; run it again once fixed."
    elif last is None or last.finished_at is None:
        status = never_status
    elif max_age and now - last.finished_at > max_age:
        status, message, fix = WARN, f"{when}: older than {max_age.days} days.", "Check the schedule and the worker."
    return Check(id, title, status, message, fix, gauges=gauges)


def next_line(
    check: Check,
    next_at: datetime | None,
    *,
    link: str,
    kind: str,
    now: datetime,
    none: str,
    none_status: str | None = None,
) -> Check:
    """`check` with when the next run of `kind` is due, or `none` when no schedule is enabled."""
    if next_at is None:
        status = none_status or check.status
        fix = check.fix or ("Add a schedule." if status != OK else "")
        return dataclasses.replace(check, status=status, message=f"{check.message} {none}", fix=fix, link=link)
    when = timezone.localtime(next_at)
    message = f"{check.message} Next {kind}: {when:%Y-%m-%d %H:%M} (in {timesince(now, next_at)})."
    return dataclasses.replace(check, message=message, link=link)


def log_checks(lines: list[logscan.LogLine]) -> list[Check]:
    found = logscan.findings(lines)
    if not found:
        return [Check("logs", "Known errors in the logs", OK, "None in the last 24 hours.")]
    checks = []
    for finding in found:
        when = f" at {timezone.localtime(finding.last.at):%Y-%m-%d %H:%M:%S}" if finding.last.at else ""
        times = "once" if finding.count == 1 else f"{finding.count} times"
        checks.append(
            Check(
                f"log:{finding.error.id}",
                finding.error.title,
                finding.error.severity,
                f"{finding.error.explanation} Seen {times} in the last 24 hours, last{when}.",
                finding.error.fix,
                (finding.last.text,),
            )
        )
    return checks


def _size(n: int) -> str:
    return units.format_bytes(n)  # the one size format of every page (dms_admin.units)


# ---- checks that talk to something -----------------------------------------------------------


def _guarded(id: str, title: str, func: Callable[[], list[Check]]) -> list[Check]:
    try:
        return func()
    except DockerUnavailable as exc:
        from dms_admin.plain import explain

        problem = explain(exc)
        return [Check(id, title, ERROR, f"Could not check: {problem.sentence}", problem.fix, (problem.details,))]


def _container_check(status: ContainerStatus) -> Check:
    up = f", up {timesince(status.started_at)}" if status.started_at and status.running else ""
    state = status.state + (f" · {status.health}" if status.health else "")
    if not status.running:
        return Check(
            "container",
            "Mail container",
            ERROR,
            f"{status.name} is {state}.",
            "See the Logs page for why it stopped; start it with `docker compose up -d mailserver`.",
        )
    if status.health == "unhealthy":
        return Check(
            "container",
            "Mail container",
            ERROR,
            f"{status.name} is {state}{up}.",
            "The image's healthcheck fails: see the services below and the Logs page.",
        )
    if status.health == "starting":
        return Check(
            "container",
            "Mail container",
            WARN,
            f"{status.name} is {state}{up}.",
            "It has just started; with ClamAV this takes minutes.",
        )
    return Check("container", "Mail container", OK, f"{status.name} is {state}{up}.")


def _version_check(status: ContainerStatus) -> Check:
    if not status.version:
        return Check(
            "version",
            "DMS version",
            WARN,
            f"Unknown (image {status.image}).",
            "The image has neither DMS_RELEASE nor a version label: is it docker-mailserver?",
        )
    return Check("version", "DMS version", OK, f"{status.version} (image {status.image})")


def _dms_settings(mailserver: MailServer) -> dict[str, str]:
    result = mailserver.exec(["cat", "/etc/dms-settings"], timeout=10)
    return effective_settings(mailserver.env(), result.output if result.ok else None)


def _services(mailserver: MailServer, values: dict[str, str]) -> tuple[Check, list[Program]]:
    result = mailserver.exec(["supervisorctl", "status"], timeout=15)
    rows = parse_supervisorctl(result.output)
    if not rows:
        reason = result.output.strip()[:300] or f"exit {result.exit_code}"
        return Check("services", "Services", ERROR, f"supervisorctl status answered nothing usable: {reason}"), []
    return programs_check(rows, expected_programs(values, [r[0] for r in rows]))


def _clock(mailserver: MailServer, now: Callable[[], float]) -> Check:
    before = now()
    result = mailserver.exec(["date", "+%s.%N %z"], timeout=10)
    after = now()
    epoch, _, offset = result.output.strip().partition(" ")
    try:
        container = float(epoch) if "N" not in epoch else float(epoch.split(".")[0])
    except ValueError:
        return Check("clock", "Clock", WARN, f"Could not read the container's clock: {result.output.strip()[:200]}")
    # `date` runs somewhere within the round trip; whole seconds only if %N is not supported.
    margin = (after - before) / 2 + (1.0 if "." not in epoch else 0.0)
    return clock_check(container, offset, (before + after) / 2, margin)


def _logs(mailserver: MailServer) -> list[Check]:
    output = mailserver.logs(since=timezone.now() - LOG_WINDOW, tail=LOG_TAIL)
    return log_checks(logscan.parse_lines(output))


def config_folder_check() -> Check:
    from dms_admin.checks import config_dir_check

    problems = config_dir_check(None)
    if problems:
        return Check("config", "Config folder", ERROR, problems[0].msg, problems[0].hint or "")
    return Check("config", "Config folder", OK, f"{settings.DMS_CONFIG_DIR} is writable.")


def redis_checks() -> list[Check]:
    import redis
    from rq import Queue, Worker

    queues = settings.RQ_QUEUES
    url = str(queues["default"]["URL"])
    connection = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        connection.ping()
        workers = Worker.all(connection=connection)
        waiting = {name: Queue(name, connection=connection).count for name in queues}
    except redis.RedisError as exc:
        return [
            Check(
                "redis",
                "Redis",
                ERROR,
                f"Redis at {_redacted(url)} cannot be reached: {exc}",
                "Start Redis (`docker compose up -d redis`) and check REDIS_URL.",
            ),
            Check("workers", "Workers", ERROR, "Not checked: Redis is unreachable."),
        ]
    finally:
        connection.close()
    redis_ok = Check("redis", "Redis", OK, f"Reachable; {sum(waiting.values())} job(s) waiting.")
    now = datetime.now(UTC)
    alive = [w for w in workers if w.last_heartbeat is None or now - _aware(w.last_heartbeat) < timedelta(minutes=10)]
    served = {q for w in alive for q in w.queue_names()}
    unserved = [q for q in queues if q not in served]
    fix = (
        "Start the worker: `docker compose up -d worker` (python manage.py rqworker default backups --with-scheduler)."
    )
    if not alive:
        return [
            redis_ok,
            Check(
                "workers", "Workers", ERROR, "No worker is running: apply, backup and training jobs wait forever.", fix
            ),
        ]
    message = f"{len(alive)} worker(s) alive, serving {', '.join(sorted(served))}."
    if unserved:
        return [redis_ok, Check("workers", "Workers", WARN, f"{message} No worker serves {', '.join(unserved)}.", fix)]
    return [redis_ok, Check("workers", "Workers", OK, message)]


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _redacted(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port or 6379}"


# ---- checks the feature apps add (the kernel imports none of them) ---------------------------

_PROVIDERS: dict[str, Callable[[], list[Check]]] = {}


def register_checks(name: str, provider: Callable[[], list[Check]]) -> None:
    """An app's checks (counts, last backup, training…), added from its AppConfig.ready()."""
    _PROVIDERS[name] = provider


def app_checks() -> list[Check]:
    from dms_admin.plain import explain

    checks: list[Check] = []
    for name, provider in _PROVIDERS.items():
        try:
            checks += provider()
        except Exception as exc:  # one app's broken check must not take the health page down
            problem = explain(exc)
            checks.append(Check(name, name.title(), WARN, f"Could not check: {problem.sentence}", problem.fix))
    return checks


def disk_checks() -> list[Check]:
    """Use and free space of the mail volumes as mounted here (statvfs: instant at any size)."""
    import shutil

    checks = []
    for volume, title, folder, setting in (
        ("mail", "Mail volume", settings.DMS_MAIL_DIR, "DMS_MAIL_DIR"),
        ("state", "State volume", settings.DMS_STATE_DIR, "DMS_STATE_DIR"),
    ):
        try:
            usage = shutil.disk_usage(folder)
        except OSError:
            checks.append(
                Check(
                    f"disk-{volume}",
                    title,
                    WARN,
                    f"{folder} is not mounted here.",
                    f"Mount the volume into the dashboard's containers and set {setting}: usage, quotas and backups"
                    " read it.",
                )
            )
            continue
        used = usage.total - usage.free
        ratio = used / usage.total if usage.total else 0.0
        status = ERROR if ratio > 0.95 else WARN if ratio > 0.85 else OK
        message = f"{_size(used)} used of {_size(usage.total)}, {_size(usage.free)} free ({ratio:.0%} full)."
        fix = (
            ""
            if status == OK
            else "Free space (old backups, big mailboxes) or grow the disk: a full disk stops delivery."
        )
        gauges = (
            (f'dms_admin_disk_free_bytes{{volume="{volume}"}}', "Free bytes on a mail volume", float(usage.free)),
            (f'dms_admin_disk_total_bytes{{volume="{volume}"}}', "Size of a mail volume", float(usage.total)),
        )
        checks.append(Check(f"disk-{volume}", title, status, message, fix, gauges=gauges))
    return checks


def pending_check() -> Check:
    from dms_admin.changes import pending_files
    from dms_admin.models import PendingChange

    files = pending_files(list(PendingChange.objects.all()))
    gauges = (("dms_admin_pending_changes", "Files saved that the mail container does not use yet", len(files)),)
    if not files:
        return Check(
            "pending",
            "Pending changes",
            OK,
            "None: the mail server runs the saved configuration.",
            link="/apply/",
            gauges=gauges,
        )
    names = ", ".join(f"{f.path} ({f.action})" for f in files[:4]) + (" …" if len(files) > 4 else "")
    return Check(
        "pending",
        "Pending changes",
        WARN,
        f"{len(files)} file(s) not in use yet: {names}.",
        "Review and apply them (Apply page).",
        link="/apply/",
        gauges=gauges,
    )


def queue_summary(lines: str, now: float) -> tuple[int, int, float]:
    """`postqueue -j` (one JSON object per message): count, deferred, oldest age in seconds."""
    import json

    count = deferred = 0
    oldest = now
    for line in lines.splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        count += 1
        deferred += item.get("queue_name") == "deferred"
        oldest = min(oldest, float(item.get("arrival_time") or now))
    return count, deferred, now - oldest if count else 0.0


def queue_check(output: str, ok: bool, now: float) -> Check:
    if not ok:
        return Check(
            "queue",
            "Mail queue",
            WARN,
            f"postqueue -j failed: {output.strip()[:200]}",
            "Postfix may be down: see the services above.",
        )
    count, deferred, oldest = queue_summary(output, now)
    gauges = (
        ("dms_admin_mail_queue_messages", "Messages in the Postfix queue", count),
        ("dms_admin_mail_queue_oldest_seconds", "Age of the oldest queued message", oldest),
    )
    if not count:
        return Check("queue", "Mail queue", OK, "Empty.", gauges=gauges)
    message = f"{count} message(s), {deferred} deferred, the oldest {_age(oldest)} old."
    if oldest > 3600 or count > 200:
        return Check(
            "queue",
            "Mail queue",
            WARN,
            message,
            "Deferred mail usually means a remote refuses or cannot be reached: the Logs page says why"
            " (search for the recipient's domain); `postqueue -f` retries now.",
            gauges=gauges,
        )
    return Check("queue", "Mail queue", OK, message, gauges=gauges)


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


def _queue(mailserver: MailServer, now: Callable[[], float]) -> Check:
    result = mailserver.exec(["postqueue", "-j"], timeout=15)
    return queue_check(result.output, result.ok, now())


# ---- the report ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ContainerPart:
    """What the report learns from the engine and the container: the slow part (round trips)."""

    checks: list[Check]
    container: ContainerStatus | None
    container_error: str
    programs: list[Program]


def container_part(mailserver: MailServer, now: Callable[[], float] = time.time) -> ContainerPart:
    try:
        container = mailserver.status()
    except DockerUnavailable as exc:
        from dms_admin.plain import explain

        problem = explain(exc)
        check = Check("container", "Mail container", ERROR, problem.sentence, problem.fix, (problem.details,))
        return ContainerPart([check], None, str(exc), [])
    checks = [_container_check(container), _version_check(container)]
    programs: list[Program] = []
    if container.running:
        found, programs = _container_checks(mailserver, now)
        checks += found
    return ContainerPart(checks, container, "", programs)


def local_checks() -> list[Check]:
    """What the dashboard reads itself (files, database, Redis, disks): cheap, always fresh."""
    return [*disk_checks(), config_folder_check(), *redis_checks(), pending_check(), *app_checks()]


def health_report(
    *, mailserver: MailServer | None = None, now: Callable[[], float] = time.time, container_max_age: float = 0.0
) -> HealthReport:
    """Every check. With `container_max_age`, the container's part may be that many seconds old
    (home and /metrics show it on every view); what the dashboard reads itself is always fresh."""
    if container_max_age:
        part = _cached_container_part(container_max_age)
    else:
        part = container_part(mailserver or get_mailserver(), now)
    return HealthReport(
        [*part.checks, *local_checks()], part.container, part.container_error, part.programs, timezone.now()
    )


_cached: tuple[float, ContainerPart] | None = None
_cache_lock = threading.Lock()
CONTAINER_MAX_AGE = 10.0


def _cached_container_part(max_age: float) -> ContainerPart:
    # One thread asks the engine; the others wait for its answer instead of asking too.
    global _cached
    with _cache_lock:
        if _cached is not None and time.monotonic() - _cached[0] < max_age:
            return _cached[1]
        part = container_part(get_mailserver())
        _cached = (time.monotonic(), part)
        return part


def health_report_cached() -> HealthReport:
    return health_report(container_max_age=CONTAINER_MAX_AGE)


def forget_cached_report() -> None:
    global _cached
    _cached = None


def _container_checks(mailserver: MailServer, now: Callable[[], float]) -> tuple[list[Check], list[Program]]:
    """The checks that exec in or read from the running container, side by side (each is a round trip)."""
    try:
        values = _dms_settings(mailserver)
    except DockerUnavailable as exc:
        return [Check("services", "Services", ERROR, f"Could not check: {exc}")], []
    programs: list[Program] = []

    def services() -> list[Check]:
        nonlocal programs
        check, programs = _services(mailserver, values)
        return [check]

    def memory() -> list[Check]:
        stats = mailserver.memory()
        return [memory_check(stats.used, stats.limit, values)]

    jobs: list[tuple[str, str, Callable[[], Any]]] = [
        ("services", "Services", services),
        ("memory", "Memory", memory),
        ("clock", "Clock", lambda: [_clock(mailserver, now)]),
        ("queue", "Mail queue", lambda: [_queue(mailserver, now)]),
        ("logs", "Known errors in the logs", lambda: _logs(mailserver)),
    ]
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = [pool.submit(_guarded, id, title, func) for id, title, func in jobs]
        results = [check for future in futures for check in future.result()]
    return results, programs
