"""Restores through GNU tar (and the tarfile fallback), stale temp files, `manage.py backup_now`."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import django_rq
import pytest
from django.core.management import CommandError, call_command
from django_rq import get_worker

from backups import archive as arc
from backups import services
from backups.archive import restore as restoring
from backups.models import BackupArchive, BackupPolicy
from backups.tests.conftest import MTIME, VMAIL, put, snapshot, whole_second_dir_mtimes
from dms_admin.audit import Actor
from dms_admin.models import AuditEntry, JobRun

ADMIN = Actor(name="admin")


def _no_python_extraction(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> int:
        raise AssertionError("expected GNU tar to restore this, not tarfile")

    monkeypatch.setattr(restoring, "_extract_python", refuse)


@pytest.mark.django_db
def test_gnu_tar_restores_symlinks_and_files_over_folders_byte_for_byte(
    policy: BackupPolicy, mail_dir: Path, state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = mail_dir / "example.test" / "user"
    os.symlink("cur", box / "current")
    os.lchown(box / "current", VMAIL, VMAIL)
    os.utime(box / "current", (MTIME, MTIME), follow_symlinks=False)
    put(box / "subscriptions", b"INBOX\nSent\n", mode=0o604)
    whole_second_dir_mtimes(mail_dir)
    before_mail, before_state = snapshot(mail_dir), snapshot(state_dir)
    archive = services.backup_run(policy_id=policy.pk)

    (box / "subscriptions").unlink()
    (box / "subscriptions").mkdir()  # a folder where the backup has a file
    put(box / "subscriptions" / "stray", b"x")
    (box / "current").unlink()
    shutil.rmtree(box / ".Sent")
    shutil.rmtree(state_dir)
    _no_python_extraction(monkeypatch)
    seen: list[arc.Progress] = []
    result = services.archive_restore(
        archive_id=archive.pk, scope="all", dry_run=False, actor=ADMIN, progress=seen.append
    )
    assert snapshot(mail_dir) == before_mail
    assert snapshot(state_dir) == before_state
    assert result["restored"] > 0 and seen and seen[-1].files_done >= result["restored"]


@pytest.mark.django_db
def test_gnu_tar_restores_one_mailbox_of_a_zstd_archive(
    policy: BackupPolicy, mail_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy.compression = "zstd"
    policy.save()
    before = snapshot(mail_dir)
    archive = services.backup_run(policy_id=policy.pk)
    shutil.rmtree(mail_dir / "second.test" / "boss")
    other = put(mail_dir / "example.test" / "user" / "cur" / "1800000000.M1P1.mail,S=5", b"after")
    _no_python_extraction(monkeypatch)
    services.archive_restore(
        archive_id=archive.pk, scope="mailbox", mailbox="boss@second.test", dry_run=False, actor=ADMIN
    )
    after = snapshot(mail_dir)
    assert {k: v for k, v in after.items() if k.startswith("second.test/boss")} == {
        k: v for k, v in before.items() if k.startswith("second.test/boss")
    }
    assert other.read_bytes() == b"after"


@pytest.mark.django_db
def test_names_tar_cannot_list_exactly_fall_back_to_tarfile(
    policy: BackupPolicy, mail_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = mail_dir / "example.test" / "user" / "cur"
    put(box / "trailing space ", b"kept as it is now")
    put(box / "line\nbreak", b"from the backup")
    whole_second_dir_mtimes(mail_dir)
    archive = services.backup_run(policy_id=policy.pk)
    put(box / "trailing space ", b"newer, same size!", mtime=MTIME)  # same size and mtime: unchanged
    (box / "line\nbreak").unlink()
    whole_second_dir_mtimes(mail_dir)
    calls = []
    python_extraction = restoring._extract_python
    monkeypatch.setattr(restoring, "_extract_python", lambda *args: calls.append(args) or python_extraction(*args))
    services.archive_restore(archive_id=archive.pk, scope="all", dry_run=False, actor=ADMIN)
    assert len(calls) == 1  # the tar exclude list would trim "trailing space " to "trailing space"
    assert (box / "line\nbreak").read_bytes() == b"from the backup"
    assert (box / "trailing space ").read_bytes() == b"newer, same size!"  # not wanted: left alone


@pytest.mark.django_db
def test_a_killed_runs_temp_files_are_removed_by_the_next_run(policy: BackupPolicy, dest: Path) -> None:
    earlier = services.backup_run(policy_id=policy.pk)
    earlier_bytes = Path(earlier.path).read_bytes()
    # What a backup killed mid-write (SIGKILL: no cleanup ran) leaves behind, and another
    # policy's run writing into the same folder right now.
    stale = [
        dest / ".dms-admin-tmp-nightly-20250101T030000Z-full.tar.gz",
        dest / ".dms-admin-tmp-nightly-20250101T030000Z-full.tar.gz.manifest.json",
    ]
    for path in stale:
        path.write_bytes(b"partial")
    other = dest / ".dms-admin-tmp-nightly-mail-20250101T030000Z-full.tar.gz"
    other.write_bytes(b"being written")

    archive = services.backup_run(policy_id=policy.pk)

    assert not any(path.exists() for path in stale)
    assert other.read_bytes() == b"being written"
    assert Path(earlier.path).read_bytes() == earlier_bytes
    assert services.archive_verify(archive_id=earlier.pk) == []
    assert services.archive_verify(archive_id=archive.pk) == []
    assert sorted(p.name for p in dest.iterdir() if p.name.startswith(arc.TEMP_PREFIX)) == [other.name]


@pytest.mark.django_db
def test_backup_now_waits_and_prints_the_result(policy: BackupPolicy) -> None:
    out = io.StringIO()
    call_command("backup_now", "nightly", "--wait", stdout=out, stderr=io.StringIO())
    job_id, result = out.getvalue().splitlines()[:2]
    run = JobRun.objects.get(pk=job_id)
    archive = BackupArchive.objects.get()
    assert run.status == "succeeded" and run.kind == "backup" and run.created_by == "cli"
    assert run.result["archive"] == archive.pk and run.result["policy"] == policy.pk
    assert result.startswith(f"succeeded: {archive.path} (full, ")
    entry = AuditEntry.objects.get(action="backup.start")
    assert (entry.actor, entry.via, entry.object) == ("cli", "cli", "nightly")
    # By id too; and a second run of the same policy while one is active is refused.
    call_command("backup_now", str(policy.pk), "--wait", stdout=io.StringIO(), stderr=io.StringIO())
    assert BackupArchive.objects.count() == 2
    JobRun.objects.create(kind="backup", created_by="x", status="running", result={"policy": policy.pk})
    with pytest.raises(CommandError, match="already running"):
        call_command("backup_now", "nightly", stdout=io.StringIO(), stderr=io.StringIO())
    with pytest.raises(CommandError, match="No backup policy 'nope' \\(policies: nightly\\)"):
        call_command("backup_now", "nope", stdout=io.StringIO(), stderr=io.StringIO())


@pytest.mark.django_db
def test_backup_now_reports_a_failed_backup(policy: BackupPolicy, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(*args: object, **kwargs: object) -> None:
        raise arc.NotEnoughSpace("Not enough free space in /backups: the backup needs about 9 MB")

    monkeypatch.setattr(arc, "write_archive", full)
    out = io.StringIO()
    with pytest.raises(CommandError, match="failed: Not enough free space"):
        call_command("backup_now", "nightly", "--wait", stdout=out, stderr=io.StringIO())
    assert JobRun.objects.get(pk=out.getvalue().strip()).status == "failed"


@pytest.mark.django_db(transaction=True)
def test_backup_now_without_wait_queues_it_for_a_worker(policy: BackupPolicy, settings, redis_url) -> None:  # type: ignore[no-untyped-def]
    settings.RQ_QUEUES = {name: {"URL": redis_url, "DEFAULT_TIMEOUT": 600} for name in ("default", "backups")}
    for name in ("default", "backups"):
        django_rq.get_queue(name).empty()
    out = io.StringIO()
    call_command("backup_now", "nightly", stdout=out, stderr=io.StringIO())
    run = JobRun.objects.get(pk=out.getvalue().strip())
    assert run.status == "queued" and not BackupArchive.objects.exists()
    get_worker("backups", worker_class="rq.worker.SimpleWorker").work(burst=True)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert BackupArchive.objects.get().pk == run.result["archive"]
