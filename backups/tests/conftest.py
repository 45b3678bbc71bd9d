from __future__ import annotations

import os
from pathlib import Path

import pytest

from backups.models import BackupPolicy

VMAIL = 5000
MTIME = 1_700_000_000  # whole seconds: what a GNU tar header holds


def put(path: Path, data: bytes, *, mode: int = 0o600, owner: int = VMAIL, mtime: int = MTIME) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.chmod(path, mode)
    os.chown(path, owner, owner)
    os.utime(path, (mtime, mtime))
    return path


def make_maildir(root: Path) -> None:
    """Two domains, nested and unicode folders, 0-byte files, vmail ownership, different modes."""
    for address in ("user@example.test", "other@example.test", "boss@second.test"):
        local, domain = address.split("@")
        box = root / domain / local
        for i, folder in enumerate(["", ".Sent", ".Projects.2025", ".Entwürfe.Ärger", ".INBOX.Sub"]):
            base = box / folder if folder else box
            for sub in ("cur", "new", "tmp"):
                (base / sub).mkdir(parents=True, exist_ok=True)
            put(base / "cur" / f"{1700000000 + i}.M1P1.mail,S=20:2,S", f"Subject: {address} {i}\n\nhello\n".encode())
            put(base / "new" / f"{1700000100 + i}.M2P2.mail,S=0", b"", mode=0o640)
            if folder:
                put(base / "maildirfolder", b"")
        put(box / "dovecot-uidlist", b"3 V1 N2\n", mode=0o644, mtime=MTIME + 5)
        put(box / "dovecot.index.lock", b"locked")  # DMS/Dovecot lock: never backed up
    for path in [root, *root.rglob("*")]:
        if path.is_dir():
            os.chown(path, VMAIL, VMAIL)
            os.chmod(path, 0o700)
    whole_second_dir_mtimes(root)


def whole_second_dir_mtimes(root: Path) -> None:
    """Tar headers hold whole seconds; so do the folders here, to compare them exactly."""
    for path in [root, *root.rglob("*")]:
        if path.is_dir():
            os.utime(path, (MTIME, MTIME))


@pytest.fixture
def mail_dir(tmp_path: Path, settings) -> Path:  # type: ignore[no-untyped-def]
    folder = tmp_path / "mail"
    folder.mkdir()
    make_maildir(folder)
    settings.DMS_MAIL_DIR = folder
    return folder


@pytest.fixture
def state_dir(tmp_path: Path, settings) -> Path:  # type: ignore[no-untyped-def]
    folder = tmp_path / "mail-state"
    put(folder / "lib-amavis" / ".spamassassin" / "bayes_toks", os.urandom(4096), owner=110)
    put(folder / "lib-postfix" / "master.lock", b"")
    whole_second_dir_mtimes(folder)
    settings.DMS_STATE_DIR = folder
    return folder


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    folder = tmp_path / "backup-volume"
    folder.mkdir()
    return folder


@pytest.fixture
def policy(db, dest: Path, mail_dir: Path, state_dir: Path, config_dir: Path) -> BackupPolicy:  # type: ignore[no-untyped-def]
    return BackupPolicy.objects.create(name="nightly", destination=str(dest), cron="30 3 * * *")


def snapshot(root: Path) -> dict[str, tuple[bytes | None, int, int, int, int]]:
    """Every path with content, mode, owner and mtime: a byte-for-byte picture."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.name.endswith(".lock"):
            continue
        st = path.lstat()
        content = path.read_bytes() if path.is_file() else None
        mtime = st.st_mtime_ns
        out[str(path.relative_to(root))] = (content, st.st_mode, st.st_uid, st.st_gid, mtime)
    return out
