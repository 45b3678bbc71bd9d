"""The config store: the only code that writes DMS's config folder.

Every change is validated text, written atomically (temp file in the same folder, fsync,
os.replace, fsync of the folder) under one exclusive lock shared by web, API and workers, and
committed to a git repository so it can be listed, diffed and rolled back. Secrets (DKIM/TLS
private keys, relay passwords) are written but never committed; secret values in
`mailserver.env` are redacted in history by a git clean filter.

Changes made by hand outside the dashboard are committed as "External change" before the next
dashboard write, so nothing is lost or misattributed; adopting an existing folder is just the
first such commit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import errno
import fcntl
import fnmatch
import functools
import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pygit2

from dms_admin.background import background
from dms_admin.durable import fsync_dir, replace_file
from dms_admin.emptyfiles import content_to_write
from dms_admin.historyrepo import (
    ADOPTED_MESSAGE,
    EXTERNAL_AUTHOR,
    SYSTEM_AUTHOR,
    Commit,
    HistoryQuery,
    HistoryRepo,
    blob_id,
)
from dms_admin.redact import REDACTED_FILES, redact_env_text, unredact_env_text
from dms_admin.revert import FileConflict, RevertConflict, revert_file
from dms_admin.storeerrors import ConfigLockTimeout, ConfigStoreError, HistoryNotFound, RollbackConflict

log = logging.getLogger(__name__)

# Kept out of history. Patterns without a slash match a file name at any depth (gitignore rules).
IGNORED_NAME_PATTERNS = (
    "*.lock",  # DMS's own lock files (check-for-changes.sh.lock, …)
    ".dms-admin-tmp-*",  # our temp files, in case a crash left one behind
)
SECRET_NAME_PATTERNS = (
    "postfix-sasl-password.cf",  # relay passwords in clear
    "*.private",  # OpenDKIM private keys
    "*.private.txt",  # Rspamd DKIM private keys
    "*key.pem",  # TLS keys (ssl/<FQDN>-key.pem, cakey.pem, privkey.pem)
    "privkey*.pem",
    "*-full.pem",  # SSL_TYPE=custom: key and chain in one file
    "acme.json",  # Traefik's store holds private keys
)
META_DIR = ".dms-admin"
TEMP_PREFIX = ".dms-admin-tmp-"
DMS_CHANGE_LOCK = "check-for-changes.sh.lock"
# The mail container must not see half a file under rspamd/: its whole tree is watched (spec §2.4).
STAGE_OUTSIDE = ("rspamd/",)
_SAFE_NAME = re.compile(r"^[A-Za-z0-9@._+-][A-Za-z0-9@._+ -]*$")


@dataclasses.dataclass(frozen=True)
class ChangeResult:
    files: tuple[str, ...]  # every path whose content changed (secrets included)
    sha: str | None = None  # the commit; None for a dry run or a change with nothing to commit
    dry_run: bool = False
    created: tuple[str, ...] = ()  # paths that did not exist before
    contents: tuple[tuple[str, bytes | None, bytes | None], ...] = dataclasses.field(default=(), repr=False)

    @property
    def changed(self) -> bool:
        return bool(self.files)

    @functools.cached_property
    def diff(self) -> str:
        """Unified diff of the change, secrets not shown (computed on demand: big files are slow)."""
        return "".join(unified_diff(rel, old, new) for rel, old, new in self.contents)


def is_secret(rel: str) -> bool:
    name = PurePosixPath(rel).name
    return any(fnmatch.fnmatchcase(name, p) for p in SECRET_NAME_PATTERNS)


def is_housekeeping(rel: str) -> bool:
    """Lock files, our temp files and our own folder: never config, never history."""
    name = PurePosixPath(rel).name
    return (
        rel == META_DIR
        or rel.startswith(META_DIR + "/")
        or any(fnmatch.fnmatchcase(name, p) for p in IGNORED_NAME_PATTERNS)
    )


def is_ignored(rel: str) -> bool:
    """Kept out of the version history."""
    return is_housekeeping(rel) or is_secret(rel)


def normalize_text(text: str) -> str:
    """DMS wants LF only, UTF-8 without BOM and a final newline (spec §1.1)."""
    text = text.lstrip("\ufeff")
    if "\r" in text:  # a scan is much cheaper than two replaces over a 600 kB file
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text and not text.endswith("\n"):
        text += "\n"
    return text


def clean_relpath(rel: str) -> str:
    """A safe path inside the config folder, or ConfigStoreError."""
    if not rel or "\x00" in rel or "\\" in rel:
        raise ConfigStoreError(f"Invalid config path {rel!r}.")
    path = PurePosixPath(rel)
    if path.is_absolute() or any(part in ("", ".", "..") for part in path.parts):
        raise ConfigStoreError(f"Config path {rel!r} must stay inside the config folder.")
    if not all(_SAFE_NAME.match(part) for part in path.parts):
        raise ConfigStoreError(f"Config path {rel!r} has characters that are not allowed.")
    if path.parts[0] == META_DIR:
        raise ConfigStoreError(f"{META_DIR}/ belongs to dms-admin itself.")
    return str(path)


def unified_diff(rel: str, old: bytes | None, new: bytes | None) -> str:
    if is_secret(rel):
        if new is None:
            return f"--- a/{rel}\n+++ /dev/null\n@@ secret file removed; its contents are not shown @@\n"
        return f"--- a/{rel}\n+++ b/{rel}\n@@ secret file changed; its contents are not shown @@\n"
    old_text = (old or b"").decode("utf-8", errors="replace")
    new_text = (new or b"").decode("utf-8", errors="replace")
    if PurePosixPath(rel).name in REDACTED_FILES:
        old_text, new_text = redact_env_text(old_text), redact_env_text(new_text)
    lines = difflib.unified_diff(
        old_text.splitlines(keepends=True),
        new_text.splitlines(keepends=True),
        fromfile="/dev/null" if old is None else f"a/{rel}",
        tofile="/dev/null" if new is None else f"b/{rel}",
    )
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)


class _ProcessLock:
    """An exclusive flock on a file, re-entrant within one thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()

    @contextlib.contextmanager
    def hold(self, timeout: float) -> Iterator[None]:
        depth = getattr(self._local, "depth", 0)
        if depth:
            self._local.depth = depth + 1
            try:
                yield
            finally:
                self._local.depth -= 1
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                    if time.monotonic() > deadline:
                        raise ConfigLockTimeout(
                            "Another change to the mail configuration is in progress; try again in a moment."
                        ) from None
                    time.sleep(0.005)
            self._local.depth = 1
            try:
                yield
            finally:
                self._local.depth = 0
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


