"""Backup policies, runs, verify, prune, download and restore: every caller goes through here."""

from __future__ import annotations

import base64
import contextlib
import fcntl
import logging
import os
import pwd
import re
import shutil
import stat
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import redis
from croniter import croniter
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from backups import archive as arc
from backups import retention
from backups.models import BackupArchive, BackupPolicy
from dms_admin.audit import Actor, audit_record
from dms_admin.errors import Conflict, FieldError
from dms_admin.jobqueue import QUEUE_UNREACHABLE, QueueUnavailable, job_enqueue, rq_queue
from dms_admin.mailnames import address_key
from dms_admin.models import JobRun
from dms_admin.schedules import zone
from dms_admin.units import format_bytes, number

ACTIVE = (JobRun.Status.QUEUED, JobRun.Status.RUNNING)
POLICY_KINDS = ("backup", "prune", "restore")
MAX_CHAIN = 6  # incrementals after a full before the next full: restores stay quick
SCOPES = ("all", "mailbox", "config")
POLICY_FIELDS = (
    "name",
    "include_mail",
    "include_state",
    "include_config",
    "destination",
    "cron",
    "timezone",
    "compression",
    "incremental",
    "age_recipient",
    "keep_last",
    "keep_daily",
    "keep_weekly",
    "keep_monthly",
    "max_age_days",
    "enabled",
)
# Never a backup destination, whatever BACKUP_ROOTS says: writing archives (and lock and temp
# files) there could plant files that the system runs or trusts (/etc/cron.d, /var/spool/cron).
SYSTEM_FOLDERS = (
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/proc",
    "/root",
    "/run",
    "/sbin",
    "/sys",
    "/usr",
    "/var/cache",
    "/var/lib",
    "/var/log",
    "/var/run",
    "/var/spool",
)
# How long an age secret key handed to a verify or restore job waits for a worker (see `_identity_hand_over`).
IDENTITY_TTL = 3600
_ADDRESS = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z0-9-]+$")

Report = Callable[[arc.Progress], None]
log = logging.getLogger(__name__)


def source_roots(include: list[str] | None = None) -> dict[str, Path]:
    roots = {
        "mail": Path(settings.DMS_MAIL_DIR),
        "state": Path(settings.DMS_STATE_DIR),
        "config": Path(settings.DMS_CONFIG_DIR),
    }
    return {k: v for k, v in roots.items() if include is None or k in include}


# ---- policies ------------------------------------------------------------------------------------


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def destination_problem(destination: str) -> str | None:
    """Why backups must not be written into this folder; None if they may.

    Symlinks are followed and `..` resolved first: the folder must end up inside one of
    BACKUP_ROOTS and outside dms-admin's own folders, the backed-up volumes and system folders.
    """
    if not isinstance(destination, str) or not destination.strip():
        return "Give the folder to write the archives to."
    if any(ord(c) < 32 or c == "\x7f" for c in destination) or len(destination) > 500:
        return "Give a folder path of at most 500 characters, without control characters."
    if not destination.startswith("/"):
        return f"Give an absolute folder path inside BACKUP_ROOTS ({_roots_shown()})."
    real = os.path.realpath(destination)
    via = f" (it resolves to {real})" if real != os.path.normpath(destination) else ""
    protected = (
        (settings.DATA_DIR, "dms-admin's data folder (its database and secret key)"),
        (settings.DMS_CONFIG_DIR, "the DMS config folder"),
        (settings.DMS_HISTORY_DIR, "the config history"),
        (settings.DMS_MAIL_DIR, "the mail folder, which is backed up"),
        (settings.DMS_STATE_DIR, "the mail state folder, which is backed up"),
        (settings.BASE_DIR, "dms-admin's program folder"),
    )
    for folder, what in protected:
        if _inside(real, os.path.realpath(folder)):
            return f"{destination}{via} is inside {what}, {folder}."
    if real == "/":
        return "Not the root folder: give a folder inside BACKUP_ROOTS."
    for system in SYSTEM_FOLDERS:
        if _inside(real, system) or _inside(real, os.path.realpath(system)):
            return f"{destination}{via} is inside the system folder {system}."
    if not any(_inside(real, os.path.realpath(root)) for root in settings.BACKUP_ROOTS):
        return f"{destination}{via} is outside the backup folders (BACKUP_ROOTS: {_roots_shown()})."
    return None


