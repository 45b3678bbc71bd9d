"""Writing, verifying and extracting backup archives. No Django: paths, files and callbacks.

An archive is a GNU-format tar (what `tar czf` writes) with top-level folders `mail/`, `state/`
and `config/`, compressed with gzip (plain `tar xzf` restores it) or zstd (`tar --zstd -xf`).
Next to it a manifest JSON lists every file of the backed-up state with size, mtime, sha256,
owner and mode, and says which archive of the chain holds each file's content: a full archive
holds everything, an incremental one only what changed since its parent.

Gzip is compressed like pigz: the tar stream is cut into blocks that worker threads deflate in
parallel (zlib releases the GIL), each primed with the previous block's last 32 KiB, and joined
into one gzip member. Memory stays flat: a bounded number of blocks is in flight.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import dataclasses
import errno
import fcntl
import fnmatch
import functools
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import stat
import struct
import subprocess
import tarfile
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

TEMP_PREFIX = ".dms-admin-tmp-"
EXCLUDED_NAMES = ("*.lock", TEMP_PREFIX + "*")
CONFIG_META_DIR = ".dms-admin"
MANIFEST_VERSION = 1
BLOCK = 1 << 20
SMALL_FILE = 8 << 20
# `tar czf` runs gzip -6. Blocks cost ~0.1% (each restarts its match search), so -7: about 0.15%
# smaller than `tar czf` on mail for ~15% more CPU, spread over the threads. Larger blocks gained nothing.
GZIP_LEVEL = 7


class ArchiveError(Exception):
    """An archive could not be written, read or restored; the message says why."""


class NotEnoughSpace(ArchiveError):
    pass


@dataclasses.dataclass(slots=True)
class Entry:
    path: str  # inside the archive: mail/example.test/user/cur/…
    type: str  # file | dir | symlink
    size: int
    mtime: int  # seconds, what the tar header holds
    mtime_ns: int
    uid: int
    gid: int
    mode: int  # permission bits
    sha256: str = ""
    link: str = ""
    archive: str = ""  # name of the archive (in the chain) holding this content

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def same_as(self, other: Entry) -> bool:
        """Unchanged for an incremental backup: GNU tar's and rsync's rule, size and mtime."""
        return (self.type, self.size, self.mtime_ns, self.uid, self.gid, self.mode, self.link) == (
            other.type, other.size, other.mtime_ns, other.uid, other.gid, other.mode, other.link,
        )  # fmt: skip


@dataclasses.dataclass
class Manifest:
    name: str  # the archive's file name
    kind: str  # full | incremental
    created_at: str
    compression: str
    parent: str | None
    roots: dict[str, str]
    entries: list[Entry]
    deleted: list[str] = dataclasses.field(default_factory=list)
    sha256: str = ""
    size: int = 0
    warnings: list[str] = dataclasses.field(default_factory=list)

    def dump(self) -> bytes:
        data = dataclasses.asdict(self)
        data["version"] = MANIFEST_VERSION
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def load(cls, path: Path) -> Manifest:
        try:
            data = json.loads(Path(path).read_bytes())
        except (OSError, ValueError) as exc:
            raise ArchiveError(f"The manifest {path} cannot be read: {exc}") from exc
        data.pop("version", None)
        data["entries"] = [Entry(**e) for e in data["entries"]]
        return cls(**data)

    def by_path(self) -> dict[str, Entry]:
        return {e.path: e for e in self.entries}

    @property
    def held(self) -> list[Entry]:
        """The entries whose content this archive itself holds."""
        return [e for e in self.entries if e.archive == self.name]


@dataclasses.dataclass
class Progress:
    files_total: int = 0
    bytes_total: int = 0
    files_done: int = 0
    bytes_done: int = 0
    started: float = dataclasses.field(default_factory=time.monotonic)

    @property
    def percent(self) -> int:
        if self.bytes_total:
            return int(100 * self.bytes_done / self.bytes_total)
        return int(100 * self.files_done / self.files_total) if self.files_total else 0

    def message(self, verb: str) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = self.bytes_done / elapsed
        left = (self.bytes_total - self.bytes_done) / rate if rate > 0 else 0
        return (
            f"{verb} {self.files_done:,}/{self.files_total:,} files, {_mb(self.bytes_done)}/{_mb(self.bytes_total)}"
            f" at {_mb(rate)}/s, about {int(left)} s left"
        )


ProgressCallback = Callable[[Progress], None]


def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


# ---- scanning ------------------------------------------------------------------------------------


def excluded(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in EXCLUDED_NAMES)


def scan(roots: dict[str, Path], *, prefix: str = "") -> Iterator[tuple[Entry, Path]]:
    """Every file, folder and symlink under the roots (sorted, lock and temp files left out)."""
    for top, root in roots.items():
        if not root.is_dir():
            continue
        yield from _scan_dir(root, top, top == "config", prefix)


def _in_scope(arcname: str, prefix: str) -> bool:
    return not prefix or arcname == prefix or arcname.startswith(prefix + "/")


def _scan_dir(folder: Path, arcdir: str, is_config_root: bool, prefix: str) -> Iterator[tuple[Entry, Path]]:
    try:
        st = folder.lstat()
    except FileNotFoundError:
        return
    if _in_scope(arcdir, prefix):
        yield _entry(arcdir, "dir", st), folder
    with os.scandir(folder) as it:
        children = sorted(it, key=lambda d: d.name)
    for child in children:
        if excluded(child.name) or (is_config_root and child.name == CONFIG_META_DIR):
            continue
        arcname = f"{arcdir}/{child.name}"
        if not (_in_scope(arcname, prefix) or prefix.startswith(arcname + "/")):
            continue
        try:
            cst = child.stat(follow_symlinks=False)
        except FileNotFoundError:  # deleted while we look: Maildir moves files all the time
            continue
        if stat.S_ISDIR(cst.st_mode):
            yield from _scan_dir(Path(child.path), arcname, False, prefix)
        elif stat.S_ISREG(cst.st_mode):
            yield _entry(arcname, "file", cst), Path(child.path)
        elif stat.S_ISLNK(cst.st_mode):
            entry = _entry(arcname, "symlink", cst)
            entry.link = os.readlink(child.path)
            yield entry, Path(child.path)
        # sockets, fifos and devices are not mail: left out, like DMS's own files would be recreated


def _entry(path: str, type_: str, st: os.stat_result) -> Entry:
    return Entry(
        path=path, type=type_, size=st.st_size if type_ == "file" else 0, mtime=int(st.st_mtime),
        mtime_ns=st.st_mtime_ns, uid=st.st_uid, gid=st.st_gid, mode=stat.S_IMODE(st.st_mode),
    )  # fmt: skip


# ---- compressed output ---------------------------------------------------------------------------


class _HashingFile:
    """The archive file being written: counts and hashes what goes in."""

    def __init__(self, fh: IO[bytes]) -> None:
        self.fh = fh
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.fh.write(data)
        self.sha.update(data)
        self.size += len(data)
        return len(data)


def _deflate(block: bytes, zdict: bytes, level: int, last: bool) -> bytes:
    if zdict:
        comp = zlib.compressobj(level, zlib.DEFLATED, -15, 8, zlib.Z_DEFAULT_STRATEGY, zdict)
    else:
        comp = zlib.compressobj(level, zlib.DEFLATED, -15, 8)
    return comp.compress(block) + comp.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)


class ParallelGzip:
    """A write-only gzip stream compressed by a thread pool (one gzip member, like pigz)."""

    def __init__(self, out: _HashingFile, *, level: int = GZIP_LEVEL, threads: int | None = None) -> None:
        self.out = out
        self.level = level
        self.threads = threads or max(1, os.cpu_count() or 1)
        self.pool = concurrent.futures.ThreadPoolExecutor(self.threads, thread_name_prefix="gzip")
        self.pending: collections.deque[concurrent.futures.Future[bytes]] = collections.deque()
        self.buf = bytearray()
        self.crc = 0
        self.length = 0
        self.tail = b""
        out.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03")  # no name, no mtime: reproducible

    def write(self, data: bytes) -> int:
        self.buf += data
        if len(self.buf) >= BLOCK:
            block = bytes(self.buf)
            self.buf.clear()
            self._submit(block, last=False)
        return len(data)

    def _submit(self, block: bytes, *, last: bool) -> None:
        self.crc = zlib.crc32(block, self.crc)
        self.length += len(block)
        self.pending.append(self.pool.submit(_deflate, block, self.tail, self.level, last))
        self.tail = block[-32768:] if len(block) >= 32768 else (self.tail + block)[-32768:]
        while len(self.pending) > 2 * self.threads:
            self.out.write(self.pending.popleft().result())

    def close(self) -> None:
        self._submit(bytes(self.buf), last=True)
        self.buf.clear()
        while self.pending:
            self.out.write(self.pending.popleft().result())
        self.out.write(struct.pack("<II", self.crc, self.length & 0xFFFFFFFF))
        self.pool.shutdown()

    def abort(self) -> None:
        self.pool.shutdown(cancel_futures=True)


class ZstdPipe:
    """A write-only zstd stream through the `zstd` program (multi-threaded with -T0)."""

    def __init__(self, out: _HashingFile) -> None:
        if not shutil.which("zstd"):
            raise ArchiveError("zstd compression needs the zstd program, which is not installed.")
        self.out = out
        self.proc = subprocess.Popen(["zstd", "-q", "-3", "-T0", "-c"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.reader = threading.Thread(target=self._pump, daemon=True)
        self.error: BaseException | None = None
        self.reader.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        try:
            while chunk := self.proc.stdout.read(BLOCK):
                self.out.write(chunk)
        except BaseException as exc:  # ENOSPC: seen by close()
            self.error = exc
            self.proc.kill()

    def write(self, data: bytes) -> int:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(data)
        except BrokenPipeError as exc:
            raise self.error or ArchiveError("zstd stopped unexpectedly.") from exc
        return len(data)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.reader.join()
        if self.error:
            raise self.error
        if self.proc.wait() != 0:
            raise ArchiveError(f"zstd failed with exit status {self.proc.returncode}.")

    def abort(self) -> None:
        self.proc.kill()
        self.reader.join()


def _compressor(compression: str, out: _HashingFile) -> ParallelGzip | ZstdPipe:
    if compression == "zstd":
        return ZstdPipe(out)
    return ParallelGzip(out)


def suffix_for(compression: str) -> str:
    return ".tar.zst" if compression == "zstd" else ".tar.gz"


# ---- writing -------------------------------------------------------------------------------------


def estimate_needed(source_bytes: int, ratio: float | None) -> int:
    """Space to ask for: the source at the last archive's compression ratio (else 1:1), plus slack."""
    ratio = 1.0 if ratio is None else min(1.0, max(ratio, 0.05))
    return int(source_bytes * ratio * 1.05) + (1 << 20)


