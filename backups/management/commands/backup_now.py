"""manage.py backup_now POLICY_NAME_OR_ID [--wait]"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from backups import jobs, services
from backups.models import BackupPolicy
from dms_admin.audit import Actor
from dms_admin.errors import Conflict, FieldError
from dms_admin.models import AuditEntry, JobRun

CLI = Actor("cli", via=AuditEntry.Via.CLI)


class Command(BaseCommand):
    help = "Start a backup of a policy now (as the panel's Run now does) and print the job id."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("policy", help="The policy's name or id.")
        parser.add_argument(
            "--wait", action="store_true", help="Run it here instead of on a worker, and print the result."
        )

    def handle(self, *args: Any, policy: str, wait: bool, **options: Any) -> None:
        found = BackupPolicy.objects.filter(name=policy).first()
        if found is None and policy.isdigit():
            found = BackupPolicy.objects.filter(pk=int(policy)).first()
        if found is None:
            names = ", ".join(BackupPolicy.objects.order_by("name").values_list("name", flat=True)) or "none"
            raise CommandError(f"No backup policy {policy!r} (policies: {names}).")
        try:
            run = services.backup_start(policy=found, actor=CLI, in_process=wait)
        except (FieldError, Conflict) as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(str(run.id))
        if not wait:
            self.stderr.write(f"Backup of {found.name} queued; a worker runs it (see the Backups page).")
            return
        error: Exception | None = None
        try:
            jobs.backup_job(str(run.id), found.pk)
        except Exception as exc:  # a failed backup is recorded on the run; retention's failure is not
            error = exc
        run.refresh_from_db()
        if run.status != JobRun.Status.SUCCEEDED:
            raise CommandError(f"Backup of {found.name} failed: {run.error or error}")
        r = run.result
        self.stdout.write(
            f"succeeded: {r['path']} ({r['kind']}, {r['files']:,} files, {r['size']:,} bytes, {r['duration']} s)"
        )
        for path in r.get("pruned", []):
            self.stdout.write(f"pruned: {path}")
        if error is not None:
            raise CommandError(f"The backup was written, but retention failed: {error}")