def _roots_shown() -> str:
    return ", ".join(str(root) for root in settings.BACKUP_ROOTS)


def _make_destination(destination: str) -> None:
    """Create the missing folders below a backup root, 0700: only the app's user looks inside."""
    real = Path(os.path.realpath(destination))
    missing = []
    while not os.path.lexists(real):
        missing.append(real)
        real = real.parent
    if missing and not any(_inside(str(real), os.path.realpath(root)) for root in settings.BACKUP_ROOTS):
        raise FieldError("destination", f"The backup folder for {destination} is not there (is the volume mounted?).")
    for folder in reversed(missing):
        try:
            os.mkdir(folder, 0o700)  # the umask can only take bits away
        except OSError as exc:
            raise FieldError("destination", f"{folder} cannot be created: {exc.strerror}.") from exc
    if not os.path.isdir(destination) or not os.access(destination, os.W_OK | os.X_OK):
        raise FieldError("destination", f"{destination} is not a folder dms-admin can write to.")


def checked_destination(policy: BackupPolicy) -> Path:
    """The policy's folder, checked again before anything is written there (a policy saved before
    BACKUP_ROOTS, or a symlink changed since, fails here with the reason)."""
    problem = destination_problem(policy.destination)
    if problem:
        raise FieldError(
            "destination",
            f"Nothing was written: the destination of {policy.name} is refused. {problem} "
            "Edit the policy to a folder inside BACKUP_ROOTS.",
        )
    dest = Path(policy.destination)
    if not dest.is_dir():
        raise FieldError("destination", f"The backup folder {dest} is not there (is the volume mounted?).")
    return dest


def archive_readers() -> str:
    """Who can read an unencrypted archive on this host: the Unix user this process runs as, and root."""
    uid = os.geteuid()
    try:
        name = f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        name = f"uid {uid}"
    return "root only (dms-admin runs as root here)" if uid == 0 else f"{name}, the user dms-admin runs as, and root"


def _validate(values: dict[str, Any]) -> None:
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,59}", values.get("name") or ""):
        raise FieldError("name", "Use lower-case letters, digits and dashes (it goes into the file names).")
    if not any(values.get(f"include_{n}") for n in ("mail", "state", "config")):
        raise FieldError("include", "Include at least one of mail, state and config.")
    problem = destination_problem(values.get("destination") or "")
    if problem:
        raise FieldError("destination", problem)
    values["destination"] = os.path.normpath(values["destination"])
    if values.get("age_recipient"):
        try:
            values["age_recipient"] = arc.age_recipient(str(values["age_recipient"]))
        except ValueError as exc:
            raise FieldError("age_recipient", str(exc)) from exc
    if not croniter.is_valid(values.get("cron") or ""):
        raise FieldError("cron", "Not a valid cron expression (five fields, like 30 3 * * *).")
    try:
        zone(values.get("timezone") or "")  # also refuses "Europe", a folder of the zone database
    except ValueError as exc:
        raise FieldError("timezone", "Not a known time zone, like Europe/Berlin or UTC.") from exc
    if values.get("compression") not in BackupPolicy.Compression.values:
        raise FieldError("compression", "Choose gzip or zstd.")
    if values["compression"] == "zstd" and not shutil.which("zstd"):
        raise FieldError("compression", "zstd is not installed here; use gzip.")


def policy_create(*, actor: Actor, **values: Any) -> BackupPolicy:
    policy = BackupPolicy()
    return _policy_save(policy, values, actor=actor, action="backup.policy-create")


def policy_update(*, policy: BackupPolicy, actor: Actor, **values: Any) -> BackupPolicy:
    return _policy_save(policy, values, actor=actor, action="backup.policy-update")


