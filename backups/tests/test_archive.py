"""Backups of real Maildir trees: restore byte for byte, plain tar, one mailbox, verify, space, chains."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from backups import archive as arc
from backups import services
from backups.models import BackupArchive, BackupPolicy
from backups.tests.conftest import put, snapshot, whole_second_dir_mtimes
from dms_admin.audit import Actor

pytestmark = pytest.mark.django_db

ADMIN = Actor(name="admin")


def test_it_restores_a_deleted_maildir_byte_for_byte(policy: BackupPolicy, mail_dir: Path, state_dir: Path) -> None:
    before_mail, before_state = snapshot(mail_dir), snapshot(state_dir)
    archive = services.backup_run(policy_id=policy.pk)
    assert archive.kind == "full" and archive.size == Path(archive.path).stat().st_size
    manifest = arc.Manifest.load(Path(archive.manifest_path))
    paths = {e.path for e in manifest.entries}
    assert "mail/example.test/user/.Entwürfe.Ärger/cur/1700000003.M1P1.mail,S=20:2,S" in paths
    assert not any(p.endswith(".lock") for p in paths)
    assert not any(p.startswith("config/.dms-admin") for p in paths)
    entry = manifest.by_path()["mail/example.test/user/new/1700000100.M2P2.mail,S=0"]
    assert (entry.size, entry.uid, entry.gid, entry.mode, entry.mtime) == (0, 5000, 5000, 0o640, 1_700_000_000)
    assert not list(Path(policy.destination).glob(".dms-admin-tmp-*"))

    shutil.rmtree(mail_dir)
    shutil.rmtree(state_dir)
    result = services.archive_restore(archive_id=archive.pk, scope="all", dry_run=False, actor=ADMIN)
    assert "safety_archive" not in result  # nothing was overwritten, so nothing to save first
    assert snapshot(mail_dir) == before_mail
    assert snapshot(state_dir) == before_state


def test_plain_gnu_tar_restores_the_archive(policy: BackupPolicy, mail_dir: Path, tmp_path: Path) -> None:
    archive = services.backup_run(policy_id=policy.pk)
    out = tmp_path / "untarred"
    out.mkdir()
    subprocess.run(["tar", "xzf", archive.path, "-C", str(out)], check=True)
    assert snapshot(out / "mail") == snapshot(mail_dir)


def test_zstd_archives_restore_too(policy: BackupPolicy, mail_dir: Path, tmp_path: Path) -> None:
    policy.compression = "zstd"
    policy.save()
    archive = services.backup_run(policy_id=policy.pk)
    assert archive.path.endswith(".tar.zst")
    assert services.archive_verify(archive_id=archive.pk) == []
    out = tmp_path / "untarred"
    out.mkdir()
    subprocess.run(["tar", "--zstd", "-xf", archive.path, "-C", str(out)], check=True)
    assert snapshot(out / "mail") == snapshot(mail_dir)


def test_restoring_one_mailbox_leaves_the_others_untouched(policy: BackupPolicy, mail_dir: Path) -> None:
    archive = services.backup_run(policy_id=policy.pk)
    user = mail_dir / "example.test" / "user"
    message = user / "cur" / "1700000000.M1P1.mail,S=20:2,S"
    original = message.read_bytes()
    message.write_bytes(b"damaged")
    shutil.rmtree(user / ".Sent")
    newer = put(user / "new" / "1800000000.M9P9.mail,S=3", b"new")  # arrived after the backup: kept
    # The other mailboxes change after the backup; the restore must not undo that.
    other = put(mail_dir / "example.test" / "other" / "cur" / "1800000001.M1P1.mail,S=5", b"after")
    shutil.rmtree(mail_dir / "second.test" / "boss" / ".Sent")
    others_before = {k: v for k, v in snapshot(mail_dir).items() if not k.startswith("example.test/user")}

    preview = services.restore_preview(archive=archive, scope="mailbox", mailbox="user@example.test")
    assert preview.overwrite == ["mail/example.test/user/cur/1700000000.M1P1.mail,S=20:2,S"]
    assert "mail/example.test/user/.Sent/cur/1700000001.M1P1.mail,S=20:2,S" in preview.create
    assert preview.kept == ["mail/example.test/user/new/1800000000.M9P9.mail,S=3"]
    assert message.read_bytes() == b"damaged"  # a preview writes nothing

    result = services.archive_restore(
        archive_id=archive.pk, scope="mailbox", mailbox="user@example.test", dry_run=False, actor=ADMIN
    )
    assert message.read_bytes() == original and newer.exists() and other.exists()
    assert (user / ".Sent" / "cur" / "1700000001.M1P1.mail,S=20:2,S").exists()
    assert {k: v for k, v in snapshot(mail_dir).items() if not k.startswith("example.test/user")} == others_before
    # The overwritten file was saved first, in a safety archive that holds just it.
    safety = BackupArchive.objects.get(safety=True)
    assert result["safety_archive"] == safety.path
    held = [e.path for e in arc.Manifest.load(Path(safety.manifest_path)).entries if e.type == "file"]
    assert held == ["mail/example.test/user/cur/1700000000.M1P1.mail,S=20:2,S"]


def test_one_flipped_byte_fails_verify_and_names_the_file(policy: BackupPolicy, mail_dir: Path) -> None:
    put(mail_dir / "example.test" / "user" / "cur" / "big.mail", os.urandom(200_000))
    archive = services.backup_run(policy_id=policy.pk)
    assert services.archive_verify(archive_id=archive.pk) == []
    archive.refresh_from_db()
    assert archive.verified_at is not None
    data = bytearray(Path(archive.path).read_bytes())
    data[len(data) // 2] ^= 0x01
    Path(archive.path).write_bytes(bytes(data))
    with pytest.raises(arc.ArchiveError) as error:
        services.archive_verify(archive_id=archive.pk)
    assert "mail/example.test/user/cur/big.mail" in str(error.value)
    archive.refresh_from_db()
    assert archive.verified_at is None


def test_an_incremental_holds_only_what_changed_and_restores_the_whole_state(
    policy: BackupPolicy, mail_dir: Path
) -> None:
    policy.incremental = True
    policy.save()
    full = services.backup_run(policy_id=policy.pk)
    box = mail_dir / "example.test" / "user"
    put(box / "cur" / "1800000000.M5P5.mail,S=4:2,S", b"new!")
    (box / "new" / "1700000100.M2P2.mail,S=0").unlink()
    whole_second_dir_mtimes(mail_dir)
    incr = services.backup_run(policy_id=policy.pk)
    assert (incr.kind, incr.parent_id) == ("incremental", full.pk)
    manifest = arc.Manifest.load(Path(incr.manifest_path))
    assert [e.path for e in manifest.held if e.type == "file"] == [
        "mail/example.test/user/cur/1800000000.M5P5.mail,S=4:2,S"
    ]
    assert manifest.deleted == ["mail/example.test/user/new/1700000100.M2P2.mail,S=0"]
    unchanged = services.backup_run(policy_id=policy.pk)
    assert unchanged.file_count == 0 and unchanged.size < full.size
    expected = snapshot(mail_dir)
    shutil.rmtree(mail_dir)
    services.archive_restore(archive_id=unchanged.pk, scope="all", dry_run=False, actor=ADMIN)
    assert snapshot(mail_dir) == expected


def test_a_config_restore_goes_through_the_config_store(policy: BackupPolicy, config_dir: Path, store) -> None:  # type: ignore[no-untyped-def]
    archive = services.backup_run(policy_id=policy.pk)
    original = (config_dir / "postfix-virtual.cf").read_bytes()
    store.write("postfix-virtual.cf", "sales@example.test user@example.test\n", actor="alice", message="sales")
    result = services.archive_restore(archive_id=archive.pk, scope="config", dry_run=False, actor=ADMIN)
    assert (config_dir / "postfix-virtual.cf").read_bytes() == original
    assert result["config"]["files"] == ["postfix-virtual.cf"]
    newest = store.history(limit=1)[0]
    assert newest.sha == result["config"]["commit"] and "Restore config" in newest.message


@pytest.fixture
def small_fs(tmp_path: Path):  # type: ignore[no-untyped-def]
    folder = tmp_path / "small"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_too_small_volume_fails_cleanly_and_keeps_earlier_archives(
    policy: BackupPolicy, mail_dir: Path, small_fs: Path
) -> None:
    policy.destination = str(small_fs)
    policy.include_state = policy.include_config = False
    policy.save()
    # 1. The check before starting refuses, with the numbers.
    huge = put(mail_dir / "example.test" / "user" / "cur" / "huge.mail", os.urandom(3_000_000))
    with pytest.raises(arc.NotEnoughSpace, match=r"needs about 4\.\d MB, 2\.\d MB is free"):
        services.backup_run(policy_id=policy.pk)
    assert list(small_fs.iterdir()) == [small_fs / f".dms-admin-policy-{policy.pk}.lock"]
    huge.unlink()

    put(mail_dir / "example.test" / "user" / "cur" / "text.mail", b"compressible " * 40_000)
    earlier = services.backup_run(policy_id=policy.pk)
    earlier_bytes = Path(earlier.path).read_bytes()

    # 2. The estimate passes (the last archive compressed 1:30) but the volume fills up meanwhile.
    put(mail_dir / "example.test" / "user" / "cur" / "random.mail", os.urandom(2_080_000))
    BackupArchive.objects.filter(pk=earlier.pk).update(source_bytes=earlier.size * 30)
    with pytest.raises(arc.NotEnoughSpace, match="filled up"):
        services.backup_run(policy_id=policy.pk)

    assert sorted(p.name for p in small_fs.iterdir() if not p.name.endswith(".lock")) == sorted(
        [Path(earlier.path).name, Path(earlier.manifest_path).name]
    )
    assert Path(earlier.path).read_bytes() == earlier_bytes
    assert BackupArchive.objects.count() == 1
    assert services.archive_verify(archive_id=earlier.pk) == []
