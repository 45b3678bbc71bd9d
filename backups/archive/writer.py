"""Writing an archive and its manifest: two passes over the scan, nothing left behind if it fails."""

from __future__ import annotations

import dataclasses
import errno
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from backups.archive.age import AgeEncrypt
from backups.archive.common import TEMP_PREFIX, remove, unlink
from backups.archive.compress import HashingFile, ParallelGzip, ZstdPipe, compressor
from backups.archive.errors import NotEnoughSpace
from backups.archive.manifest import (
    Entry,
    Manifest,
    ManifestWriter,
    manifest_entries,
    manifest_header,
    manifest_name,
)
from backups.archive.parent import IndexedParent, SortedParent, Unsorted
from backups.archive.progress import Progress, ProgressCallback, mb
from backups.archive.space import check_free_space, estimate_needed
from backups.archive.spool import Record, scan_to_spool, spooled
from backups.archive.tarstream import TarStream, Warnings, add_file
from dms_admin.durable import fsync_dir


@dataclasses.dataclass
class Written:
    """What `write_archive` wrote: the archive's facts and counts; the entries are in its manifest file."""

    name: str
    kind: str
    parent: str | None
    sha256: str
    size: int
    entries: int  # listed in the manifest
    held: int  # of them, held by this archive (files, folders, symlinks)
    held_files: int
    held_bytes: int
    deleted: int
    warnings: list[str]


def write_archive(
    *,
    dest: Path,
    name: str,
    roots: dict[str, Path],
    compression: str = "gzip",
    kind: str = "full",
    parent: Path | Manifest | None = None,
    created_at: str,
    progress: ProgressCallback | None = None,
    only: set[str] | None = None,
    ratio: float | None = None,
    check_space: bool = True,
    age_recipient: str = "",
) -> Written:
    """Write `dest/name` and `dest/name.manifest.json`; nothing is left behind if it fails.

    `parent` is the previous archive's manifest (its path, or loaded): an incremental archive holds
    only what changed since; either way the manifest lists what was deleted since. `only`: just
    these paths (a safety backup before a restore). `age_recipient`: encrypt the archive to that
    age public key (name it `suffix_for(..., encrypted=True)`); its manifest then holds no content
    checksums.

    Memory stays flat whatever the number of files: the scan is spooled to a temporary file next
    to the archive, the manifest streamed to its own temporary file, and the parent's manifest read
    alongside the scan rather than loaded (see `order_key`).
    """
    parent_name, parent_entries = _parent_reader(parent)
    roots_text = {k: str(v) for k, v in roots.items()}
    blank = Manifest(name, kind, created_at, compression, parent_name, roots_text, [], age_recipient=age_recipient)
    files = _TempFiles(dest, name)
    warnings = Warnings()
    try:
        with files.create(files.spool) as spool, files.create(files.manifest) as mfh:
            writer, state = _first_pass(spool, mfh, blank.header(), roots, only, parent_entries)
            if check_space:
                check_free_space(dest, estimate_needed(state.bytes_total, ratio))
            writer.start_entries()
            with files.create(files.archive) as fh:
                out, counts = _second_pass(
                    fh, compression, age_recipient, spooled(spool), writer, name, state, progress, warnings
                )
            writer.finish(warnings=warnings.as_list(), sha256=out.sha.hexdigest(), size=out.size)
            mfh.flush()
            os.fsync(mfh.fileno())
        files.commit()
    except OSError as exc:
        files.remove()
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise NotEnoughSpace(
                f"The backup volume {dest} filled up while writing ({mb(shutil.disk_usage(dest).free)} free); "
                "the partial archive was removed."
            ) from exc
        raise
    except BaseException:
        files.remove()
        raise
    facts = (name, kind, parent_name, out.sha.hexdigest(), out.size, writer.entries)
    return Written(*facts, *counts, deleted=writer.deleted_count, warnings=warnings.as_list())


def _parent_reader(parent: Path | Manifest | None) -> tuple[str | None, Callable[[], Iterator[Entry]] | None]:
    """The parent archive's name, and a way to read its entries from the start (twice, if need be)."""
    if isinstance(parent, Manifest):
        return parent.name, lambda: iter(parent.entries)
    if parent is not None:
        return manifest_header(parent)["name"], lambda: manifest_entries(parent)
    return None, None


