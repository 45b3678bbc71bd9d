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
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path, PurePosixPath

from dms_admin.redact import REDACTED_FILES, redact_env_text, unredact_env_text

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
EXTERNAL_AUTHOR = "external"
SYSTEM_AUTHOR = "dms-admin"
DMS_CHANGE_LOCK = "check-for-changes.sh.lock"
# The mail container must not see half a file under rspamd/: its whole tree is watched (spec §2.4).
STAGE_OUTSIDE = ("rspamd/",)
_SAFE_NAME = re.compile(r"^[A-Za-z0-9@._+-][A-Za-z0-9@._+ -]*$")


class ConfigStoreError(Exception):
    """A change could not be made; the message says why in words an admin understands."""


class ConfigLockTimeout(ConfigStoreError):
    pass


@dataclasses.dataclass(frozen=True)
class Commit:
    sha: str
    author: str
    message: str
    at: datetime
    files: tuple[str, ...]

    @property
    def short(self) -> str:
        return self.sha[:10]

    @property
    def subject(self) -> str:
        return self.message.splitlines()[0] if self.message else ""


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
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
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
        self.result: ChangeResult | None = None

    def read_bytes(self, rel: str) -> bytes | None:
        rel = clean_relpath(rel)
        if rel in self._staged:
            return self._staged[rel]
        return self._store.read_bytes(rel)

    def read(self, rel: str) -> str:
        """The current text (staged edits included); '' for a missing file."""
        data = self.read_bytes(rel)
        return "" if data is None else data.decode("utf-8")

    def write(self, rel: str, text: str) -> None:
        self._staged[clean_relpath(rel)] = normalize_text(text).encode("utf-8")

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
            change.result = self._apply(change._staged, actor=actor, message=message, dry_run=dry_run)

    def write(self, rel: str, text: str, *, actor: str, message: str, dry_run: bool = False) -> ChangeResult:
        with self.change(actor=actor, message=message, dry_run=dry_run) as change:
            change.write(rel, text)
        assert change.result is not None
        return change.result

    def record_external_changes(self) -> str | None:
        """Commit whatever changed in the folder since our last commit, as an external change."""
        with self._lock.hold(self.lock_timeout):
            self._ensure_repo()
            if not self._git("status", "--porcelain", "--untracked-files=all").stdout.strip():
                return None
            self._git("add", "--all")
            first = not self._has_commits()
            message = "Adopted the existing configuration" if first else "External change (made outside dms-admin)"
            return self._commit(author=SYSTEM_AUTHOR if first else EXTERNAL_AUTHOR, message=message)

    def rollback(self, sha: str, *, actor: str, dry_run: bool = False) -> ChangeResult:
        """Return the files `sha` changed to their content just before it, as a new commit."""
        commit = self.commit(sha)
        parents = self._git("rev-list", "--parents", "-n", "1", commit.sha).stdout.split()[1:]
        if not parents:
            raise ConfigStoreError("The first commit adopted the folder as it was; there is nothing before it.")
        with self.change(actor=actor, message=f"Roll back {commit.short}: {commit.subject}", dry_run=dry_run) as change:
            for rel in commit.files:
                old = self._blob(parents[0], rel)
                if old is not None and PurePosixPath(rel).name in REDACTED_FILES:
                    old = unredact_env_text(old.decode(), change.read(rel)).encode()
                if old is None:
                    change.delete(rel)
                else:
                    change.write_bytes(rel, old)
        assert change.result is not None
        return change.result

    def _apply(self, staged: dict[str, bytes | None], *, actor: str, message: str, dry_run: bool) -> ChangeResult:
        contents = []
        for rel, new in staged.items():
            old = self.read_bytes(rel)
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
        for rel in changed:
            new = staged[rel]
            if new is None:
                self._delete(rel)
            else:
                self._atomic_write(rel, new)
        versioned = [rel for rel in changed if not is_ignored(rel)]
        sha = None
        if versioned:
            self._git("add", "--all", "--", *versioned)
            sha = self._commit(author=actor, message=message)
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
        fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=stage_dir)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                if old is not None:
                    os.fchmod(fh.fileno(), old.st_mode & 0o7777)
                    if (old.st_uid, old.st_gid) != (os.geteuid(), os.getegid()):
                        with contextlib.suppress(PermissionError):
                            os.fchown(fh.fileno(), old.st_uid, old.st_gid)
                else:
                    os.fchmod(fh.fileno(), 0o600 if is_secret(rel) else 0o644)
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        _fsync_dir(target.parent)

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
            _fsync_dir(target.parent)

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

    # ---- history -------------------------------------------------------------------------

    def history(self, *, limit: int = 50, offset: int = 0, path: str | None = None) -> list[Commit]:
        self._ensure_repo()
        if not self._has_commits():
            return []
        args = ["log", f"--max-count={limit}", f"--skip={offset}", "--name-only", _LOG_FORMAT]
        if path:
            args += ["--", clean_relpath(path)]
        return _parse_log(self._git(*args).stdout)

    def count(self) -> int:
        self._ensure_repo()
        if not self._has_commits():
            return 0
        return int(self._git("rev-list", "--count", "HEAD").stdout.strip())

    def commit(self, sha: str) -> Commit:
        self._ensure_repo()
        if not re.fullmatch(r"[0-9a-f]{4,40}", sha):
            raise ConfigStoreError("That is not a commit id.")
        result = self._git("log", "-1", "--name-only", _LOG_FORMAT, sha, "--", check=False)
        commits = _parse_log(result.stdout) if result.returncode == 0 else []
        if not commits:
            raise ConfigStoreError(f"No change {sha} in the history.")
        return commits[0]

    def diff(self, sha: str) -> str:
        commit = self.commit(sha)
        return self._git("show", "--format=", "--patch", "--no-color", "--no-ext-diff", commit.sha).stdout

    def content_at(self, rev: str, rel: str) -> bytes | None:
        """A file as it was at `rev` (a sha, `sha^`, …); None if it did not exist then."""
        return self._blob(rev, clean_relpath(rel))

    def _blob(self, rev: str, rel: str) -> bytes | None:
        result = self._git_bytes("show", f"{rev}:{rel}")
        return result.stdout if result.returncode == 0 else None

    # ---- git plumbing --------------------------------------------------------------------

    def _ensure_repo(self) -> None:
        if self._ready:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        if not (self.history_dir / "HEAD").exists():
            self.history_dir.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                ["git", "init", "--quiet", "--bare", "--initial-branch=main", str(self.history_dir)],
                check=True,
                capture_output=True,
            )
            self._git("config", "core.bare", "false")
        info = self.history_dir / "info"
        info.mkdir(exist_ok=True)
        excludes = [f"/{META_DIR}/", *IGNORED_NAME_PATTERNS, *SECRET_NAME_PATTERNS]
        _write_if_changed(info / "exclude", "".join(f"{p}\n" for p in excludes))
        _write_if_changed(info / "attributes", "".join(f"{n} filter=dmsredact\n" for n in REDACTED_FILES))
        self._ready = True

    def _has_commits(self) -> bool:
        return self._git("rev-parse", "--verify", "--quiet", "HEAD", check=False).returncode == 0

    def _commit(self, *, author: str, message: str) -> str:
        # Plumbing instead of `git commit`: three quick steps, no hooks, no status scan
        # (a third of the time of a write on a 10,000-line file).
        name = _git_name(author)
        env = {
            "GIT_AUTHOR_NAME": name,
            "GIT_AUTHOR_EMAIL": f"{name}@dms-admin",
            "GIT_COMMITTER_NAME": "dms-admin",
            "GIT_COMMITTER_EMAIL": "dms-admin@dms-admin",
        }
        tree = self._git("write-tree").stdout.strip()
        parent = self._git("rev-parse", "--verify", "--quiet", "HEAD", check=False).stdout.strip()
        args = ["commit-tree", tree, "-m", message] + (["-p", parent] if parent else [])
        sha = self._git(*args, env=env).stdout.strip()
        self._git("update-ref", "-m", "dms-admin", "HEAD", sha, *([parent] if parent else []))
        return sha

    def _git_args(self) -> list[str]:
        return [
            "git",
            "-c", "safe.directory=*",  # the folder may belong to another uid (root in DMS)
            "-c", "core.hooksPath=/dev/null",
            "-c", "commit.gpgSign=false",
            "-c", "core.autocrlf=false",
            "-c", "core.quotePath=false",
            "-c", "gc.auto=0",  # 400 commits/min must not trigger a blocking gc
            "-c", "core.looseCompression=1",  # config files are small text: speed over size
            "-c", "core.compression=1",
            "-c", f"filter.dmsredact.clean={sys.executable} -m dms_admin.redact",
            f"--git-dir={self.history_dir}",
            f"--work-tree={self.root}",
        ]  # fmt: skip

    def _git(
        self, *args: str, check: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*self._git_args(), *args],
            capture_output=True,
            text=True,
            env=_git_env(env),
            cwd=self.root,
        )
        if check and result.returncode != 0:
            raise ConfigStoreError(f"git {args[0]} failed: {result.stderr.strip() or result.stdout.strip()}")
        return result

    def _git_bytes(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([*self._git_args(), *args], capture_output=True, env=_git_env(None), cwd=self.root)


_LOG_FORMAT = "--format=%x1e%H%x1f%an%x1f%aI%x1f%B%x1f"


def _parse_log(output: str) -> list[Commit]:
    commits = []
    for record in output.split("\x1e")[1:]:
        sha, author, at, message, files = record.split("\x1f")
        commits.append(
            Commit(
                sha=sha,
                author=author,
                message=message.strip(),
                at=datetime.fromisoformat(at),
                files=tuple(f for f in files.strip().splitlines() if f),
            )
        )
    return commits


def _git_name(actor: str) -> str:
    name = re.sub(r"[<>\n\r\x00]", "", actor).strip()
    return name or "unknown"


def _git_env(extra: dict[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update({"LC_ALL": "C.UTF-8", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null"})
    # The clean filter imports dms_admin: make sure it can from whatever cwd git runs it in.
    project = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = project + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(extra or {})
    return env


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def get_store() -> ConfigStore:
    """The store for the configured DMS config folder (one per process)."""
    from django.conf import settings

    global _store
    if _store is None or _store.root != settings.DMS_CONFIG_DIR:
        _store = ConfigStore(settings.DMS_CONFIG_DIR, settings.DMS_HISTORY_DIR)
    return _store


_store: ConfigStore | None = None