def _policy_save(policy: BackupPolicy, values: dict[str, Any], *, actor: Actor, action: str) -> BackupPolicy:
    unknown = set(values) - set(POLICY_FIELDS)
    if unknown:
        raise FieldError(sorted(unknown)[0], "Unknown field.")
    merged = {f: getattr(policy, f) for f in POLICY_FIELDS} | values
    _validate(merged)
    if BackupPolicy.objects.filter(name=merged["name"]).exclude(pk=policy.pk).exists():
        raise Conflict("name", f"A policy named {merged['name']} exists already.")
    _make_destination(merged["destination"])
    for field, value in merged.items():
        setattr(policy, field, value)
    policy.save()
    audit_record(actor=actor, action=action, object=policy.name)
    return policy


def policy_delete(*, policy: BackupPolicy, actor: Actor) -> None:
    if policy.archives.exists():
        raise Conflict(None, f"{policy.name} still has archives; disable it instead, or let retention remove them.")
    audit_record(actor=actor, action="backup.policy-delete", object=policy.name)
    policy.delete()


# ---- backup --------------------------------------------------------------------------------------


def _active_run(policy_id: int) -> JobRun | None:
    return JobRun.objects.filter(kind__in=POLICY_KINDS, status__in=ACTIVE, result__policy=policy_id).first()


def _enqueue(
    *,
    kind: str,
    func: str,
    args: tuple[Any, ...],
    policy: BackupPolicy,
    actor: Actor,
    in_process: bool = False,
    identity: str = "",
) -> JobRun:
    """The run, queued for a worker; or, `in_process`, only recorded: the caller runs `func` itself.

    `identity`: an age secret key the job needs, handed over outside its arguments."""
    with transaction.atomic():
        BackupPolicy.objects.select_for_update().get(pk=policy.pk)  # one starter at a time per policy
        active = _active_run(policy.pk)
        if active is not None:
            raise Conflict(None, f"A {active.kind} of {policy.name} is already {active.status}; wait for it to end.")
        if in_process:  # as job_enqueue records it, without handing it to RQ: no worker runs it as well
            run = JobRun.objects.create(kind=kind, created_by=actor.name, func=func, args=list(args), queue="backups")
        else:
            run = job_enqueue(kind=kind, func=func, args=args, actor=actor, queue="backups")
        run.result = {"policy": policy.pk}
        run.save(update_fields=["result"])
        if identity:  # inside the transaction: the job is enqueued on commit, after this
            _identity_hand_over(run=run, identity=identity)
    return run


# ---- the age secret key of a verify or restore ---------------------------------------------------
#
# The key is given with the request and must reach the worker without being stored: not in the
# database, not in the job's arguments (JobRun.args and RQ's job hash keep those, and a retry
# reuses them). It waits in its own Redis key that expires after IDENTITY_TTL and is deleted
# when the job reads it (GET and DEL in one transaction), sealed with a key derived from
# SECRET_KEY, which Redis never sees: Redis snapshots its data to disk (compose: --save 60 1).
# A retried job, or one that waited longer than IDENTITY_TTL, finds no key and fails saying so.


def _identity_redis_key(run_id: object) -> str:
    return f"dms-admin:backups:age-identity:{run_id}"


def _sealer() -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"dms-admin backups: age identity handover")
    return Fernet(base64.urlsafe_b64encode(key.derive(settings.SECRET_KEY.encode())))


def _identity_hand_over(*, run: JobRun, identity: str) -> None:
    try:
        rq_queue("backups").connection.set(
            _identity_redis_key(run.pk), _sealer().encrypt(identity.encode()), ex=IDENTITY_TTL
        )
    except redis.RedisError as exc:
        raise QueueUnavailable(f"{QUEUE_UNREACHABLE}: {exc}") from exc


def _identity_take(run_id: str) -> str | None:
    pipe = rq_queue("backups").connection.pipeline(transaction=True)
    key = _identity_redis_key(run_id)
    token, _ = pipe.get(key).delete(key).execute()
    if token is None:
        return None
    try:
        return _sealer().decrypt(token, ttl=IDENTITY_TTL).decode()
    except InvalidToken:  # SECRET_KEY changed meanwhile
        return None