def check_free_space(folder: Path, needed: int) -> None:
    usage = shutil.disk_usage(folder)
    if usage.free < needed:
        raise NotEnoughSpace(
            f"Not enough free space in {folder}: the backup needs about {_mb(needed)}, "
            f"{_mb(usage.free)} is free (of {_mb(usage.total)})."
        )


def write_archive(
    *, dest: Path, name: str, roots: dict[str, Path], compression: str = "gzip", kind: str = "full",
    parent: Manifest | None = None, created_at: str, progress: ProgressCallback | None = None,
    only: set[str] | None = None, ratio: float | None = None, check_space: bool = True,
) -> Manifest:  # fmt: skip
    """Write `dest/name` and `dest/name.manifest.json`; nothing is left behind if it fails."""
    found = [(e, p) for e, p in scan(roots) if only is None or e.path in only]
    previous = parent.by_path() if parent else {}
    entries: list[Entry] = []
    todo: list[tuple[Entry, Path]] = []
    for entry, path in found:
        old = previous.get(entry.path)
        if kind == "incremental" and old is not None and entry.type == "file" and old.same_as(entry):
            entry.sha256, entry.archive = old.sha256, old.archive
        else:
            entry.archive = name
            todo.append((entry, path))
        entries.append(entry)
    present = {e.path for e in entries}
    deleted = sorted(p for p in previous if p not in present)
    state = Progress(files_total=len(todo), bytes_total=sum(e.size for e, _ in todo))
    if check_space:
        check_free_space(dest, estimate_needed(state.bytes_total, ratio))
    manifest = Manifest(
        name=name, kind=kind, created_at=created_at, compression=compression,
        parent=parent.name if parent else None, roots={k: str(v) for k, v in roots.items()},
        entries=entries, deleted=deleted,
    )  # fmt: skip
    target = dest / name
    tmp = dest / f"{TEMP_PREFIX}{name}"
    try:
        with open(tmp, "xb") as fh:
            out = _HashingFile(fh)
            comp = _compressor(compression, out)
            try:
                _write_tar(comp, todo, state, manifest, progress)
                comp.close()
            except BaseException:
                comp.abort()
                raise
            fh.flush()
            os.fsync(fh.fileno())
        manifest.sha256, manifest.size = out.sha.hexdigest(), out.size
        missing = {e.path for e, _ in todo if not e.archive}
        manifest.entries = [e for e in entries if e.path not in missing]
        _atomic_bytes(dest / manifest_name(name), manifest.dump())
        os.replace(tmp, target)
        _fsync_dir(dest)
    except OSError as exc:
        _unlink(tmp)
        _unlink(dest / manifest_name(name))
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise NotEnoughSpace(
                f"The backup volume {dest} filled up while writing ({_mb(shutil.disk_usage(dest).free)} free); "
                "the partial archive was removed."
            ) from exc
        raise
    except BaseException:
        _unlink(tmp)
        _unlink(dest / manifest_name(name))
        raise
    return manifest