class Change:
    """Staged edits to the config folder, written and committed together when the block ends."""

    def __init__(self, store: ConfigStore) -> None:
        self._store = store
        self._staged: dict[str, bytes | None] = {}
        # What the files held when first read in this block (we hold the lock): writing compares
        # with it instead of reading a 1.4 MB accounts file a second time.
        self._original: dict[str, bytes | None] = {}
        self.result: ChangeResult | None = None

    def read_bytes(self, rel: str) -> bytes | None:
        rel = clean_relpath(rel)
        if rel in self._staged:
            return self._staged[rel]
        if rel not in self._original:
            self._original[rel] = self._store.read_bytes(rel)
        return self._original[rel]

    def read(self, rel: str) -> str:
        """The current text (staged edits included); '' for a missing file."""
        data = self.read_bytes(rel)
        return "" if data is None else data.decode("utf-8")

    def write(self, rel: str, text: str) -> None:
        rel = clean_relpath(rel)
        # Some files must go rather than stay empty (emptyfiles.RULES says which, and why).
        self._staged[rel] = content_to_write(rel, normalize_text(text).encode("utf-8"))

    def write_bytes(self, rel: str, data: bytes) -> None:
        self._staged[clean_relpath(rel)] = data

    def delete(self, rel: str) -> None:
        self._staged[clean_relpath(rel)] = None


