"""Mailbox sizes read from the mail volume (no exec, no Dovecot quota plugin needed).

Dovecot names Maildir files `<time>.<id>.<host>,S=<bytes>,W=<vbytes>:2,<flags>`, so the size is
in the name: listing the folders is enough, no stat per message (spec §5.2).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_SIZE = re.compile(r",S=(\d+)")
_SKIP_DIRS = {"tmp", "home"}  # half-delivered messages; sieve scripts and state


def folder_bytes(path: Path) -> int:
    total = 0
    stack = [str(path)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if entry.name not in _SKIP_DIRS:
                    stack.append(entry.path)
                continue
            match = _SIZE.search(entry.name)
            if match:
                total += int(match[1])
            elif entry.is_file(follow_symlinks=False) and not entry.name.startswith(
                ("dovecot", "subscriptions", "maildirfolder")
            ):
                total += entry.stat(follow_symlinks=False).st_size
    return total


def mailbox_bytes(mail_dir: Path, address: str) -> int | None:
    """Bytes of mail of `address`, None when its folder does not exist (yet)."""
    local, _, domain = address.partition("@")
    folder = mail_dir / domain / local
    if not folder.is_dir():
        return None
    return folder_bytes(folder)
