"""RQ jobs of the core: thin, they load ids and call one service."""

from __future__ import annotations

from dms_admin import changes as services
from dms_admin.jobqueue import job_running


def apply_job(run_id: str) -> None:
    with job_running(run_id) as report:
        services.apply_pending(report)


def confirm_watched_job(run_id: str, paths: list[str]) -> None:
    with job_running(run_id) as report:
        report.progress(10, "Waiting for the mail server to pick up the change")
        done = services.watched_confirm(paths)
        report.set_result(applied=done)
        missing = [p for p, ok in done.items() if not ok]
        if missing:
            raise RuntimeError(
                f"The mail server did not pick up {', '.join(missing)} in time; see its changedetector log."
            )
        report.progress(100, "The mail server applied the change.")


def housekeeping_job() -> None:
    """Runs every minute from rqcron: marks jobs a dead worker left "running" failed (with the
    reason), records hand edits in history, forgets old login failures and old audit rows of API
    reads."""
    from access.throttle import forget_old_failures
    from dms_admin.audit import forget_old_api_calls
    from dms_admin.configstore import get_store
    from dms_admin.jobqueue import reap_orphans

    reap_orphans()
    store = get_store()
    store.record_external_changes()
    store.compact_history()
    forget_old_failures()
    forget_old_api_calls()