def _identity_for(archives: list[BackupArchive], identity: str) -> str:
    """The age secret key (normalised) that opens every encrypted archive listed; FieldError if not."""
    needed = sorted({a.age_recipient for a in archives if a.encrypted})
    if not needed:
        return ""
    if not identity.strip():
        raise FieldError("identity", "This archive is encrypted: give its age secret key (AGE-SECRET-KEY-1…).")
    try:
        identity = arc.age_identity(identity)
    except ValueError as exc:
        raise FieldError("identity", str(exc)) from exc
    public = arc.age_public_key(identity)
    for recipient in needed:
        if recipient != public:
            raise FieldError(
                "identity",
                f"This secret key does not open the archive: its public key is {public}, "
                f"the archive is encrypted to {recipient}.",
            )
    return identity


def _job_identity(archives: list[BackupArchive], identity: str | None, run_id: str | None) -> str | None:
    """In a job: the key handed over for it (read once, then gone); None if nothing is encrypted."""
    if not any(a.encrypted for a in archives):
        return None  # nothing was handed over either
    if run_id is not None and identity is None:
        identity = _identity_take(run_id)
    if not identity:
        raise arc.ArchiveError(
            "The archive is encrypted and this job has no age secret key: a key is handed to one job only, "
            f"and waits at most {IDENTITY_TTL // 60} minutes for it. Start it again and give the key."
        )
    try:
        return _identity_for(archives, identity)
    except FieldError as exc:
        raise arc.WrongKey(exc.message) from exc


