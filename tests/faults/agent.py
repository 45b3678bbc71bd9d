"""What a fault test does inside the stack it runs: `python -m tests.faults.agent COMMAND JSON`.

Each call is its own process with the stack's settings (its database, config folder, Redis), as
a management command would be; it prints one JSON value.
"""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from typing import Any

import django

from tests.faults.stack import ADMIN_PASSWORD


def enqueue(kind: str, func: str, args: list[Any], queue: str = "default") -> str:
    from django.db import transaction

    from dms_admin.audit import Actor
    from dms_admin.jobqueue import job_enqueue

    with transaction.atomic():
        run = job_enqueue(kind=kind, func=func, args=tuple(args), actor=Actor("faults"), queue=queue)
    return str(run.id)


def run(run_id: str) -> dict[str, Any]:
    from dms_admin.models import JobRun

    row = JobRun.objects.get(pk=run_id)
    return {"status": row.status, "error": row.error, "message": row.message, "kind": row.kind}


def runs(kind: str) -> list[dict[str, Any]]:
    from dms_admin.models import JobRun

    return [{"id": str(r.id), "status": r.status, "error": r.error} for r in JobRun.objects.filter(kind=kind)]


def reap(stale_after: float = 90) -> list[str]:
    from dms_admin.jobqueue import reap_orphans

    return [str(r.id) for r in reap_orphans(stale_after=timedelta(seconds=stale_after))]


def housekeeping() -> None:
    from dms_admin.jobs import housekeeping_job

    housekeeping_job()


def retry(run_id: str) -> str:
    from django.db import transaction

    from dms_admin.audit import Actor
    from dms_admin.jobqueue import job_retry
    from dms_admin.models import JobRun

    with transaction.atomic():
        new = job_retry(run=JobRun.objects.get(pk=run_id), actor=Actor("faults"))
    return str(new.id)


def token() -> str:
    from django.contrib.auth import get_user_model

    from access.tokens import token_create
    from dms_admin.audit import Actor

    get_user_model().objects.create_superuser("admin", "admin@example.test", ADMIN_PASSWORD)
    return token_create(name="faults", scope="write", actor=Actor("faults"))[1]


def drift() -> dict[str, Any]:
    """What the config folder holds that its history does not, and git's own check of the history."""
    import subprocess

    from dms_admin.configstore import get_store

    store = get_store()
    with store._lock.hold(30):
        store._ensure_repo()
        changed = sorted(store._drift())
    fsck = subprocess.run(
        ["git", f"--git-dir={store.history_dir}", "fsck", "--strict"], capture_output=True, text=True, check=False
    )
    return {"drift": changed, "fsck": fsck.returncode, "fsck_errors": fsck.stderr[-2000:], "commits": store.count()}


def active() -> list[dict[str, Any]]:
    """Jobs not finished: after a fault and the reaper, none may be left."""
    from dms_admin.models import JobRun

    rows = JobRun.objects.filter(status__in=[JobRun.Status.QUEUED, JobRun.Status.RUNNING])
    return [{"id": str(r.id), "kind": r.kind, "status": r.status} for r in rows]


def dkim_start(domain: str, bits: int) -> str:
    from accounts.domains import dkim_generate_start
    from dms_admin.audit import Actor

    return str(dkim_generate_start(domain=domain, selector="mail", bits=bits, force=True, actor=Actor("faults")).id)


def main() -> None:
    django.setup()
    command, payload = sys.argv[1], json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    result = globals()[command](**payload)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
