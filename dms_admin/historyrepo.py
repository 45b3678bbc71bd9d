"""The version history of the config folder: a bare git repository, plumbing only.

Writes go through libgit2 in-process (pygit2): blobs and trees are built straight from the bytes
the store writes, with no index and no `git` process per step; at 10,000 mailboxes that is the
difference between ~60 ms and ~15 ms per change. Reads (log, diffs) use the git CLI. What goes
into the history (which files, redacted secrets) and the lock are the config store's business.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import math
import os
import re
import struct
import subprocess
import threading
import time
import unicodedata
import zlib
from datetime import datetime
from pathlib import Path

import pygit2

from dms_admin.storeerrors import ConfigStoreError, HistoryNotFound

log = logging.getLogger(__name__)

EXTERNAL_AUTHOR = "external"
SYSTEM_AUTHOR = "dms-admin"
ADOPTED_MESSAGE = "Adopted the existing configuration"
_LOG_FORMAT = "--format=%x1e%H%x1f%P%x1f%an%x1f%aI%x1f%B%x1f"


@dataclasses.dataclass(frozen=True)
class HistoryQuery:
    """Filters of the history list; empty strings and None filter nothing."""

    author: str = ""  # part of the author's name, any case
    path: str = ""  # a file (or folder) the commit changed
    action: str = ""  # the start of the message: "Create alias", "Roll back", "External change"
    search: str = ""  # part of the message, any case
    after: datetime | None = None  # at or after
    before: datetime | None = None  # strictly before

    def git_args(self) -> list[str]:
        args = ["--regexp-ignore-case"]
        if self.author:
            # git matches "name <email>", and every email ends in @dms-admin: look in the name only.
            args.append(f"--author=^[^<]*{_bre_escape(self.author)}")
        if self.action or self.search:
            args.append("--all-match")
        if self.action:
            args.append(f"--grep=^{_bre_escape(self.action)}")
        if self.search:
            args.append(f"--grep={_bre_escape(self.search)}")
        if self.after:
            args.append(f"--since=@{int(self.after.timestamp())}")
        if self.before:  # --until is inclusive, to the second
            args.append(f"--until=@{math.ceil(self.before.timestamp()) - 1}")
        return args


@dataclasses.dataclass(frozen=True)
class Commit:
    sha: str
    author: str
    message: str
    at: datetime
    files: tuple[str, ...]
    parent: str | None = None  # None for the first commit of the history

    @property
    def is_adoption(self) -> bool:
        """The first commit, which took the folder as dms-admin found it."""
        return self.parent is None and self.author == SYSTEM_AUTHOR and self.message == ADOPTED_MESSAGE

    @property
    def short(self) -> str:
        return self.sha[:10]

    @property
    def subject(self) -> str:
        return self.message.splitlines()[0] if self.message else ""


class HistoryRepo:
    """One bare repository (`history_dir`); `excludes` are written to info/exclude for people who
    look with the git CLI (the same files the store keeps out)."""

    def __init__(self, history_dir: Path, *, excludes: list[str]) -> None:
        self.dir = Path(history_dir)
        self.excludes = excludes
        self._ready = False
        self._repo: pygit2.Repository
        self._head_cache: tuple[str | None, dict[str, str]] = (None, {})

    def ensure(self) -> None:
        if self._ready:
            return
        if not (self.dir / "HEAD").exists():
            self.dir.mkdir(parents=True, exist_ok=True)
            pygit2.init_repository(str(self.dir), bare=True, initial_head="main")
        self._repo = pygit2.Repository(str(self.dir))
        info = self.dir / "info"
        info.mkdir(exist_ok=True)
        _write_if_changed(info / "exclude", "".join(f"{p}\n" for p in self.excludes))
        self._ready = True

    # ---- reading -------------------------------------------------------------------------

    def is_empty(self) -> bool:
        self.ensure()
        return bool(self._repo.head_is_unborn)

    def head_files(self) -> dict[str, str]:
        """Every path in the newest commit and its blob id (cached per commit)."""
        self.ensure()
        if self._repo.head_is_unborn:
            return {}
        head = str(self._repo.head.target)
        if self._head_cache[0] != head:
            files: dict[str, str] = {}
            _flatten(self._repo, self._repo[head].peel(pygit2.Tree), "", files)
            self._head_cache = (head, files)
        return self._head_cache[1]

    def blob(self, rev: str, rel: str) -> bytes | None:
        """A file's bytes at `rev` (a sha, `sha^`, …); None if it did not exist then."""
        self.ensure()
        try:
            obj = self._repo.revparse_single(f"{rev}:{rel}")
        except (KeyError, ValueError, pygit2.GitError):
            return None
        return obj.data if isinstance(obj, pygit2.Blob) else None

    def commits(self, *args: str) -> list[Commit]:
        """`git log` with these arguments, parsed (with the files each commit changed)."""
        self.ensure()
        if self._repo.head_is_unborn:
            return []
        return _parse_log(self.git("log", "--name-only", _LOG_FORMAT, *args).stdout)

    def count(self, *args: str) -> int:
        if self.is_empty():
            return 0
        return int(self.git("rev-list", "--count", *args).stdout.strip())

    def find(self, sha: str) -> Commit:
        self.ensure()
        if not re.fullmatch(r"[0-9a-f]{4,40}", sha):
            raise HistoryNotFound("That is not a commit id.")
        result = self.git("log", "-1", "--name-only", _LOG_FORMAT, sha, "--", check=False)
        commits = _parse_log(result.stdout) if result.returncode == 0 else []
        if not commits:
            raise HistoryNotFound(f"No change {sha} in the history.")
        return commits[0]

    def patch(self, sha: str) -> str:
        return self.git("show", "--format=", "--patch", "--no-color", "--no-ext-diff", sha).stdout

    def loose_object_bytes(self) -> int:
        objects = self.dir / "objects"
        return sum(
            entry.stat().st_size
            for folder in objects.glob("[0-9a-f][0-9a-f]")
            for entry in os.scandir(folder)
            if entry.is_file()
        )

    # ---- writing (the caller holds the store's lock) --------------------------------------

    def write_blob(self, content: bytes) -> pygit2.Oid:
        """Store a blob as a loose object, big ones as stored (uncompressed) zlib.

        libgit2 always deflates at its default level: ~40 ms for the accounts file of 10,000
        mailboxes (password hashes do not compress). zlib's own level 0 still copies the data
        through its window (~2.5 ms for 1.4 MB); framing stored blocks here costs an adler32 and
        no copy (~0.4 ms). `gc()` packs the objects with deltas later.
        """
        self.ensure()
        header = b"blob %d\x00" % len(content)
        digest = hashlib.sha1(header, usedforsecurity=False)
        digest.update(content)
        hexsha = digest.hexdigest()
        path = self.dir / "objects" / hexsha[:2] / hexsha[2:]
        if not path.exists():
            pieces = [zlib.compress(header + content, 1)] if len(content) < 65536 else stored_zlib(header, content)
            path.parent.mkdir(exist_ok=True)
            tmp = path.parent / f"tmp_obj_{os.getpid()}_{threading.get_ident()}"
            with open(tmp, "wb") as fh:
                fh.writelines(pieces)
            os.replace(tmp, path)
        return pygit2.Oid(hex=hexsha)

    def commit(self, blobs: dict[str, pygit2.Oid | None], *, author: str, message: str) -> str | None:
        """One commit on top of the newest: each path to its stored blob, or None to delete it.
        None when the history already had these bytes."""
        self.ensure()
        self._clear_stale_git_locks()
        repo = self._repo
        parent = None if repo.head_is_unborn else repo.head.target
        base = repo[parent].peel(pygit2.Tree) if parent is not None else None
        tree = _update_tree(repo, base, blobs)
        if base is not None and tree == base.id:
            return None
        name = git_name(author)
        when = int(time.time())
        signature = pygit2.Signature(name, f"{_git_email_local(name)}@dms-admin", when, 0)
        committer = pygit2.Signature("dms-admin", "dms-admin@dms-admin", when, 0)
        oid = repo.create_commit("HEAD", signature, committer, message, tree, [parent] if parent is not None else [])
        self._advance_head_cache(str(parent) if parent is not None else None, str(oid), blobs)
        return str(oid)

    def _advance_head_cache(self, parent: str | None, head: str, blobs: dict[str, pygit2.Oid | None]) -> None:
        if parent is None or self._head_cache[0] != parent:
            return  # rebuilt from the tree when next asked
        files = dict(self._head_cache[1])
        for rel, blob in blobs.items():
            if blob is None:
                files.pop(rel, None)
            else:
                files[rel] = str(blob)
        self._head_cache = (head, files)

    def _clear_stale_git_locks(self) -> None:
        """Remove git's own lock files that a killed writer left (a worker OOM-killed mid-commit).

        Every writer of the history (web, API, workers, housekeeping's `git gc`) holds the store's
        folder lock first, and the caller holds it now: a `*.lock` of git's here belongs to a
        process that died, and left in place it would refuse every later commit.
        """
        git = self.dir
        for stale in [git / "HEAD.lock", git / "index.lock", git / "packed-refs.lock", *git.glob("refs/**/*.lock")]:
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
                log.warning("removed %s, left by a writer that was killed mid-commit", stale)

    def gc(self) -> None:
        self.git("gc", "--quiet", "--prune=now")

    def git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [
            "git",
            # Kept by hand (fmt: skip): each -c with its value on one line
            "-c", "safe.directory=*",  # the folder may belong to another uid (root in DMS)
            "-c", "core.quotePath=false",
            f"--git-dir={self.dir}",
        ]  # fmt: skip
        result = subprocess.run([*command, *args], capture_output=True, text=True, env=_git_env())
        if check and result.returncode != 0:
            raise ConfigStoreError(f"git {args[0]} failed: {result.stderr.strip() or result.stdout.strip()}")
        return result