class ConfigStore:
    def __init__(self, root: Path, history_dir: Path | None = None, *, lock_timeout: float = 30.0) -> None:
        self.root = Path(root)
        self.meta = self.root / META_DIR
        self.history_dir = Path(history_dir) if history_dir else self.meta / "history.git"
        self.lock_timeout = lock_timeout
        self._lock = _ProcessLock(self.meta / "lock")
        self._ready = False
        excludes = [f"/{META_DIR}/", *IGNORED_NAME_PATTERNS, *SECRET_NAME_PATTERNS]
        self.repo = HistoryRepo(self.history_dir, excludes=excludes)
        # (path, size, mtime_ns, inode) -> blob id: unchanged files are not read again.
        self._oid_cache: dict[tuple[str, int, int, int], str] = {}

    # ---- reading -------------------------------------------------------------------------

    def path(self, rel: str) -> Path:
        return self.root / clean_relpath(rel)

    def read_bytes(self, rel: str) -> bytes | None:
        try:
            return self.path(rel).read_bytes()
        except FileNotFoundError:
            return None

    def read(self, rel: str) -> str:
        data = self.read_bytes(rel)
        return "" if data is None else data.decode("utf-8")

    def exists(self, rel: str) -> bool:
        return self.path(rel).exists()

    def file_signature(self, rel: str) -> tuple[int, int, int] | None:
        """(size, mtime_ns, inode) of a file, to tell cheaply whether it changed; None if missing."""
        try:
            stat = self.path(rel).stat()
        except FileNotFoundError:
            return None
        return (stat.st_size, stat.st_mtime_ns, stat.st_ino)

    # ---- writing -------------------------------------------------------------------------

    @contextlib.contextmanager
    def change(self, *, actor: str, message: str, dry_run: bool = False) -> Iterator[Change]:
        """Stage edits in the block; on a clean exit write them all and commit once.

        The lock is held for the whole block, so a read-modify-write inside it never loses a
        concurrent writer's change.
        """
        with self._lock.hold(self.lock_timeout):
            self._ensure_repo()
            if not dry_run:
                self.record_external_changes()
            change = Change(self)
            yield change
            change.result = self._apply(change, actor=actor, message=message, dry_run=dry_run)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the store's lock around a change and what must follow it before anyone else writes
        (a file outside the folder that mirrors it). Re-entrant: `change()` inside it just nests."""
        with self._lock.hold(self.lock_timeout):
            yield

    def write(self, rel: str, text: str, *, actor: str, message: str, dry_run: bool = False) -> ChangeResult:
        with self.change(actor=actor, message=message, dry_run=dry_run) as change:
            change.write(rel, text)
        assert change.result is not None
        return change.result

    def record_external_changes(self) -> str | None:
        """Commit whatever changed in the folder since our last commit, as an external change."""
        with self._lock.hold(self.lock_timeout):
            self._ensure_repo()
            drift = self._drift()
            if not drift:
                return None
            first = self.repo.is_empty()
            message = ADOPTED_MESSAGE if first else "External change (made outside dms-admin)"
            return self._commit(drift, author=SYSTEM_AUTHOR if first else EXTERNAL_AUTHOR, message=message)

    def rollback(self, sha: str, *, actor: str, dry_run: bool = False) -> ChangeResult:
        """Undo the lines `sha` changed in the files as they are now (a new commit), as `git revert`.

        Later changes to other lines stay; if a later change touched the same lines, nothing is
        written and RollbackConflict lists them.
        """
        commit = self.commit(sha)
        if commit.is_adoption:
            raise ConfigStoreError(
                "This is where dms-admin adopted the config folder as it found it: undoing it would empty the "
                "folder. Roll back a later change, or restore one file as of a version, instead."
            )
        conflicts: list[FileConflict] = []
        with self.change(actor=actor, message=f"Roll back {commit.short}: {commit.subject}", dry_run=dry_run) as change:
            for rel in commit.files:
                if is_ignored(rel):
                    continue  # never committed; a file matching a newer secret pattern stays as it is
                live = change.read_bytes(rel)
                ours = None if live is None else _history_content(rel, live)
                theirs = self.repo.blob(commit.parent, rel) if commit.parent else None
                try:
                    merged = revert_file(rel, base=self.repo.blob(commit.sha, rel), ours=ours, theirs=theirs)
                except RevertConflict as conflict:
                    conflicts += conflict.conflicts
                    continue
                if merged == ours:
                    continue
                if merged is None:
                    change.delete(rel)
                else:
                    change.write_bytes(rel, _live_content(rel, merged, live))
            if conflicts:
                raise RollbackConflict(conflicts)  # inside the block: nothing is written
        assert change.result is not None
        return change.result

    def restore_file(
        self, sha: str, rel: str, *, actor: str, dry_run: bool = False
    ) -> tuple[ChangeResult, list[Commit]]:
        """Put one file back as it was right after `sha`; also the later changes to it this undoes."""
        commit = self.commit(sha)
        rel = clean_relpath(rel)
        if rel not in commit.files:
            raise HistoryNotFound(f"{rel} is not one of the files change {commit.short} made.")
        content = self.repo.blob(commit.sha, rel)
        with self.change(actor=actor, message=f"Restore {rel} as of {commit.short}", dry_run=dry_run) as change:
            undone = self.changes_since(commit.sha, rel)  # under the lock: what this write undoes
            if content is None:
                change.delete(rel)  # that change deleted it: as of then, there was no such file
            else:
                change.write_bytes(rel, _live_content(rel, content, change.read_bytes(rel)))
        assert change.result is not None
        return change.result, undone

    def changes_since(self, sha: str, rel: str) -> list[Commit]:
        """The commits after `sha` that changed `rel`, newest first."""
        commit = self.commit(sha)
        return self.repo.commits(f"{commit.sha}..HEAD", "--", clean_relpath(rel))

    def _apply(self, change: Change, *, actor: str, message: str, dry_run: bool) -> ChangeResult:
        staged, contents = change._staged, []
        for rel, new in staged.items():
            old = change._original[rel] if rel in change._original else self.read_bytes(rel)
            if old != new:
                contents.append((rel, old, new))
        changed = [rel for rel, _, _ in contents]
        summary = ChangeResult(
            files=tuple(changed),
            created=tuple(rel for rel, old, _ in contents if old is None),
            contents=tuple(contents),
            dry_run=dry_run,
        )
        if dry_run or not changed:
            return summary
        self._wait_for_dms_change_detector()
        self._remove_stale_temp_files({self._stage_dir(rel) for rel in changed})
        versioned = {rel: staged[rel] for rel in changed if not is_ignored(rel)}
        # The history's blobs are hashed and stored on another thread while the files themselves
        # are written and fsynced (both mostly wait on the kernel): ~2 ms of a 1.4 MB accounts file.
        blobs = background("history-blobs").submit(self._write_blobs, versioned)
        try:
            for rel in changed:
                new = staged[rel]
                if new is None:
                    self._delete(rel)
                else:
                    self._atomic_write(rel, new)
        finally:
            blob_ids = blobs.result()  # never leave a thread writing to the history without the lock
        sha = self._commit(versioned, author=actor, message=message, blobs=blob_ids) if versioned else None
        return dataclasses.replace(summary, sha=sha)

    def _atomic_write(self, rel: str, data: bytes) -> None:
        target = self.root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            old = target.stat()
        except FileNotFoundError:
            old = None
        stage_dir = self._stage_dir(rel)
        stage_dir.mkdir(parents=True, exist_ok=True)
        mode = old.st_mode & 0o7777 if old is not None else (0o600 if is_secret(rel) else 0o644)
        owner = (old.st_uid, old.st_gid) if old is not None else None
        replace_file(target, data, stage_dir=stage_dir, prefix=TEMP_PREFIX, mode=mode, owner=owner)

    def _stage_dir(self, rel: str) -> Path:
        if rel.startswith(STAGE_OUTSIDE):
            return self.meta / "tmp"
        return (self.root / rel).parent

    @staticmethod
    def _remove_stale_temp_files(dirs: set[Path]) -> None:
        # We hold the lock, so no writer is using a temp file: any left is from a killed writer.
        for folder in dirs:
            for stale in folder.glob(TEMP_PREFIX + "*"):
                with contextlib.suppress(FileNotFoundError):
                    stale.unlink()

    def _delete(self, rel: str) -> None:
        target = self.root / rel
        with contextlib.suppress(FileNotFoundError):
            target.unlink()
            fsync_dir(target.parent)
        # Folders the removal emptied go too (opendkim/keys/<domain>/ once its last key is deleted).
        folder = target.parent
        while folder != self.root and folder.is_relative_to(self.root):
            try:
                folder.rmdir()
            except OSError:  # not empty (or already gone): stop here
                break
            folder = folder.parent

    def _wait_for_dms_change_detector(self, limit: float = 5.0) -> None:
        # Cooperative: DMS holds this lock while it rebuilds from the files; a fresh lock means a
        # rebuild is running, a lock older than a minute is stale (DMS's own rule).
        lock = self.root / DMS_CHANGE_LOCK
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            try:
                if time.time() - lock.stat().st_mtime > 60:
                    return
            except FileNotFoundError:
                return
            time.sleep(0.1)

    # ---- history (the git plumbing is HistoryRepo's) --------------------------------------

    def history(
        self, *, limit: int = 50, offset: int = 0, path: str | None = None, query: HistoryQuery | None = None
    ) -> list[Commit]:
        query = query or HistoryQuery(path=path or "")
        return self.repo.commits(f"--max-count={limit}", f"--skip={offset}", *query.git_args(), *_paths(query))

    def tracked_files(self) -> list[str]:
        """The files the newest commit holds (cached per commit: cheap)."""
        return list(self.repo.head_files())

    def count(self, query: HistoryQuery | None = None) -> int:
        query = query or HistoryQuery()
        return self.repo.count(*query.git_args(), "HEAD", *_paths(query))

    def commit(self, sha: str) -> Commit:
        return self.repo.find(sha)

    def diff(self, sha: str) -> str:
        return self.repo.patch(self.commit(sha).sha)

    def content_at(self, rev: str, rel: str) -> bytes | None:
        """A file as it was at `rev` (a sha, `sha^`, …); None if it did not exist then."""
        return self.repo.blob(rev, clean_relpath(rel))

    def loose_object_bytes(self) -> int:
        return self.repo.loose_object_bytes()

    def compact_history(self, *, above_bytes: int = 64 * 1024 * 1024) -> bool:
        """Pack the history (git gc) once loose objects pass `above_bytes`; True if it ran."""
        self._ensure_repo()
        if self.repo.loose_object_bytes() <= above_bytes:
            return False
        with self._lock.hold(self.lock_timeout):
            self.repo.gc()
        return True

    def _ensure_repo(self) -> None:
        if not self._ready:
            self.root.mkdir(parents=True, exist_ok=True)
            self.repo.ensure()
            self._ready = True

    def _drift(self) -> dict[str, bytes | None]:
        """What the folder holds that the newest commit does not (new, changed or deleted files)."""
        head = self.repo.head_files()
        if len(self._oid_cache) > 10_000:
            self._oid_cache.clear()
        drift: dict[str, bytes | None] = {}
        present = set()
        for rel, path in self._versioned_files():
            present.add(rel)
            stat = path.stat()
            key = (rel, stat.st_size, stat.st_mtime_ns, stat.st_ino)
            oid = self._oid_cache.get(key)
            if oid is None:
                oid = self._oid_cache[key] = blob_id(_history_content(rel, path.read_bytes()))
            if oid != head.get(rel):
                drift[rel] = path.read_bytes()
        drift.update({rel: None for rel in head if rel not in present})
        return drift

    def _versioned_files(self) -> Iterator[tuple[str, Path]]:
        for folder, dirs, files in os.walk(self.root):
            rel_folder = os.path.relpath(folder, self.root)
            rel_folder = "" if rel_folder == "." else rel_folder + "/"
            dirs[:] = [d for d in dirs if not is_housekeeping(rel_folder + d)]
            for name in files:
                rel = rel_folder + name
                path = Path(folder, name)
                if not is_ignored(rel) and not path.is_symlink():
                    yield rel, path

    def _write_blobs(self, changes: dict[str, bytes | None]) -> dict[str, pygit2.Oid | None]:
        return {
            rel: None if data is None else self.repo.write_blob(_history_content(rel, data))
            for rel, data in changes.items()
        }

    def _commit(
        self,
        changes: dict[str, bytes | None],
        *,
        author: str,
        message: str,
        blobs: dict[str, pygit2.Oid | None] | None = None,
    ) -> str | None:
        """One commit of `changes` (path to new bytes, or None to delete) on top of the newest.

        `blobs`: their blob ids, when _write_blobs() stored them already.
        """
        if blobs is None:
            blobs = self._write_blobs(changes)
        for rel, blob in blobs.items():  # the files as written: not read again by _drift()
            if blob is None:
                continue
            with contextlib.suppress(FileNotFoundError):
                stat = (self.root / rel).stat()
                self._oid_cache[(rel, stat.st_size, stat.st_mtime_ns, stat.st_ino)] = str(blob)
        return self.repo.commit(blobs, author=author, message=message)


def _live_content(rel: str, content: bytes, live: bytes | None) -> bytes:
    """History's bytes of a file made live: redacted secrets of mailserver.env take the live values."""
    if PurePosixPath(rel).name not in REDACTED_FILES:
        return content
    current = (live or b"").decode("utf-8", errors="surrogateescape")
    text = unredact_env_text(content.decode("utf-8", errors="surrogateescape"), current)
    return text.encode("utf-8", errors="surrogateescape")


def _history_content(rel: str, data: bytes) -> bytes:
    """What history keeps of a file: the bytes, with secret values of mailserver.env redacted."""
    if PurePosixPath(rel).name in REDACTED_FILES:
        return redact_env_text(data.decode("utf-8", errors="surrogateescape")).encode("utf-8", errors="surrogateescape")
    return data


def get_store() -> ConfigStore:
    """The store for the configured DMS config folder (one per process)."""
    from django.conf import settings

    global _store
    if _store is None or _store.root != settings.DMS_CONFIG_DIR:
        _store = ConfigStore(settings.DMS_CONFIG_DIR, settings.DMS_HISTORY_DIR)
    return _store


_store: ConfigStore | None = None


def _paths(query: HistoryQuery) -> list[str]:
    return ["--", clean_relpath(query.path)] if query.path else []
