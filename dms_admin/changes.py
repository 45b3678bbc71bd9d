"""Core services: recording a config change, applying pending changes, rolling back."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import time

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from dms_admin import apply
from dms_admin.audit import SYSTEM, Actor, audit_record
from dms_admin.configstore import (
    ChangeResult,
    ConfigStore,
    get_store,
    is_housekeeping,
)
from dms_admin.dms import DockerUnavailable, MailServer, get_mailserver
from dms_admin.envfile import env_to_restore
from dms_admin.jobqueue import JobReport, QueueUnavailable, ensure_queued, job_enqueue
from dms_admin.models import JobRun, PendingChange
from dms_admin.plain import explain

# Where DMS keeps the checksums of the watched files it last applied (inside the container).
DMS_CHECKSUM_FILE = "/tmp/docker-mailserver-config-chksum"
DMS_CONFIG_MOUNT = "/tmp/docker-mailserver"


class ApplyState:
    """Where a saved change stands in the mail server (api.md: the write's `apply.state`)."""

    PENDING = "pending"  # waiting for DMS to pick it up (a confirmation job watches)
    APPLIED = "applied"  # in use: Postfix reloaded, DMS confirmed, or nothing to apply
    FAILED = "failed"  # saved but not in use, and the reason is known
    NEEDS_APPLY = "needs-apply"  # waits for an admin to re-create the container (Apply)


@dataclasses.dataclass(frozen=True)
class ChangeOutcome:
    commit: str | None
    apply: str  # none | watched | reload | recreate
    pending: bool
    message: str
    job: JobRun | None = None
    state: str = ApplyState.APPLIED
    written: str = ""  # the first part of `message`: which files were written

    def as_dict(self) -> dict[str, object]:
        return {"commit": self.commit, "apply": self.apply, "pending": self.pending}

    def apply_dict(self) -> dict[str, object]:
        return {"state": self.state, "job": str(self.job.id) if self.job else None, "message": self.message}


def _written(files: list[str]) -> str:
    shown = [f for f in files if not is_housekeeping(f)] or files
    names = ", ".join(shown[:3]) + (_(" and %(n)d more") % {"n": len(shown) - 3} if len(shown) > 3 else "")
    return _("Written to %(files)s.") % {"files": names}


def change_recorded(result: ChangeResult, *, actor: Actor, action: str, object: str = "") -> ChangeOutcome:
    """Audit a change the store made, and start what it needs to take effect.

    The outcome's message says what was written and what happens next, never more: a watched
    file is "waiting for DMS" until its confirmation job says otherwise.
    """
    removed = [rel for rel, _, new in result.contents if new is None]
    plan = apply.plan(result.files, created=result.created, removed=removed)
    outcome = apply.Action(plan.action)
    written = _written(list(result.files))
    audit = functools.partial(
        audit_record, actor=actor, action=action, object=object, commit=result.sha or "", detail=", ".join(result.files)
    )
    if outcome == apply.Action.RELOAD:
        audit()
        started = time.monotonic()
        try:
            _postfix_reload(get_mailserver())
        except DockerUnavailable as exc:
            _mark_pending(plan, result, actor)
            problem = explain(exc)
            return ChangeOutcome(
                result.sha,
                outcome.label,
                True,
                _("%(written)s Not applied: %(why)s") % {"written": written, "why": problem.with_fix},
                state=ApplyState.FAILED,
            )
        took = time.monotonic() - started
        message = _("%(written)s Applied (Postfix reloaded, %(s).1f s).") % {"written": written, "s": took}
        return ChangeOutcome(result.sha, outcome.label, False, message)
    with transaction.atomic():  # one database commit for the audit row and what follows it
        audit()
        if outcome == apply.Action.RECREATE:
            _mark_pending(plan, result, actor)
            message = _("%(written)s Not in use yet: the mail container must be re-created to read it (Apply).")
            return ChangeOutcome(
                result.sha, outcome.label, True, message % {"written": written}, state=ApplyState.NEEDS_APPLY
            )
        job = None
        if outcome == apply.Action.WATCHED:
            job = job_enqueue(
                kind="confirm",
                func="dms_admin.jobs.confirm_watched_job",
                args=(plan.paths(apply.Action.WATCHED),),
                actor=actor,
            )
    if job is not None:  # after the commit: by now the job is handed to Redis, or failed
        return _watched_outcome(result, written, job)
    message = _("%(written)s docker-mailserver does not read it: nothing to apply.") % {"written": written}
    return ChangeOutcome(result.sha, outcome.label, False, message)


def change_live(
    result: ChangeResult, *, actor: Actor, action: str, object: str, live: str, files: tuple[str, ...] = ()
) -> ChangeOutcome:
    """Audit a change the service itself has already put in use (`live` says where, in words).

    For a file DMS would only read at a re-create (a per-user Sieve script, which the service also
    writes into the mailbox's home): whatever waited for Apply on these files is in use now too.
    `files` are those the change is about when the config folder already held them as they are.
    """
    files = tuple(dict.fromkeys((*result.files, *files)))
    with transaction.atomic():
        audit_record(actor=actor, action=action, object=object, commit=result.sha or "", detail=", ".join(files))
        PendingChange.objects.filter(path__in=files).delete()
    gone = [rel for rel, _old, new in result.contents if new is None]
    what = _("Removed %(files)s.") % {"files": ", ".join(gone)} if gone else _written(list(files)) if files else ""
    message = (_("%(written)s In use now: %(live)s") % {"written": what, "live": live}).strip()
    return ChangeOutcome(result.sha, apply.Action.NONE.label, False, message)


def _watched_outcome(result: ChangeResult, written: str, job: JobRun) -> ChangeOutcome:
    label = apply.Action.WATCHED.label
    try:
        ensure_queued(job)
    except QueueUnavailable as exc:
        # DMS will most likely pick the file up by itself, but nothing watches it happen: say
        # that, not "waiting" for a confirmation that will never come.
        message = _("%(written)s Not confirmed: %(why)s docker-mailserver normally applies it by itself.") % {
            "written": written,
            "why": explain(exc).with_fix,
        }
        return ChangeOutcome(result.sha, label, True, message, job, state=ApplyState.FAILED, written=written)
    message = _("%(written)s Waiting for docker-mailserver to pick it up…") % {"written": written}
    return ChangeOutcome(result.sha, label, False, message, job, state=ApplyState.PENDING, written=written)


def _mark_pending(plan: apply.Plan, result: ChangeResult, actor: Actor) -> None:
    with transaction.atomic():
        for path, action in plan.files.items():
            if action >= apply.Action.RELOAD:
                PendingChange.objects.create(
                    path=path, action=action.label, commit=result.sha or "", created_by=actor.name
                )


@dataclasses.dataclass(frozen=True)
class PendingFile:
    """One file waiting for Apply, however many saves made it wait."""

    path: str
    action: str  # reload | recreate: the most any of its changes needs
    changes: int
    since: object  # datetime of the first change waiting
    authors: tuple[str, ...]


def pending_files(changes: list[PendingChange]) -> list[PendingFile]:
    by_path: dict[str, list[PendingChange]] = {}
    for change in changes:
        by_path.setdefault(change.path, []).append(change)
    return [
        PendingFile(
            path,
            max(apply.Action[c.action.upper()] for c in rows).label,
            len(rows),
            rows[0].created_at,
            tuple(dict.fromkeys(c.created_by for c in rows if c.created_by)),
        )
        for path, rows in by_path.items()
    ]


def pending_summary() -> dict[str, object]:
    changes = list(PendingChange.objects.all())
    needs = max((apply.Action[c.action.upper()] for c in changes), default=apply.Action.NONE)
    files = pending_files(changes)
    return {"changes": changes, "files": files, "needs": needs.label, "count": len(files)}


def apply_start(*, actor: Actor) -> JobRun:
    get_mailserver().status()  # unreachable engine or container: refuse now, with the reason
    audit_record(actor=actor, action="apply.start")
    return job_enqueue(kind="apply", func="dms_admin.jobs.apply_job", actor=actor, exclusive=True)


def apply_pending(report: JobReport, *, store: ConfigStore | None = None, mailserver: MailServer | None = None) -> None:
    """Reload or re-create as the pending changes need, and wait until the container is healthy."""
    store = store or get_store()
    mailserver = mailserver or get_mailserver()
    pending = list(PendingChange.objects.all())
    if not pending:
        report.progress(100, "Nothing to apply.")
        return
    needs = max(apply.Action[c.action.upper()] for c in pending)
    if needs == apply.Action.RECREATE:
        env = _env_changes(store, pending)
        before = mailserver.env()
        report.progress(10, "Re-creating the mail container")
        mailserver.recreate(env=env, progress=lambda message: report.progress(None, message))
        report.progress(50, "Waiting for the mail container to be healthy")
        try:
            status = mailserver.wait_healthy(timeout=settings.DMS_APPLY_HEALTH_TIMEOUT)
        except DockerUnavailable as failure:
            _revert_failed_apply(
                report, store=store, mailserver=mailserver, pending=pending, env_before=before, failure=failure
            )
            raise  # unreachable: the revert raises ApplyReverted
        report.set_result(action="recreate", container=status.id[:12], health=status.health or "running")
    else:
        report.progress(30, "Reloading Postfix")
        _postfix_reload(mailserver)
        report.set_result(action="reload")
    PendingChange.objects.filter(pk__in=[c.pk for c in pending]).delete()
    report.progress(100, f"Applied {len(pending)} change(s).")


class ApplyReverted(Exception):
    """The new configuration did not come up healthy; the previous one was put back."""


def _revert_failed_apply(
    report: JobReport,
    *,
    store: ConfigStore,
    mailserver: MailServer,
    pending: list[PendingChange],
    env_before: dict[str, str],
    failure: Exception,
) -> None:
    """Put back the files and the container as they were before the apply, and say why."""
    logs = last_log_lines(mailserver)
    report.progress(60, "Not healthy: putting the previous configuration back")
    firsts: dict[str, str] = {}
    for change in pending:
        if change.commit and change.path not in firsts:
            firsts[change.path] = change.commit
    with store.change(actor=SYSTEM.name, message="Revert: the applied configuration did not start") as edit:
        for path, commit in firsts.items():
            old = store.content_at(f"{commit}^", path)
            if old is not None and path == "mailserver.env":
                from dms_admin.redact import unredact_env_text

                old = unredact_env_text(old.decode(), edit.read(path)).encode()
            if old is None:
                edit.delete(path)
            else:
                edit.write_bytes(path, old)
    current = mailserver.env()
    mailserver.recreate(
        env=env_to_restore(env_before, current), progress=lambda message: report.progress(None, message)
    )
    report.progress(80, "Waiting for the previous configuration to be healthy")
    mailserver.wait_healthy(timeout=settings.DMS_APPLY_HEALTH_TIMEOUT)
    PendingChange.objects.filter(pk__in=[c.pk for c in pending]).delete()
    revert = edit.result.sha if edit.result else None
    audit_record(
        actor=SYSTEM, action="apply.revert", object=", ".join(firsts), commit=revert or "", detail=str(failure)
    )
    report.set_result(action="reverted", revert_commit=revert, log=logs)
    raise ApplyReverted(
        f"The new configuration did not become healthy ({failure}). The previous configuration was put back "
        f"and runs again; the changes are undone in the history.\nLast log lines of the failed start:\n{logs}"
    )


def last_log_lines(mailserver: MailServer, count: int = 30) -> str:
    with contextlib.suppress(DockerUnavailable):
        return "\n".join(mailserver.logs(tail=count).splitlines()[-count:])
    return "(the logs could not be read)"


def _env_changes(store: ConfigStore, pending: list[PendingChange]) -> dict[str, str | None] | None:
    """Variables to set and unset, from mailserver.env before the first pending change and now."""
    from dms_admin.envfile import env_changes

    env_commits = [c.commit for c in pending if c.path == "mailserver.env" and c.commit]
    if not env_commits:
        return None
    before = store.content_at(f"{env_commits[0]}^", "mailserver.env") or b""
    return env_changes(before.decode(), store.read("mailserver.env"))


def _postfix_reload(mailserver: MailServer) -> None:
    result = mailserver.exec(["postfix", "reload"], timeout=60)
    if not result.ok:
        raise DockerUnavailable(f"postfix reload failed (exit {result.exit_code}): {result.output.strip()[:300]}")


def watched_confirm(
    paths: list[str],
    *,
    store: ConfigStore | None = None,
    mailserver: MailServer | None = None,
    timeout: float | None = None,
) -> dict[str, bool]:
    """Wait until DMS's change detector has applied what is on disk now for each path.

    DMS records the sha512 of every watched file it handled in its checksum file; when our
    file's digest is there and its lock is gone, the change is live.
    """
    store = store or get_store()
    mailserver = mailserver or get_mailserver()
    timeout = settings.DMS_WATCH_TIMEOUT if timeout is None else timeout
    wanted = {p: hashlib.sha512(store.read_bytes(p) or b"").hexdigest() for p in paths if store.exists(p)}
    deadline = time.monotonic() + timeout
    while True:
        result = mailserver.exec(["cat", DMS_CHECKSUM_FILE], timeout=10)
        seen = _parse_checksums(result.output) if result.ok else {}
        done = {p: seen.get(p) == digest for p, digest in wanted.items()}
        if all(done.values()) and not store.exists("check-for-changes.sh.lock"):
            return done
        if time.monotonic() > deadline:
            return done
        time.sleep(0.5)


def _parse_checksums(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        digest, _, path = line.partition("  ")
        if path.startswith(DMS_CONFIG_MOUNT + "/"):
            out[path[len(DMS_CONFIG_MOUNT) + 1 :]] = digest
    return out