def backup_start(*, policy: BackupPolicy, actor: Actor, in_process: bool = False) -> JobRun:
    """Queue a backup of the policy; `in_process`: record the run for the caller to run with backups.jobs.backup_job."""
    dest = checked_destination(policy)
    last = policy.archives.filter(safety=False).order_by("-created_at").first()
    if last is not None:  # quick refusal before queueing; the job checks again with exact numbers
        arc.check_free_space(dest, min(last.size, arc.estimate_needed(last.source_bytes, None)) // 2)
    run = _enqueue(
        kind="backup",
        func="backups.jobs.backup_job",
        args=(policy.pk,),
        policy=policy,
        actor=actor,
        in_process=in_process,
    )
    audit_record(actor=actor, action="backup.start", object=policy.name)
    return run


@contextlib.contextmanager
def _policy_lock(policy: BackupPolicy) -> Iterator[None]:
    """Across workers and hosts sharing the volume: one writer per policy, whatever the queue did."""
    path = Path(policy.destination) / f".dms-admin-policy-{policy.pk}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise Conflict(None, f"Another backup or restore of {policy.name} is running.") from exc
        remove_stale_temp(policy)
        yield
    finally:
        os.close(fd)


def remove_stale_temp(policy: BackupPolicy) -> list[str]:
    """Temporary files a killed run of this policy left (archive, manifest); call holding its lock.

    Only this policy's: `.dms-admin-tmp-<name>-<UTC time>…`, so "nightly" never touches the files
    of "nightly-mail", which may be writing to the same folder right now.
    """
    dest = Path(policy.destination)
    pattern = re.compile(re.escape(f"{arc.TEMP_PREFIX}{policy.name}-") + r"\d{8}T\d{6}Z-")
    removed = []
    with contextlib.suppress(FileNotFoundError), os.scandir(dest) as it:
        for item in it:
            if pattern.match(item.name) and item.is_file(follow_symlinks=False):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(item.path)
                removed.append(item.name)
    if removed:
        log.warning("removed %d temporary file(s) a stopped run of %s left: %s", len(removed), policy.name, removed)
    return removed


def _tighten_old_archives(policy: BackupPolicy) -> None:
    """Archives written before they were made 0600 (readable by every local user) are closed now."""
    for archive in policy.archives.all():
        for path in (archive.path, archive.manifest_path):
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue
            if stat.S_ISREG(st.st_mode) and st.st_mode & 0o077 and st.st_uid == os.geteuid():
                os.chmod(path, stat.S_IMODE(st.st_mode) & 0o600)
                log.warning("%s was readable by other users (mode %o): now 0600", path, stat.S_IMODE(st.st_mode))


def _parent_for(policy: BackupPolicy) -> BackupArchive | None:
    if not policy.incremental:
        return None
    newest = policy.archives.filter(safety=False).order_by("-created_at", "-id").first()
    if newest is None or not Path(newest.manifest_path).exists():
        return None
    if newest.age_recipient != policy.age_recipient:  # encryption changed: one key opens a whole chain
        return None
    if len(archive_chain(newest)) > MAX_CHAIN:
        return None
    return newest


def _free_name(dest: Path, stem: str, compression: str, encrypted: bool) -> str:
    """`stem.tar.gz`, or `stem-2.tar.gz`… when two runs fall into the same second."""
    for n in range(1, 100):
        name = f"{stem}{'' if n == 1 else f'-{n}'}{arc.suffix_for(compression, encrypted=encrypted)}"
        if not (dest / name).exists() and not BackupArchive.objects.filter(path=str(dest / name)).exists():
            return name
    raise Conflict(None, f"Too many archives named {stem} in {dest}.")


def backup_run(*, policy_id: int, run_id: str | None = None, progress: Report | None = None) -> BackupArchive:
    policy = BackupPolicy.objects.get(pk=policy_id)
    dest = checked_destination(policy)  # before the lock file: nothing at all is written into a refused folder
    with _policy_lock(policy):
        _tighten_old_archives(policy)
        parent = _parent_for(policy)
        kind = BackupArchive.Kind.INCREMENTAL if parent else BackupArchive.Kind.FULL
        created = timezone.now().astimezone(UTC).replace(microsecond=0)
        name = _free_name(
            dest,
            f"{policy.name}-{created:%Y%m%dT%H%M%SZ}-{'incr' if parent else 'full'}",
            policy.compression,
            bool(policy.age_recipient),
        )
        last_full = policy.archives.filter(kind="full", safety=False, source_bytes__gt=0).order_by("-created_at")
        ratio = (last_full[0].size / last_full[0].source_bytes) if last_full else None
        started = time.monotonic()
        written = arc.write_archive(  # the parent's manifest is read as a stream, not loaded
            dest=dest,
            name=name,
            roots=source_roots(policy.include),
            compression=policy.compression,
            kind=kind,
            parent=Path(parent.manifest_path) if parent else None,
            created_at=created.isoformat(),
            progress=progress,
            ratio=ratio,
            age_recipient=policy.age_recipient,
        )
        archive = BackupArchive.objects.create(
            policy=policy,
            path=str(dest / name),
            manifest_path=str(dest / arc.manifest_name(name)),
            created_at=created,
            kind=kind,
            parent=parent,
            size=written.size,
            source_bytes=written.held_bytes,
            file_count=written.held_files,
            duration=time.monotonic() - started,
            sha256=written.sha256,
            age_recipient=policy.age_recipient,
            run=JobRun.objects.filter(pk=run_id).first() if run_id else None,
        )
    return archive


# ---- verify --------------------------------------------------------------------------------------


def verify_start(*, archive: BackupArchive, actor: Actor, identity: str = "") -> JobRun:
    """Queue a verify; an encrypted archive needs its age secret key (`identity`), checked here first."""
    identity = _identity_for([archive], identity)
    if JobRun.objects.filter(kind="verify", status__in=ACTIVE, result__archive=archive.pk).exists():
        raise Conflict(None, "This archive is already being verified.")
    with transaction.atomic():  # the key is handed over before the job is enqueued (on commit)
        run = job_enqueue(
            kind="verify", func="backups.jobs.verify_job", args=(archive.pk,), actor=actor, queue="backups"
        )
        run.result = {"archive": archive.pk, "policy": archive.policy_id}
        run.save(update_fields=["result"])
        if identity:
            _identity_hand_over(run=run, identity=identity)
    audit_record(actor=actor, action="backup.verify", object=archive.path)
    return run


def archive_verify(
    *, archive_id: int, identity: str | None = None, run_id: str | None = None, progress: Report | None = None
) -> list[str]:
    """Every checksum checked; raises with the damaged files named, else marks it verified.

    An encrypted archive is read with `identity`, or in a job (`run_id`) with the key handed over for it.
    """
    archive = BackupArchive.objects.get(pk=archive_id)
    identity = _job_identity([archive], identity, run_id)
    path = Path(archive.path)
    if not path.exists():
        raise arc.ArchiveError(f"{path} is missing from the backup volume.")
    manifest = arc.Manifest.load(Path(archive.manifest_path))
    if manifest.sha256 != archive.sha256:
        raise arc.ArchiveError(f"The manifest of {path.name} does not belong to this archive.")
    problems = arc.verify_archive(path, manifest, progress, identity)
    if problems:
        BackupArchive.objects.filter(pk=archive.pk).update(verified_at=None)
        shown = "; ".join(problems[:20])
        raise arc.ArchiveError(f"{path.name} failed verification ({len(problems)} problems): {shown}")
    BackupArchive.objects.filter(pk=archive.pk).update(verified_at=timezone.now())
    return problems


# ---- retention -----------------------------------------------------------------------------------


def prune_start(*, policy: BackupPolicy, actor: Actor) -> JobRun:
    return _enqueue(kind="prune", func="backups.jobs.prune_job", args=(policy.pk,), policy=policy, actor=actor)


def policy_prune(*, policy_id: int, now: datetime | None = None) -> list[str]:
    """Delete what the policy no longer keeps; only after its newest backup succeeded."""
    policy = BackupPolicy.objects.get(pk=policy_id)
    newest_backup = JobRun.objects.filter(kind="backup", result__policy=policy.pk).exclude(status__in=ACTIVE).first()
    if newest_backup is not None and newest_backup.status != JobRun.Status.SUCCEEDED:
        raise Conflict(None, f"The last backup of {policy.name} failed; nothing is pruned until one succeeds.")
    archives = list(policy.archives.all())
    if not archives:
        return []
    now = now or timezone.now()
    regular = [a for a in archives if not a.safety]
    facts = [retention.ArchiveFacts(a.id, a.created_at, a.verified_at is not None, a.parent_id) for a in regular]
    rules = retention.Rules(
        policy.keep_last, policy.keep_daily, policy.keep_weekly, policy.keep_monthly, policy.max_age_days
    )
    doomed = set(retention.to_delete(facts, rules, now=now, tz=ZoneInfo(policy.timezone)))
    if policy.max_age_days:  # safety copies only age out
        limit = now.timestamp() - policy.max_age_days * 86400
        doomed |= {a.id for a in archives if a.safety and a.created_at.timestamp() < limit}
    removed = []
    # children first, so a PROTECT foreign key never trips
    for archive in sorted((a for a in archives if a.id in doomed), key=lambda a: a.created_at, reverse=True):
        for path in (Path(archive.path), Path(archive.manifest_path)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        archive.delete()
        removed.append(archive.path)
    return removed


# ---- restore -------------------------------------------------------------------------------------


def archive_chain(archive: BackupArchive) -> list[BackupArchive]:
    """The full archive first, then each incremental down to `archive`."""
    chain = [archive]
    while chain[-1].parent_id is not None:
        chain.append(BackupArchive.objects.get(pk=chain[-1].parent_id))
    return list(reversed(chain))


def _scope_prefix(scope: str, mailbox: str) -> str:
    if scope not in SCOPES:
        raise FieldError("scope", "Choose all, mailbox or config.")
    if scope == "config":
        return "config"
    if scope == "mailbox":
        mailbox = address_key(mailbox or "")  # an IDN domain's mail folder has its punycode name
        if not _ADDRESS.match(mailbox):
            raise FieldError("mailbox", "Give the mailbox address, like user@example.com.")
        local, _, domain = mailbox.lower().partition("@")
        return f"mail/{domain}/{local}"
    return ""


def restore_start(
    *, archive: BackupArchive, scope: str, mailbox: str = "", dry_run: bool, actor: Actor, identity: str = ""
) -> JobRun:
    """Queue a restore (or its preview, `dry_run`); an encrypted archive's restore needs its age secret key."""
    prefix = _scope_prefix(scope, mailbox)
    manifest = arc.Manifest.load(Path(archive.manifest_path))
    if prefix and not any(arc.in_scope(e.path, prefix) for e in manifest.entries):
        field = "mailbox" if scope == "mailbox" else "scope"
        raise FieldError(field, f"This archive holds nothing for {mailbox or scope}.")
    identity = "" if dry_run else _identity_for(archive_chain(archive), identity)  # a preview reads only the manifest
    if not dry_run:
        checked_destination(archive.policy)  # the lock and the safety copy are written there
    run = _enqueue(
        kind="restore",
        func="backups.jobs.restore_job",
        args=(archive.pk, scope, mailbox, dry_run, actor.name, actor.via),
        policy=archive.policy,
        actor=actor,
        identity=identity,
    )
    run.result = {**run.result, "archive": archive.pk, "scope": scope, "mailbox": mailbox, "dry_run": dry_run}
    run.save(update_fields=["result"])
    audit_record(actor=actor, action="backup.restore-preview" if dry_run else "backup.restore", object=archive.path)
    return run


def restore_preview(
    *, archive: BackupArchive, scope: str, mailbox: str = "", manifest: arc.Manifest | None = None
) -> arc.Preview:
    prefix = _scope_prefix(scope, mailbox)
    manifest = manifest if manifest is not None else arc.Manifest.load(Path(archive.manifest_path))
    entries = [e for e in manifest.entries if arc.in_scope(e.path, prefix)]
    roots = source_roots([r for r in ("mail", "state", "config") if r in manifest.roots])
    return arc.preview(entries, roots, prefix)


def archive_restore(
    *,
    archive_id: int,
    scope: str,
    mailbox: str = "",
    dry_run: bool,
    actor: Actor,
    progress: Report | None = None,
    identity: str | None = None,
    run_id: str | None = None,
) -> dict[str, Any]:
    """Restore (or only preview); an encrypted chain is read with `identity`, or in a job (`run_id`)
    with the key handed over for it."""
    archive = BackupArchive.objects.select_related("policy").get(pk=archive_id)
    chain = archive_chain(archive)
    key = _job_identity(chain, identity, run_id) if not dry_run else None
    manifest = arc.Manifest.load(Path(archive.manifest_path))  # read once, for the preview and the restore
    plan = restore_preview(archive=archive, scope=scope, mailbox=mailbox, manifest=manifest)
    result: dict[str, Any] = {"preview": plan.as_dict()}
    if dry_run:
        return result
    checked_destination(archive.policy)
    entries = manifest.by_path()
    changing = set(plan.create) | set(plan.overwrite)
    prefix = _scope_prefix(scope, mailbox)
    dirs = {e.path for e in entries.values() if e.type == "dir" and arc.in_scope(e.path, prefix)}
    roots = source_roots(list(manifest.roots))
    with _policy_lock(archive.policy):
        if plan.overwrite:  # encrypted like the policy's archives: it holds the same kind of secrets
            safety = _safety_backup(archive.policy, set(plan.overwrite), roots)
            result["safety_archive"] = safety.path
        state = arc.Progress(files_total=len(changing), bytes_total=sum(entries[p].size for p in changing))
        files_roots = {k: v for k, v in roots.items() if k != "config"}
        for link in chain:
            wanted = {p for p in changing | dirs if entries[p].archive == Path(link.path).name}
            wanted = {p for p in wanted if not p.startswith("config/") and p != "config"}
            if wanted:
                held = {e.path: e for e in manifest.held} if link.pk == archive.pk else None  # else: its manifest
                arc.extract(
                    archive=Path(link.path),
                    compression=arc.compression_of(link.path),
                    roots=files_roots,
                    wanted=wanted,
                    progress=progress,
                    state=state,
                    held=held,
                    identity=key if link.encrypted else None,
                )
        config_files = sorted(p for p in changing if p.startswith("config/") and entries[p].type == "file")
        if config_files:
            result["config"] = _restore_config(chain, entries, config_files, actor=actor, archive=archive, key=key)
    result["restored"] = len(changing)
    return result


def _safety_backup(policy: BackupPolicy, paths: set[str], roots: dict[str, Path]) -> BackupArchive:
    created = timezone.now().astimezone(UTC)
    dest = Path(policy.destination)
    stem = f"{policy.name}-{created:%Y%m%dT%H%M%SZ}-before-restore"
    name = _free_name(dest, stem, "gzip", bool(policy.age_recipient))
    started = time.monotonic()
    written = arc.write_archive(
        dest=dest,
        name=name,
        roots=roots,
        only=paths,
        created_at=created.isoformat(),
        age_recipient=policy.age_recipient,
    )
    return BackupArchive.objects.create(  # no parent: the archive holds every entry it lists
        policy=policy,
        path=str(dest / name),
        manifest_path=str(dest / arc.manifest_name(name)),
        created_at=created,
        safety=True,
        size=written.size,
        source_bytes=written.held_bytes,
        file_count=written.entries,
        duration=time.monotonic() - started,
        sha256=written.sha256,
        age_recipient=policy.age_recipient,
    )


def _restore_config(
    chain: list[BackupArchive],
    entries: dict[str, arc.Entry],
    paths: list[str],
    *,
    actor: Actor,
    archive: BackupArchive,
    key: str | None,
) -> dict[str, Any]:
    from dms_admin.changes import change_recorded
    from dms_admin.configstore import get_store

    content: dict[str, bytes] = {}
    for link in chain:
        wanted = {p for p in paths if entries[p].archive == Path(link.path).name}
        if wanted:
            content |= arc.read_members(
                archive=Path(link.path),
                compression=arc.compression_of(link.path),
                wanted=wanted,
                identity=key if link.encrypted else None,
            )
    store = get_store()
    with store.change(actor=actor.name, message=f"Restore config from backup {Path(archive.path).name}") as change:
        for path, data in content.items():
            change.write_bytes(path.partition("/")[2], data)
    assert change.result is not None
    outcome = change_recorded(change.result, actor=actor, action="backup.restore-config", object=archive.path)
    return {"files": list(change.result.files), **outcome.as_dict()}


# ---- download, and facts for the panel -----------------------------------------------------------


def archive_download(*, archive: BackupArchive, actor: Actor) -> Path:
    path = Path(archive.path)
    if not path.exists():
        raise FieldError("archive", f"{path.name} is no longer on the backup volume.")
    audit_record(actor=actor, action="backup.download", object=archive.path)
    return path


ROOT_NAMES = {"mail": "mail folder", "state": "state folder", "config": "config folder"}


def missing_roots(*, policy_id: int) -> dict[str, str]:
    """The policy's folders that are not there, each with a warning; ArchiveError when none is."""
    policy = BackupPolicy.objects.get(pk=policy_id)
    roots = source_roots(policy.include)
    missing = {
        name: f"The {ROOT_NAMES[name]} {path} is not there (is its volume mounted?): this archive holds nothing of it."
        for name, path in roots.items()
        if not path.is_dir()
    }
    if missing and len(missing) == len(roots):
        raise arc.ArchiveError(" ".join(missing.values()) + " Nothing was backed up, nothing was written.")
    for text in missing.values():
        log.warning("backup of %s: %s", policy.name, text)
    return missing


def backup_summary(*, archive: BackupArchive, missing: dict[str, str], pruned: list[str] | None = None) -> str:
    """What a backup did, in one sentence for the job page and lists."""
    text = (
        f"Backed up {archive.file_count:,} file(s) into a {format_bytes(archive.size)} {archive.kind} archive"
        f" in {number(archive.duration)} s."
    )
    if missing:
        text += f" Warning: {', '.join(ROOT_NAMES[n] for n in sorted(missing))} missing; retention skipped."
    elif pruned is not None:
        text += f" Retention removed {len(pruned)} old archive(s)." if pruned else " Retention removed nothing."
    return text


def last_backup_age() -> float | None:
    """Seconds since the newest backup of any policy (None: never), for the home and health pages."""
    newest = BackupArchive.objects.filter(safety=False).order_by("-created_at").first()
    return (timezone.now() - newest.created_at).total_seconds() if newest else None