def _write_tar(
    comp: ParallelGzip | ZstdPipe, todo: list[tuple[Entry, Path]], state: Progress, manifest: Manifest,
    progress: ProgressCallback | None,
) -> None:  # fmt: skip
    last_report = 0.0
    with tarfile.open(fileobj=comp, mode="w|", format=tarfile.GNU_FORMAT) as tar:  # type: ignore[call-overload]
        for entry, path in todo:
            info = tarfile.TarInfo(entry.path)
            info.uid, info.gid, info.mode, info.mtime = entry.uid, entry.gid, entry.mode, entry.mtime
            info.uname = info.gname = ""  # numeric owners: vmail is 5000 whatever the names here
            if entry.type == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif entry.type == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, entry.link
                tar.addfile(info)
            else:
                if not _add_file(tar, info, entry, path, manifest):
                    entry.archive = ""  # gone before we could read it: not in this backup
            state.files_done += 1
            state.bytes_done += entry.size
            now = time.monotonic()
            if progress and now - last_report >= 0.5:
                last_report = now
                progress(state)
    if progress:
        progress(state)


def _add_file(tar: tarfile.TarFile, info: tarfile.TarInfo, entry: Entry, path: Path, manifest: Manifest) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except (FileNotFoundError, NotADirectoryError):
        return False
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        if st.st_size != entry.size or st.st_mtime_ns != entry.mtime_ns:
            manifest.warnings.append(f"{entry.path} changed while it was read")
            entry.size, entry.mtime, entry.mtime_ns = st.st_size, int(st.st_mtime), st.st_mtime_ns
            info.mtime = entry.mtime
        info.size = entry.size
        if entry.size <= SMALL_FILE:
            data = fh.read(entry.size)
            data += b"\0" * (entry.size - len(data))  # shrank meanwhile: GNU tar pads too
            entry.sha256 = hashlib.sha256(data).hexdigest()
            tar.addfile(info, io.BytesIO(data))
        else:
            reader = _HashingReader(fh, entry.size)
            tar.addfile(info, reader)  # type: ignore[arg-type]
            entry.sha256 = reader.sha.hexdigest()
    return True


