"""The Sieve script Dovecot runs for a mailbox: `~/.dovecot.sieve` in its home in the mail volume.

DMS's layout (spec §1.12): the home of `local@domain` is `<mail volume>/<domain>/<local>/home`.
With ManageSieve a mail client may have made `.dovecot.sieve` a link to `sieve/<name>.sieve`
(the active script); we then write the script it points to, so the client still sees its own
script (with our region in it) instead of finding it replaced.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from dms_admin.durable import replace_file

ACTIVE = ".dovecot.sieve"
TEMP_PREFIX = ".dms-admin-"
# DMS's vmail owner (DMS_VMAIL_UID/GID, 5000 by default): used only when we run as root and the
# mailbox folder does not exist yet to take its owner from.
DEFAULT_OWNER = (5000, 5000)


class HomeNotWritable(Exception):
    """The mailbox's home in the mail volume cannot be written (the message says why)."""


@dataclass(frozen=True)
class HomeScript:
    path: Path  # the file that holds the script (a link's target when ManageSieve made a link)
    text: str | None  # None: no active script
    linked: bool  # `.dovecot.sieve` is a ManageSieve link


def home_of(address: str) -> Path:
    local, _, domain = address.rpartition("@")
    return Path(settings.DMS_MAIL_DIR) / domain / local / "home"


def read(address: str) -> HomeScript:
    home = home_of(address)
    active = home / ACTIVE
    path, linked = active, active.is_symlink()
    if linked:
        path = _link_target(home, active)
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except (FileNotFoundError, NotADirectoryError):
        text = None
    return HomeScript(path, text, linked)


def _link_target(home: Path, active: Path) -> Path:
    target = (active.parent / os.readlink(active)).resolve()
    if not target.is_relative_to(home.resolve()):  # never follow a link out of the mailbox's home
        raise HomeNotWritable(f"{active} points outside the mailbox's home ({target}); it is left alone.")
    return target


def write(script: HomeScript, text: str | None) -> None:
    """Put `text` where `script` was read from (temp file + fsync + rename); None removes it.

    A ManageSieve link's script is never removed, only emptied of our part (the caller's text).
    """
    if not Path(settings.DMS_MAIL_DIR).is_dir():
        raise HomeNotWritable(f"The mail volume is not mounted at {settings.DMS_MAIL_DIR} (DMS_MAIL_DIR).")
    try:
        if text is None and not script.linked:
            with contextlib.suppress(FileNotFoundError):
                script.path.unlink()
            return
        _replace(script.path, (text or "").encode("utf-8"))
    except OSError as exc:
        raise HomeNotWritable(f"Writing {script.path} failed: {exc.strerror or exc}.") from exc


def _replace(path: Path, data: bytes) -> None:
    owner = _owner(path)
    _make_folder(path.parent, owner)
    replace_file(path, data, stage_dir=path.parent, prefix=TEMP_PREFIX, mode=0o644, owner=owner)


def _owner(path: Path) -> tuple[int, int] | None:
    """Whose the new file is: the mailbox folder's owner (DMS's vmail user), as Dovecot reads it."""
    for candidate in (path, *path.parents):
        with contextlib.suppress(FileNotFoundError):
            st = candidate.stat()
            if candidate == Path(settings.DMS_MAIL_DIR):
                return DEFAULT_OWNER if st.st_uid == 0 else (st.st_uid, st.st_gid)
            return st.st_uid, st.st_gid
    return DEFAULT_OWNER


def _make_folder(folder: Path, owner: tuple[int, int] | None) -> None:
    """The home (and mailbox folder) as Dovecot would create them: owned by the vmail user."""
    missing = []
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            break
        missing.append(candidate)
    for made in reversed(missing):
        made.mkdir(mode=0o700)
        if owner and os.geteuid() == 0:
            os.chown(made, *owner)
