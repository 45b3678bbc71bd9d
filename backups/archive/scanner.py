"""Listing the backed-up roots in `order_key` order, lock and temporary files left out."""

from __future__ import annotations

import fnmatch
import operator
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

from backups.archive.common import TEMP_PREFIX
from backups.archive.manifest import Entry

EXCLUDED_NAMES = ("*.lock", TEMP_PREFIX + "*")
CONFIG_META_DIR = ".dms-admin"
_EXCLUDED = re.compile("|".join(fnmatch.translate(p) for p in EXCLUDED_NAMES))
_by_name = operator.attrgetter("name")


def excluded(name: str) -> bool:
    return _EXCLUDED.match(name) is not None


def scan(roots: dict[str, Path], *, prefix: str = "") -> Iterator[tuple[Entry, str]]:
    """Every file, folder and symlink under the roots with its path on disk, lock and temp files left out.

    In `order_key` order: the roots by name, then depth first, each folder's names sorted.
    """
    for top, root in sorted(roots.items()):
        if not root.is_dir():
            continue
        yield from _scan_dir(os.fspath(root), top, top == "config", prefix)


def in_scope(arcname: str, prefix: str) -> bool:
    return not prefix or arcname == prefix or arcname.startswith(prefix + "/")


def _scan_dir(
    folder: str, arcdir: str, is_config_root: bool, prefix: str, st: os.stat_result | None = None
) -> Iterator[tuple[Entry, str]]:
    if st is None:
        try:
            st = os.lstat(folder)
        except FileNotFoundError:
            return
    if in_scope(arcdir, prefix):
        yield _entry(arcdir, "dir", st), folder
    try:
        with os.scandir(folder) as it:
            children = sorted(it, key=_by_name)
    except FileNotFoundError:  # removed since (a mail folder deleted over IMAP): gone from this backup
        return
    for child in children:
        name = child.name
        if (is_config_root and name == CONFIG_META_DIR) or _EXCLUDED.match(name):
            continue
        arcname = f"{arcdir}/{name}"
        if prefix and not (in_scope(arcname, prefix) or prefix.startswith(arcname + "/")):
            continue
        try:
            cst = child.stat(follow_symlinks=False)
        except FileNotFoundError:  # deleted while we look: Maildir moves files all the time
            continue
        mode = cst.st_mode
        if stat.S_ISREG(mode):
            yield _entry(arcname, "file", cst), child.path
        elif stat.S_ISDIR(mode):
            yield from _scan_dir(child.path, arcname, False, prefix, cst)
        elif stat.S_ISLNK(mode):
            entry = _entry(arcname, "symlink", cst)
            try:
                entry.link = os.readlink(child.path)
            except FileNotFoundError:
                continue
            yield entry, child.path


def _entry(path: str, type_: str, st: os.stat_result) -> Entry:
    return Entry(
        path,
        type_,
        st.st_size if type_ == "file" else 0,
        int(st.st_mtime),
        st.st_mtime_ns,
        st.st_uid,
        st.st_gid,
        stat.S_IMODE(st.st_mode),
    )