class _TempFiles:
    """The archive's, its manifest's and the scan spool's temporary files: renamed into place, or all removed."""

    def __init__(self, dest: Path, name: str) -> None:
        self.dest, self.name = dest, name
        self.archive = dest / f"{TEMP_PREFIX}{name}"
        self.manifest = dest / f"{TEMP_PREFIX}{manifest_name(name)}"
        self.spool = dest / f"{TEMP_PREFIX}{name}.scan"
        self.created: list[Path] = []

    def create(self, path: Path) -> IO[bytes]:
        # 0600 from the first byte, whatever the umask: archives and manifests hold the mail and the
        # server's secrets (relay passwords, DKIM keys). Owned by the user this process runs as.
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        self.created.append(path)
        return os.fdopen(fd, "rb+")

    def commit(self) -> None:
        unlink(self.spool)
        os.replace(self.manifest, self.dest / manifest_name(self.name))
        os.replace(self.archive, self.dest / self.name)
        fsync_dir(self.dest)

    def remove(self) -> None:
        remove(self.created, self.dest / manifest_name(self.name))


def _first_pass(
    spool: IO[bytes],
    mfh: IO[bytes],
    header: dict[str, Any],
    roots: dict[str, Path],
    only: set[str] | None,
    parent_entries: Callable[[], Iterator[Entry]] | None,
) -> tuple[ManifestWriter, Progress]:
    """The scan into the spool and the deleted paths into the manifest: the parent's entries read
    alongside the scan, or, for a parent in another order, looked up (both files started again)."""
    name, incremental = header["name"], header["kind"] == "incremental"
    writer = ManifestWriter(mfh, header)
    try:
        found = SortedParent(parent_entries(), writer.deleted) if parent_entries else None
        return writer, scan_to_spool(spool, roots, only, name, incremental, found)
    except Unsorted:
        for fh in (spool, mfh):
            fh.seek(0)
            fh.truncate()
        writer = ManifestWriter(mfh, header)
        assert parent_entries is not None
        indexed = IndexedParent(parent_entries(), writer.deleted)
        return writer, scan_to_spool(spool, roots, only, name, incremental, indexed)


def _second_pass(
    fh: IO[bytes],
    compression: str,
    age_recipient: str,
    records: Iterable[Record],
    writer: ManifestWriter,
    name: str,
    state: Progress,
    progress: ProgressCallback | None,
    warnings: Warnings,
) -> tuple[HashingFile, tuple[int, int, int]]:
    """The members through the compressor (and age) into the archive file, flushed to the disk."""
    out = HashingFile(fh)  # what is on disk: with age, the sha256 of the encrypted file
    sealed = AgeEncrypt(out, age_recipient) if age_recipient else None
    comp = compressor(compression, sealed or out)
    try:
        counts = _write_members(comp, records, writer, name, state, progress, warnings)
        comp.close()
        if sealed:
            sealed.close()
    except BaseException:
        comp.abort()
        if sealed:
            sealed.abort()
        raise
    fh.flush()
    os.fsync(fh.fileno())
    return out, counts


def _write_members(
    comp: ParallelGzip | ZstdPipe,
    records: Iterable[Record],
    writer: ManifestWriter,
    name: str,
    state: Progress,
    progress: ProgressCallback | None,
    warnings: Warnings,
) -> tuple[int, int, int]:
    """Second pass: what this archive holds into the tar stream, every entry into the manifest."""
    tar = TarStream(comp)
    held = held_files = held_bytes = 0
    last_report = 0.0
    for path, type_, size, mtime, mtime_ns, uid, gid, mode, sha256, link, archive, disk in records:
        entry = Entry(path, type_, size, mtime, mtime_ns, uid, gid, mode, sha256, link, archive)
        if archive == name:
            added = add_file(tar, entry, disk, warnings) if type_ == "file" else tar.add(entry)
            state.files_done += 1
            state.bytes_done += entry.size
            now = time.monotonic()
            if progress and now - last_report >= 0.5:
                last_report = now
                progress(state)
            if not added:  # gone before we could read it: not in this backup
                continue
            held += 1
            held_files += type_ == "file"
            held_bytes += entry.size
        writer.entry(entry)
    tar.close()
    if progress:
        progress(state)
    return held, held_files, held_bytes