def _bre_escape(text: str) -> str:
    """`text` as a literal in git's (POSIX basic) regular expressions."""
    return re.sub(r"([.\[\]\\*^$])", r"\\\1", text)


def stored_zlib(header: bytes, content: bytes) -> list[bytes | memoryview]:
    """The zlib stream of header + content in stored (uncompressed) deflate blocks (RFC 1950/1951),
    as pieces to write one after the other: no copy of the content is made."""
    first = header + content[: 65535 - len(header)]
    rest = memoryview(content)[len(first) - len(header) :]
    blocks: list[bytes | memoryview] = [first, *(rest[i : i + 65535] for i in range(0, len(rest), 65535))]
    out: list[bytes | memoryview] = [b"\x78\x01"]  # deflate, 32 KiB window, no dictionary
    for index, block in enumerate(blocks):
        out += [struct.pack("<BHH", index == len(blocks) - 1, len(block), len(block) ^ 0xFFFF), block]
    out.append(struct.pack(">I", zlib.adler32(content, zlib.adler32(header))))
    return out


def blob_id(content: bytes) -> str:
    digest = hashlib.sha1(b"blob %d\x00" % len(content), usedforsecurity=False)
    digest.update(content)
    return digest.hexdigest()


def _flatten(repo: pygit2.Repository, tree: pygit2.Tree, prefix: str, out: dict[str, str]) -> None:
    for entry in tree:
        if entry.type_str == "tree":
            _flatten(repo, repo[entry.id].peel(pygit2.Tree), f"{prefix}{entry.name}/", out)
        else:
            out[f"{prefix}{entry.name}"] = str(entry.id)