class _HashingReader:
    def __init__(self, fh: IO[bytes], size: int) -> None:
        self.fh, self.left, self.sha = fh, size, hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        data = self.fh.read(n)
        if len(data) < n and n:
            data += b"\0" * (n - len(data))
        self.left -= len(data)
        self.sha.update(data)
        return data


def manifest_name(archive_name: str) -> str:
    return archive_name + ".manifest.json"


def _atomic_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(TEMP_PREFIX + path.name)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


# ---- reading -------------------------------------------------------------------------------------


class _HashingRaw(io.RawIOBase):
    def __init__(self, fh: IO[bytes]) -> None:
        self.fh, self.sha = fh, hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.fh.read(len(buffer))
        buffer[: len(data)] = data
        self.sha.update(data)
        return len(data)


@contextlib.contextmanager
def open_tar(path: Path, compression: str) -> Iterator[tuple[tarfile.TarFile, _HashingRaw]]:
    with open(path, "rb") as fh:
        raw = _HashingRaw(fh)
        if compression == "zstd":
            proc = subprocess.Popen(["zstd", "-q", "-d", "-c"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            feeder = threading.Thread(target=_feed, args=(raw, proc.stdin), daemon=True)
            feeder.start()
            assert proc.stdout is not None
            try:
                with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
                    yield tar, raw
            finally:
                proc.kill()
                feeder.join()
                proc.wait()
        else:
            stream = gzip.GzipFile(fileobj=io.BufferedReader(raw, BLOCK), mode="rb")
            with tarfile.open(fileobj=stream, mode="r|") as tar:  # type: ignore[call-overload]
                yield tar, raw


def _feed(raw: _HashingRaw, sink: IO[bytes] | None) -> None:
    assert sink is not None
    with contextlib.suppress(BrokenPipeError, ValueError), sink:
        while chunk := raw.read(BLOCK):
            sink.write(chunk)


def _members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    """Members, with read errors naming where in the archive they happened."""
    last = "the start"
    iterator = iter(tar)
    while True:
        try:
            member = next(iterator)
        except StopIteration:
            return
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
            raise ArchiveError(f"The archive is damaged after {last}: {exc}") from exc
        last = member.name
        yield member


def verify_archive(path: Path, manifest: Manifest, progress: ProgressCallback | None = None) -> list[str]:
    """Re-read the whole archive; the problems found ([] if none), each naming the file."""
    expected = {e.path: e for e in manifest.held}
    problems: list[str] = []
    state = Progress(files_total=len(expected), bytes_total=sum(e.size for e in expected.values()))
    seen: set[str] = set()
    last_report = 0.0
    try:
        with open_tar(path, manifest.compression) as (tar, raw):
            for member in _members(tar):
                entry = expected.get(member.name)
                seen.add(member.name)
                if entry is None:
                    problems.append(f"{member.name}: in the archive but not in the manifest")
                    continue
                if member.isfile():
                    try:
                        digest = _sha_of_member(tar, member)
                    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
                        problems.append(f"{member.name}: cannot be read back ({exc})")
                        break
                    if digest != entry.sha256:
                        problems.append(f"{member.name}: checksum differs from the manifest")
                    state.bytes_done += member.size
                state.files_done += 1
                if progress and time.monotonic() - last_report > 0.5:
                    last_report = time.monotonic()
                    progress(state)
            with contextlib.suppress(Exception):
                while raw.read(BLOCK):  # the tail after the tar end, for the whole-file checksum
                    pass
    except ArchiveError as exc:
        problems.append(str(exc))
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        problems.append(f"The archive cannot be read to the end: {exc}")
    else:
        if raw.sha.hexdigest() != manifest.sha256:
            problems.append(f"{path.name}: the archive's sha256 differs from the one recorded when it was written")
    problems += [f"{p}: listed in the manifest but missing from the archive" for p in expected if p not in seen]
    return problems


def _sha_of_member(tar: tarfile.TarFile, member: tarfile.TarInfo) -> str:
    sha = hashlib.sha256()
    fh = tar.extractfile(member)
    assert fh is not None
    while chunk := fh.read(BLOCK):
        sha.update(chunk)
    return sha.hexdigest()


# ---- restoring -----------------------------------------------------------------------------------


def split_root(arcpath: str) -> tuple[str, str]:
    top, _, rel = arcpath.partition("/")
    return top, rel


def _safe_target(roots: dict[str, Path], arcpath: str) -> Path | None:
    top, rel = split_root(arcpath)
    root = roots.get(top)
    if root is None:
        return None
    parts = rel.split("/") if rel else []
    if any(p in ("", ".", "..") for p in parts):
        raise ArchiveError(f"The archive holds an unsafe path: {arcpath}")
    return root.joinpath(*parts) if parts else root


def extract(
    *, archive: Path, compression: str, roots: dict[str, Path], wanted: set[str],
    progress: ProgressCallback | None = None, state: Progress | None = None, held: Mapping[str, Entry] | None = None,
) -> int:  # fmt: skip
    """Restore the members named in `wanted` into the roots (owner, mode, mtime kept); the count.

    `held` is what the archive holds (its manifest's entries with this archive's name), read from
    the manifest next to the archive if not given. GNU tar does the writing: every member held but
    not wanted is excluded (an exact, hashed list) and each top folder is renamed onto its root.
    """
    state = state or Progress()
    picked = {name for name in wanted if _safe_target(roots, name) is not None}  # raises on unsafe paths
    if not picked:
        return 0
    if held is None:
        held = _held_entries(archive)
    plan = _tar_plan(roots, picked, held) if held is not None and _gnu_tar() else None
    if plan is None or held is None:
        return _extract_python(archive, compression, roots, picked, progress, state)
    for name in picked:  # a folder where the backup has a file: replaced, as tarfile's restore did
        entry, target = held.get(name), _safe_target(roots, name)
        if entry is not None and entry.type != "dir" and target is not None and _real_dir(target):
            shutil.rmtree(target)
    return _extract_tar(archive, compression, plan, held, progress, state)


def _real_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(path.lstat().st_mode)
    except OSError:
        return False


@dataclasses.dataclass
class _TarPlan:
    base: Path
    options: list[str]
    skip: list[str]


def _held_entries(archive: Path) -> dict[str, Entry] | None:
    """What the archive holds, from the manifest written with it (None: no usable manifest)."""
    try:
        data = json.loads((archive.parent / manifest_name(archive.name)).read_bytes())
        return {e["path"]: Entry(**e) for e in data["entries"] if e["archive"] == data["name"]}
    except (OSError, ValueError, KeyError, TypeError):
        return None


@functools.cache
def _gnu_tar() -> bool:
    try:
        out = subprocess.run(["tar", "--version"], capture_output=True, check=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    version = re.match(rb"tar \(GNU tar\) (\d+)\.(\d+)", out)
    return version is not None and (int(version[1]), int(version[2])) >= (1, 27)  # Debian 8's: transform flags


def _tar_plan(roots: dict[str, Path], picked: set[str], held: Mapping[str, Entry]) -> _TarPlan | None:
    """GNU tar's options for this restore, or None when only Python can do it exactly."""
    tops = sorted({split_root(name)[0] for name in picked})
    if not all(re.fullmatch(r"[a-z]+", top) for top in tops):
        return None
    skip = sorted(m for m in held if m not in picked and split_root(m)[0] in tops)
    # tar reads the exclude list one name a line, trailing white space trimmed: such names go to Python.
    if any("\n" in m or m != m.rstrip() for m in skip):
        return None
    targets = {top: Path(os.path.abspath(roots[top])) for top in tops}
    base = Path(os.path.commonpath([str(t) for t in targets.values()]))
    if base in targets.values():
        base = base.parent
    options = []
    for top in tops:
        rel = str(targets[top].relative_to(base))
        if rel in ("", ".") or any(c in rel for c in "\n\\&,"):
            return None
        # "mail" and "mail/…" become "./<root>" and "./<root>/…"; no top begins with "./", so
        # one rule's output never meets the next. Symlink targets are left as they are (S).
        options.append(f"--transform=s,^{top}\\(/\\|$\\),./{rel}\\1,SH")
    options += ["--wildcards", *(p for top in tops for p in (top, f"{top}/*"))]
    return _TarPlan(base=base, options=options, skip=skip)


def _extract_tar(
    archive: Path, compression: str, plan: _TarPlan, held: Mapping[str, Entry], progress: ProgressCallback | None,
    state: Progress,
) -> int:  # fmt: skip
    with tempfile.TemporaryDirectory(prefix=TEMP_PREFIX) as tmp:
        skip_file, errors_file = Path(tmp) / "skip", Path(tmp) / "errors"
        skip_file.write_bytes("".join(f"{m}\n" for m in plan.skip).encode("utf-8", "surrogateescape"))
        cmd = [
            "tar", "-x", "-f", "-", "-C", str(plan.base), "--numeric-owner", "--same-owner",
            "--preserve-permissions", "--no-recursion", "--anchored", "--no-wildcards",
            f"--exclude-from={skip_file}", "--verbose", "--quoting-style=literal", *plan.options,
        ]  # fmt: skip
        decompressor = None
        with open(errors_file, "wb") as errors:
            if compression == "zstd":
                if not shutil.which("zstd"):
                    raise ArchiveError("zstd archives need the zstd program, which is not installed.")
                decompressor = subprocess.Popen(
                    ["zstd", "-q", "-d", "-c", str(archive)], stdout=subprocess.PIPE, stderr=errors
                )
                stdin: Any = decompressor.stdout
            else:
                stdin = subprocess.PIPE
            proc = subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.PIPE, stderr=errors)
            feed_errors: list[str] = []
            feeder = None
            if decompressor is not None:
                assert decompressor.stdout is not None
                decompressor.stdout.close()  # tar holds it now
            else:
                feeder = threading.Thread(target=_inflate, args=(archive, proc.stdin, feed_errors), daemon=True)
                feeder.start()
            try:
                count = _follow(proc, held, progress, state)
            except BaseException:  # stopped from here (cancelled): tar must not wait on a full pipe
                proc.kill()
                if decompressor is not None:
                    decompressor.kill()
                raise
            finally:
                if feeder is not None:
                    feeder.join()
                status = proc.wait()
                if decompressor is not None:
                    decompressor.wait()
        if feed_errors:
            raise ArchiveError(f"The archive {archive.name} is damaged: {feed_errors[0]}")
        if decompressor is not None and decompressor.returncode:
            raise ArchiveError(f"zstd cannot read {archive.name}: {_tail(errors_file)}")
        if status:
            raise ArchiveError(f"GNU tar could not restore {archive.name}: {_tail(errors_file)}")
    return count


def _follow(
    proc: subprocess.Popen[bytes], held: Mapping[str, Entry], progress: ProgressCallback | None, state: Progress
) -> int:
    """Count the names tar lists as it restores them, for the progress bar."""
    assert proc.stdout is not None
    count = 0
    last_report = 0.0
    for line in proc.stdout:
        name = line.rstrip(b"\n").decode("utf-8", "surrogateescape").rstrip("/")
        count += 1
        state.files_done += 1
        entry = held.get(name)
        state.bytes_done += entry.size if entry is not None else 0
        if progress and time.monotonic() - last_report > 0.5:
            last_report = time.monotonic()
            progress(state)
    return count


def _inflate(archive: Path, sink: IO[bytes], errors: list[str]) -> None:
    """Decompress into tar's stdin: zlib inflates faster than the gzip program that `tar xzf` runs."""
    with contextlib.suppress(OSError):
        fcntl.fcntl(sink.fileno(), fcntl.F_SETPIPE_SZ, BLOCK)
    try:
        with sink, open(archive, "rb") as fh:
            inflater = zlib.decompressobj(31)
            while chunk := fh.read(BLOCK):
                while chunk:
                    sink.write(inflater.decompress(chunk, 4 * BLOCK))
                    if inflater.eof:
                        chunk = inflater.unused_data
                        if not chunk.startswith(b"\x1f\x8b"):
                            return  # padding after the gzip member, as gzip -d ignores it
                        inflater = zlib.decompressobj(31)
                    else:
                        chunk = inflater.unconsumed_tail
            sink.write(inflater.flush())
            if not inflater.eof:
                errors.append("it ends early (truncated)")
    except zlib.error as exc:
        errors.append(str(exc))
    except (BrokenPipeError, ValueError):
        pass  # tar stopped early: its status says why


def _tail(path: Path, limit: int = 2000) -> str:
    lines = path.read_bytes()[-limit:].decode("utf-8", "replace").strip().splitlines()
    useful = [line for line in lines if "Exiting with failure status" not in line]
    return "; ".join(useful[-5:]) or "no message"


def _extract_python(
    archive: Path, compression: str, roots: dict[str, Path], wanted: set[str], progress: ProgressCallback | None,
    state: Progress,
) -> int:  # fmt: skip
    """tarfile's extraction, for what GNU tar cannot do exactly (no manifest, odd names, no GNU tar)."""
    dirs: list[tuple[Path, tarfile.TarInfo]] = []
    count = 0
    last_report = 0.0
    with open_tar(archive, compression) as (tar, _):
        for member in _members(tar):
            if member.name not in wanted:
                continue
            target = _safe_target(roots, member.name)
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
        _unlink(tmp)
        raise


def _restore_symlink(member: tarfile.TarInfo, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(TEMP_PREFIX + target.name)
    _unlink(tmp)
    os.symlink(member.linkname, tmp)
    os.lchown(tmp, member.uid, member.gid)
    os.utime(tmp, (member.mtime, member.mtime), follow_symlinks=False)
    os.replace(tmp, target)


def read_members(*, archive: Path, compression: str, wanted: set[str]) -> dict[str, bytes]:
    """The content of small wanted files (the config folder), for the config store to write."""
    out: dict[str, bytes] = {}
    with open_tar(archive, compression) as (tar, _):
        for member in _members(tar):
            if member.name in wanted and member.isfile():
                fh = tar.extractfile(member)
                assert fh is not None
                out[member.name] = fh.read()
    return out


# ---- comparing a manifest with the disk (restore preview) ----------------------------------------


@dataclasses.dataclass
class Preview:
    create: list[str] = dataclasses.field(default_factory=list)
    overwrite: list[str] = dataclasses.field(default_factory=list)
    unchanged: int = 0
    kept: list[str] = dataclasses.field(default_factory=list)  # on disk, not in the backup: left alone
    bytes: int = 0

    def as_dict(self, limit: int = 200) -> dict[str, Any]:
        return {
            "create": self.create[:limit], "overwrite": self.overwrite[:limit], "kept": self.kept[:limit],
            "counts": {"create": len(self.create), "overwrite": len(self.overwrite),
                       "unchanged": self.unchanged, "kept": len(self.kept)},
            "bytes": self.bytes,
        }  # fmt: skip


def preview(entries: Iterable[Entry], roots: dict[str, Path], prefix: str) -> Preview:
    result = Preview()
    wanted = {e.path: e for e in entries}
    on_disk = {e.path: e for e, _ in scan(roots, prefix=prefix)}
    for path, entry in wanted.items():
        current = on_disk.get(path)
        if current is None:
            result.create.append(path)
            result.bytes += entry.size
        elif entry.type == "dir" or current.same_as(entry):
            result.unchanged += 1
        else:
            result.overwrite.append(path)
            result.bytes += entry.size
    result.kept = sorted(p for p, e in on_disk.items() if p not in wanted and e.type != "dir")
    return result
