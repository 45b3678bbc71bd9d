"""Restoring members of an archive into the roots: GNU tar where it is exact, else tarfile."""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import time
from collections.abc import Mapping
from pathlib import Path

from backups.archive.age import age_check, age_decrypted
from backups.archive.common import BLOCK, TEMP_PREFIX, unlink
from backups.archive.errors import ArchiveError
from backups.archive.gnutar import extract_tar, gnu_tar, tar_plan
from backups.archive.manifest import Entry, manifest_entries, manifest_header, manifest_name
from backups.archive.progress import Progress, ProgressCallback
from backups.archive.reader import members, open_tar
from backups.archive.targets import in_roots, safe_target


def extract(
    *,
    archive: Path,
    compression: str,
    roots: dict[str, Path],
    wanted: set[str],
    progress: ProgressCallback | None = None,
    state: Progress | None = None,
    held: Mapping[str, Entry] | None = None,
    identity: str | None = None,
) -> int:
    """Restore the members named in `wanted` into the roots (owner, mode, mtime kept); the count.

    `identity`: the age secret key, for an encrypted archive.

    `held` is what the archive holds (its manifest's entries with this archive's name), read from
    the manifest next to the archive if not given. GNU tar does the writing: every member held but
    not wanted is excluded (an exact, hashed list) and each top folder is renamed onto its root.
    """
    state = state or Progress()
    picked = in_roots(roots, wanted)  # raises on unsafe paths
    if not picked:
        return 0
    if held is None:
        held = _held_entries(archive)
    plan = tar_plan(roots, picked, held) if held is not None and gnu_tar() else None
    if identity is not None:
        age_check(archive, identity)  # before anything on disk changes
    if plan is None or held is None:
        return _extract_python(archive, compression, roots, picked, progress, state, identity)
    _clear_folders_for_files(roots, picked, held)
    if identity is None:
        return extract_tar(archive, compression, plan, held, progress, state, None)
    with open(archive, "rb") as fh, age_decrypted(io.BufferedReader(fh, BLOCK), identity, archive.name) as plain:
        return extract_tar(archive, compression, plan, held, progress, state, plain)


def _clear_folders_for_files(roots: dict[str, Path], picked: set[str], held: Mapping[str, Entry]) -> None:
    """A folder where the backup has a file or symlink is removed first, as tarfile's restore did.

    One listing per folder holding such members rather than a stat per member: a restore into an
    empty or a whole tree costs a few hundred listings, not 50,000 stats.
    """
    folders = set()
    for name in picked:
        entry = held.get(name)
        if entry is not None and entry.type != "dir" and "/" in name:
            folders.add(name.rpartition("/")[0])
    for folder in folders:
        target = safe_target(roots, folder)
        if target is None:
            continue
        try:
            listing = os.scandir(target)
        except (FileNotFoundError, NotADirectoryError):
            continue
        with listing:
            doomed = [
                child.path
                for child in listing
                if child.is_dir(follow_symlinks=False)
                and f"{folder}/{child.name}" in picked
                and (entry := held.get(f"{folder}/{child.name}")) is not None
                and entry.type != "dir"
            ]
        for path in doomed:
            shutil.rmtree(path)


def _held_entries(archive: Path) -> dict[str, Entry] | None:
    """What the archive holds, from the manifest written with it (None: no usable manifest)."""
    path = archive.parent / manifest_name(archive.name)
    try:
        name = manifest_header(path)["name"]
        return {e.path: e for e in manifest_entries(path) if e.archive == name}
    except (ArchiveError, KeyError):
        return None


def _extract_python(
    archive: Path,
    compression: str,
    roots: dict[str, Path],
    wanted: set[str],
    progress: ProgressCallback | None,
    state: Progress,
    identity: str | None = None,
) -> int:
    """tarfile's extraction, for what GNU tar cannot do exactly (no manifest, odd names, no GNU tar)."""
    dirs: list[tuple[Path, tarfile.TarInfo]] = []
    count = 0
    last_report = 0.0
    with open_tar(archive, compression, identity) as (tar, _):
        for member in members(tar):
            if member.name not in wanted:
                continue
            target = safe_target(roots, member.name)
            if target is None:
                continue
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
                dirs.append((target, member))
            elif member.isfile():
                _restore_file(tar, member, target)
            elif member.issym():
                _restore_symlink(member, target)
            count += 1
            state.files_done += 1
            state.bytes_done += member.size
            if progress and time.monotonic() - last_report > 0.5:
                last_report = time.monotonic()
                progress(state)
    for folder, member in reversed(dirs):  # deepest first, after their content changed their mtime
        os.chown(folder, member.uid, member.gid)
        os.chmod(folder, member.mode)
        os.utime(folder, (member.mtime, member.mtime))
    return count


def _restore_file(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(TEMP_PREFIX + target.name)
    src = tar.extractfile(member)
    assert src is not None
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(src, out, BLOCK)
            os.fchown(fd, member.uid, member.gid)
            os.fchmod(fd, member.mode)
        os.utime(tmp, (member.mtime, member.mtime))
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        unlink(tmp)
        raise


def _restore_symlink(member: tarfile.TarInfo, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(TEMP_PREFIX + target.name)
    unlink(tmp)
    os.symlink(member.linkname, tmp)
    os.lchown(tmp, member.uid, member.gid)
    os.utime(tmp, (member.mtime, member.mtime), follow_symlinks=False)
    os.replace(tmp, target)