def _update_tree(
    repo: pygit2.Repository, tree: pygit2.Tree | None, changes: dict[str, pygit2.Oid | None]
) -> pygit2.Oid:
    builder = repo.TreeBuilder(tree) if tree is not None else repo.TreeBuilder()
    nested: dict[str, dict[str, pygit2.Oid | None]] = {}
    for path, oid in changes.items():
        head, _, rest = path.partition("/")
        if rest:
            nested.setdefault(head, {})[rest] = oid
        elif oid is None:
            if builder.get(head) is not None:
                builder.remove(head)
        else:
            builder.insert(head, oid, pygit2.enums.FileMode.BLOB)
    for name, sub in nested.items():
        existing = builder.get(name)
        subtree = repo[existing.id].peel(pygit2.Tree) if existing is not None and existing.type_str == "tree" else None
        new = _update_tree(repo, subtree, sub)
        if len(repo[new].peel(pygit2.Tree)) == 0:
            if existing is not None:
                builder.remove(name)
        else:
            builder.insert(name, new, pygit2.enums.FileMode.TREE)
    return builder.write()


def _parse_log(output: str) -> list[Commit]:
    commits = []
    for record in output.split("\x1e")[1:]:
        sha, parents, author, at, message, files = record.split("\x1f")
        commits.append(
            Commit(
                sha=sha,
                author=author,
                message=message.strip(),
                at=datetime.fromisoformat(at),
                files=tuple(f for f in files.strip().splitlines() if f),
                parent=parents.split()[0] if parents.strip() else None,
            )
        )
    return commits


def git_name(actor: str) -> str:
    # The actor comes from a username, token name or address: no control or format character
    # (a newline would forge headers, \x1e/\x1f would split our log records), no <> of a
    # "Name <email>", one line of single spaces.
    kept = "".join(ch for ch in actor if unicodedata.category(ch)[0] != "C" and ch not in "<>")
    name = " ".join(kept.split())[:200]
    return name or "unknown"


def _git_email_local(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", name).strip(".-") or "unknown"


def _git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update({"LC_ALL": "C.UTF-8", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null"})
    return env


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
