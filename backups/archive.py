"""Writing, verifying and extracting backup archives. No Django: paths, files and callbacks.

An archive is a GNU-format tar (what `tar czf` writes) with top-level folders `config/`, `mail/`
and `state/`, compressed with gzip (plain `tar xzf` restores it) or zstd (`tar --zstd -xf`).
Next to it a manifest JSON lists every file of the backed-up state with size, mtime, sha256,
owner and mode, and says which archive of the chain holds each file's content: a full archive
holds everything, an incremental one only what changed since its parent.

Gzip is compressed like pigz: the tar stream is cut into blocks that worker threads deflate in
parallel (zlib releases the GIL), each primed with the previous block's last 32 KiB, and joined
into one gzip member. Memory stays flat: a bounded number of blocks is in flight.

An archive may be encrypted to an age public key (`.tar.gz.age`, `.tar.zst.age`): the compressed
stream goes through age (pyrage, the format `age -d -i KEY` reads) on its way to the file, so
memory stays flat there too. Its manifest then records no content checksums (the checksum of a
short secret file, such as a relay password, could be guessed offline; names, sizes and dates are
not secrets): age seals every 64 KiB chunk, so reading it back with the key checks the content.

Memory does not grow with the number of files either. Entries are listed in one order (roots by
name, then depth first, each folder's names sorted: `order_key`), which lets the writer compare
the scan with its parent's manifest as two sorted streams. The scan is spooled to a temporary
file next to the archive, and the manifest is streamed to its own temporary file, one entry a
line (still one JSON document), as the archive is written.
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
import marshal
import operator
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
from typing import IO, Any, Protocol

import pyrage
from pyrage import x25519

TEMP_PREFIX = ".dms-admin-tmp-"
EXCLUDED_NAMES = ("*.lock", TEMP_PREFIX + "*")
CONFIG_META_DIR = ".dms-admin"
MANIFEST_VERSION = 1
BLOCK = 1 << 20
SMALL_FILE = 8 << 20
# `tar czf` runs gzip -6. Blocks cost ~0.1% (each restarts its match search), so -7: about 0.15%
# smaller than `tar czf` on mail for ~15% more CPU, spread over the threads. Larger blocks gained nothing.
GZIP_LEVEL = 7
MAX_WARNINGS = 1000  # kept one by one; past that, counted


class ArchiveError(Exception):
    """An archive could not be written, read or restored; the message says why."""


class NotEnoughSpace(ArchiveError):
    pass


class WrongKey(ArchiveError):
    """The age secret key given does not open the archive."""


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
            other.type,
            other.size,
            other.mtime_ns,
            other.uid,
            other.gid,
            other.mode,
            other.link,
        )


def order_key(path: str) -> list[str]:
    """The order of `scan` and of every manifest `write_archive` writes: by path component."""
    return path.split("/")


# ---- manifests -----------------------------------------------------------------------------------
#
# The layout write_archive streams (one JSON document; any JSON reader loads it whole):
#
#   {"version":1,"name":…,"kind":…,"created_at":…,"compression":…,"parent":…,"roots":{…},"deleted":[
#   "mail/…",
#   "mail/…"
#   ],"entries":[
#   {"path":…,…},
#   {"path":…,…}
#   ],"warnings":[…],"sha256":…,"size":…}
#
# JSON strings hold no raw newline, so each entry is one line: `manifest_entries` reads them one at
# a time. Manifests written before this layout are one line, and are read whole.

_DELETED_OPEN = b',"deleted":['
_ENTRIES_OPEN = b'],"entries":['
_decode = json.JSONDecoder().decode
_jstr = json.encoder.encode_basestring  # type: ignore[attr-defined]  # the C encoder json.dumps uses


def _json(value: Any) -> bytes:
    # surrogatepass: a name that is not UTF-8 (surrogate-escaped by os) survives; json.loads(bytes) reads it back
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")


def _entry_json(e: Entry) -> bytes:
    """json.dumps(e.as_json()) with the same separators, about five times faster."""
    return (
        f'{{"path":{_jstr(e.path)},"type":{_jstr(e.type)},"size":{e.size:d},"mtime":{e.mtime:d},'
        f'"mtime_ns":{e.mtime_ns:d},"uid":{e.uid:d},"gid":{e.gid:d},"mode":{e.mode:d},"sha256":{_jstr(e.sha256)},'
        f'"link":{_jstr(e.link)},"archive":{_jstr(e.archive)}}}'
    ).encode("utf-8", "surrogatepass")


class _ManifestWriter:
    """Streams a manifest: the header, then deleted paths, then entries, then the totals."""

    def __init__(self, fh: IO[bytes], header: dict[str, Any]) -> None:
        self.fh = fh
        self.hide_hashes = bool(header.get("age_recipient"))  # an encrypted archive's: see the module's doc
        fh.write(_json(header)[:-1] + _DELETED_OPEN)
        self.sep = b"\n"
        self.entries = 0
        self.deleted_count = 0

    def deleted(self, path: str) -> None:
        self.fh.write(self.sep + _jstr(path).encode("utf-8", "surrogatepass"))
        self.sep = b",\n"
        self.deleted_count += 1

    def start_entries(self) -> None:
        self.fh.write(b"\n" + _ENTRIES_OPEN)
        self.sep = b"\n"

    def entry(self, entry: Entry) -> None:
        if self.hide_hashes and entry.sha256:
            entry = dataclasses.replace(entry, sha256="")
        self.fh.write(self.sep + _entry_json(entry))
        self.sep = b",\n"
        self.entries += 1

    def finish(self, *, warnings: list[str], sha256: str, size: int) -> None:
        self.fh.write(b"\n]," + _json({"warnings": warnings, "sha256": sha256, "size": size})[1:])


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
    age_recipient: str = ""  # the public key the archive is encrypted to; "" for a plain archive

    def header(self) -> dict[str, Any]:
        return {
            "version": MANIFEST_VERSION,
            "name": self.name,
            "kind": self.kind,
            "created_at": self.created_at,
            "compression": self.compression,
            "parent": self.parent,
            "roots": self.roots,
            "age_recipient": self.age_recipient,
        }

    def dump(self) -> bytes:
        """The manifest file, in the layout `write_archive` streams."""
        out = io.BytesIO()
        writer = _ManifestWriter(out, self.header())
        for path in self.deleted:
            writer.deleted(path)
        writer.start_entries()
        for entry in self.entries:
            writer.entry(entry)
        writer.finish(warnings=self.warnings, sha256=self.sha256, size=self.size)
        return out.getvalue()

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


_HEADER_KEYS = ("version", "name", "kind", "created_at", "compression", "parent", "roots", "age_recipient")


def manifest_header(path: Path) -> dict[str, Any]:
    """The manifest's version, name, kind, created_at, compression, parent, roots, age_recipient (its first line)."""
    try:
        with open(path, "rb") as fh:
            first = fh.readline()
            if first.endswith(_DELETED_OPEN + b"\n"):
                data = json.loads(first[: -len(_DELETED_OPEN) - 1] + b"}")
            else:  # written before the streamed layout: one line
                data = json.loads(first + fh.read())
        return {key: data[key] for key in _HEADER_KEYS if key in data}
    except (OSError, ValueError, TypeError) as exc:
        raise ArchiveError(f"The manifest {path} cannot be read: {exc}") from exc


def manifest_entries(path: Path) -> Iterator[Entry]:
    """The manifest's entries one at a time, in its order (for what write_archive wrote, `order_key`).

    Only one line is in memory at a time; a manifest from before the streamed layout is read whole.
    """
    try:
        fh = open(path, "rb")  # noqa: SIM115  # closed below, when the generator ends or is dropped
    except OSError as exc:
        raise ArchiveError(f"The manifest {path} cannot be read: {exc}") from exc
    with fh:
        try:
            first = fh.readline()
            if not first.endswith(_DELETED_OPEN + b"\n"):
                data = json.loads(first + fh.read())
                for item in data["entries"]:
                    yield Entry(**item)
                return
            for line in fh:  # the deleted paths
                if line.startswith(b"]"):
                    break
            else:
                raise ValueError("it ends in the list of deleted paths")
            if line.rstrip(b"\n") != _ENTRIES_OPEN:
                raise ValueError("no list of entries after the deleted paths")
            for line in fh:
                if line.startswith(b"]"):
                    return
                yield Entry(**_decode(line.rstrip(b",\n").decode("utf-8", "surrogatepass")))
            raise ValueError("it ends in the list of entries")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ArchiveError(f"The manifest {path} cannot be read: {exc}") from exc


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


def _in_scope(arcname: str, prefix: str) -> bool:
    return not prefix or arcname == prefix or arcname.startswith(prefix + "/")


def _scan_dir(
    folder: str, arcdir: str, is_config_root: bool, prefix: str, st: os.stat_result | None = None
) -> Iterator[tuple[Entry, str]]:
    if st is None:
        try:
            st = os.lstat(folder)
        except FileNotFoundError:
            return
    if _in_scope(arcdir, prefix):
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
        if prefix and not (_in_scope(arcname, prefix) or prefix.startswith(arcname + "/")):
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
        # sockets, fifos and devices are not mail: left out, like DMS's own files would be recreated


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


# ---- compressed output ---------------------------------------------------------------------------


class _Sink(Protocol):
    def write(self, data: bytes, /) -> int: ...


class _HashingFile:
    """The archive file being written: counts and hashes what goes in."""

    def flush(self) -> None:  # pyrage flushes its writer; the file itself is flushed and fsynced at the end
        pass

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

    def __init__(self, out: _Sink, *, level: int = GZIP_LEVEL, threads: int | None = None) -> None:
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
        while len(self.buf) >= BLOCK:  # blocks of BLOCK bytes: a large file is not one large block in memory
            with memoryview(self.buf) as view:
                block = bytes(view[:BLOCK])
            del self.buf[:BLOCK]
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

    def __init__(self, out: _Sink) -> None:
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


def _compressor(compression: str, out: _Sink) -> ParallelGzip | ZstdPipe:
    if compression == "zstd":
        return ZstdPipe(out)
    return ParallelGzip(out)


def suffix_for(compression: str, *, encrypted: bool = False) -> str:
    return (".tar.zst" if compression == "zstd" else ".tar.gz") + (AGE_SUFFIX if encrypted else "")


def compression_of(name: str) -> str:
    """An archive's compression, from its name (`suffix_for`): each link of a chain has its own."""
    return "zstd" if name.endswith((".tar.zst", ".tar.zst" + AGE_SUFFIX)) else "gzip"


# ---- encryption (age) ----------------------------------------------------------------------------
#
# pyrage is the Python binding of rage, a maintained age implementation: what it writes, the `age`
# CLI decrypts (`age -d -i key.txt archive.tar.gz.age | tar xzf -`). Only X25519 keys (age1…, made
# by `age-keygen`); the secret key is given for a restore or verify and never stored.

AGE_SUFFIX = ".age"
_PIPE = 1 << 20


def age_recipient(text: str) -> str:
    """An age public key (age1…) in its canonical form; ValueError saying what is wrong."""
    value = text.strip()
    if value.upper().startswith("AGE-SECRET-KEY-"):
        raise ValueError(
            "That is a secret key. Give its public key (age1…) instead: `age-keygen -y key.txt` prints it. "
            "The secret key stays with you, off this server."
        )
    if not value.lower().startswith("age1") or len(value) > 100 or not value.isalnum():
        raise ValueError("Give an age public key: age1 and 58 letters and digits, as age-keygen prints it.")
    try:
        return str(x25519.Recipient.from_str(value))
    except pyrage.RecipientError as exc:
        raise ValueError("Not a valid age public key: copy the whole age1… key that age-keygen printed.") from exc


def age_identity(text: str) -> str:
    """The age secret key in what was pasted: its AGE-SECRET-KEY-1… line, or the whole key file
    (a password field joins the file's lines into one: the key is found in it all the same)."""
    found = set(re.findall(r"AGE-SECRET-KEY-1[0-9A-Z]+", text.upper()))
    if len(found) != 1:
        raise ValueError("Paste the age secret key: the AGE-SECRET-KEY-1… line of the key file age-keygen made.")
    try:
        return str(x25519.Identity.from_str(found.pop()))
    except pyrage.IdentityError as exc:
        raise ValueError("Not a valid age secret key: copy the whole AGE-SECRET-KEY-1… line.") from exc


def age_public_key(identity: str) -> str:
    return str(x25519.Identity.from_str(identity).to_public())


def _big_pipe() -> tuple[int, int]:
    read_fd, write_fd = os.pipe()
    with contextlib.suppress(OSError):  # fewer wake-ups between the two sides
        fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, _PIPE)
    return read_fd, write_fd


class AgeEncrypt:
    """A write-only stream encrypted to an age public key into `out`.

    pyrage pulls its input from a reader, so what is written here goes through a pipe to a thread
    running `pyrage.encrypt_io`, which writes sealed 64 KiB chunks into `out`. Memory stays flat.
    """

    def __init__(self, out: _Sink, recipient: str) -> None:
        read_fd, write_fd = _big_pipe()
        self.source, self.sink = os.fdopen(read_fd, "rb", BLOCK), os.fdopen(write_fd, "wb")
        self.error: BaseException | None = None
        self.thread = threading.Thread(
            target=self._run, args=(out, x25519.Recipient.from_str(recipient)), daemon=True, name="age"
        )
        self.thread.start()

    def _run(self, out: _Sink, recipient: x25519.Recipient) -> None:
        try:
            pyrage.encrypt_io(self.source, out, [recipient])
        except BaseException as exc:  # ENOSPC writing `out`: raised by write() or close()
            self.error = exc
        finally:
            self.source.close()  # a write() waiting on the pipe gets EPIPE

    def write(self, data: bytes) -> int:
        try:
            self.sink.write(data)
        except BrokenPipeError as exc:
            self.thread.join()
            raise self.error or ArchiveError("age encryption stopped unexpectedly.") from exc
        return len(data)

    def close(self) -> None:
        with contextlib.suppress(BrokenPipeError):
            self.sink.close()  # end of input: pyrage writes the last chunk
        self.thread.join()
        if self.error:
            raise self.error

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self.sink.close()
        self.thread.join()


def _decrypt_failure(exc: BaseException, name: str) -> ArchiveError:
    if isinstance(exc, pyrage.DecryptError) and "no matching keys" in str(exc).lower():
        return WrongKey(f"The age secret key given does not open {name}: it was encrypted to another key.")
    if isinstance(exc, pyrage.DecryptError):
        return ArchiveError(f"{name} is not a readable age file: {exc}.")
    if isinstance(exc, OSError) and not isinstance(exc, BrokenPipeError):
        return ArchiveError(f"{name} is damaged or was changed: age's check of its content failed ({exc}).")
    return ArchiveError(f"{name} could not be decrypted: {exc}")


class _Opens(Exception):
    pass


class _FirstChunk:
    def write(self, data: bytes) -> int:
        raise _Opens  # the key opened the header and the first chunk checked out: enough

    def flush(self) -> None:
        pass


def age_check(path: Path, identity: str) -> None:
    """WrongKey (or ArchiveError) unless the key opens the archive; reads only its first chunk."""
    with open(path, "rb") as fh:
        try:
            pyrage.decrypt_io(fh, _FirstChunk(), [x25519.Identity.from_str(identity)])
        except _Opens:
            return
        except (pyrage.DecryptError, OSError) as exc:
            raise _decrypt_failure(exc, path.name) from exc


@contextlib.contextmanager
def age_decrypted(source: IO[bytes], identity: str, name: str) -> Iterator[IO[bytes]]:
    """The plaintext of an age stream: a pipe that a thread running `pyrage.decrypt_io` fills.

    A wrong key, a damaged chunk or a cut-off file ends the pipe early and raises a WrongKey or an
    ArchiveError here (rather than whatever the reader made of the short stream).
    """
    key = x25519.Identity.from_str(identity)
    read_fd, write_fd = _big_pipe()
    reader, writer = os.fdopen(read_fd, "rb", BLOCK), os.fdopen(write_fd, "wb")
    errors: list[BaseException] = []

    def run() -> None:
        try:
            pyrage.decrypt_io(source, writer, [key])
        except BrokenPipeError:
            pass  # the reader stopped early (past the tar's end): what it read was checked
        except BaseException as exc:
            errors.append(exc)
        finally:
            with contextlib.suppress(OSError):
                writer.close()

    thread = threading.Thread(target=run, daemon=True, name="age-decrypt")
    thread.start()
    try:
        yield reader
    except BaseException:
        reader.close()
        thread.join()
        if errors:
            raise _decrypt_failure(errors[0], name) from errors[0]
        raise
    reader.close()
    thread.join()
    if errors:
        raise _decrypt_failure(errors[0], name) from errors[0]


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


class _Warnings:
    def __init__(self) -> None:
        self.kept: list[str] = []
        self.more = 0

    def add(self, text: str) -> None:
        if len(self.kept) < MAX_WARNINGS:
            self.kept.append(text)
        else:
            self.more += 1

    def as_list(self) -> list[str]:
        return self.kept + ([f"… and {self.more:,} more files changed while they were read"] if self.more else [])


class _Unsorted(Exception):
    """The parent's manifest is not in `order_key` order (written before it was): look it up instead."""


class _SortedParent:
    """The parent's entries read alongside the scan, both in `order_key` order: one entry in memory."""

    def __init__(self, entries: Iterator[Entry], gone: Callable[[str], None]) -> None:
        self.entries, self.gone = entries, gone
        self.asked: list[str] | None = None
        self.key: list[str] = []
        self.current = self._next()

    def _next(self) -> Entry | None:
        previous = self.key
        for entry in self.entries:
            self.key = order_key(entry.path)
            if previous and self.key <= previous:
                raise _Unsorted
            return entry
        return None

    def get(self, path: str) -> Entry | None:
        key = order_key(path)
        if self.asked is not None and key <= self.asked:
            raise _Unsorted
        self.asked = key
        while self.current is not None and self.key < key:
            self.gone(self.current.path)
            self.current = self._next()
        if self.current is not None and self.key == key:
            found, self.current = self.current, self._next()
            return found
        return None

    def finish(self) -> None:
        while self.current is not None:
            self.gone(self.current.path)
            self.current = self._next()


class _IndexedParent:
    """A parent manifest in another order (older manifests): held in memory as a dict, as before."""

    def __init__(self, entries: Iterator[Entry], gone: Callable[[str], None]) -> None:
        self.index = {e.path: e for e in entries}
        self.gone = gone

    def get(self, path: str) -> Entry | None:
        return self.index.pop(path, None)

    def finish(self) -> None:
        for path in sorted(self.index, key=order_key):
            self.gone(path)
        self.index.clear()


_Record = tuple[str, str, int, int, int, int, int, int, str, str, str, str]  # Entry's fields, then the disk path
_SPOOL_BATCH = 1024


def _common_prefix(paths: set[str]) -> str:
    """The deepest folder holding all the paths ("" for none): a safety backup scans only that."""
    common: list[str] | None = None
    for path in paths:
        parts = path.split("/")
        if common is None:
            common = parts
        else:
            n = 0
            for a, b in zip(common, parts, strict=False):
                if a != b:
                    break
                n += 1
            del common[n:]
    return "/".join(common or [])


def _scan_to_spool(
    spool: IO[bytes],
    roots: dict[str, Path],
    only: set[str] | None,
    name: str,
    incremental: bool,
    parent: _SortedParent | _IndexedParent | None,
) -> Progress:
    """First pass: the scan, compared with the parent, into the spool file; the totals of what to archive."""
    state = Progress()
    batch: list[_Record] = []
    for entry, disk in scan(roots, prefix=_common_prefix(only) if only is not None else ""):
        if only is not None and entry.path not in only:
            continue
        old = parent.get(entry.path) if parent is not None else None
        if incremental and old is not None and entry.type == "file" and old.same_as(entry):
            sha256, archive = old.sha256, old.archive
        else:
            sha256, archive = "", name
            state.files_total += 1
            state.bytes_total += entry.size
        batch.append(
            (
                entry.path,
                entry.type,
                entry.size,
                entry.mtime,
                entry.mtime_ns,
                entry.uid,
                entry.gid,
                entry.mode,
                sha256,
                entry.link,
                archive,
                disk,
            )
        )
        if len(batch) >= _SPOOL_BATCH:
            _spool_write(spool, batch)
            batch.clear()
    if batch:
        _spool_write(spool, batch)
    if parent is not None:
        parent.finish()
    return state


def _spool_write(spool: IO[bytes], batch: list[_Record]) -> None:
    data = marshal.dumps(batch)
    spool.write(struct.pack("<I", len(data)) + data)


def _spooled(spool: IO[bytes]) -> Iterator[_Record]:
    spool.seek(0)
    while size := spool.read(4):
        data = spool.read(struct.unpack("<I", size)[0])
        yield from marshal.loads(data)  # noqa: S302  # our own spool, written moments ago (mode 0600)


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
    parent_name: str | None = None
    parent_entries: Callable[[], Iterator[Entry]] | None = None
    if isinstance(parent, Manifest):
        parent_name, loaded = parent.name, parent
        parent_entries = lambda: iter(loaded.entries)  # noqa: E731
    elif parent is not None:
        parent_name, parent_path = manifest_header(parent)["name"], parent
        parent_entries = lambda: manifest_entries(parent_path)  # noqa: E731
    header = {
        "version": MANIFEST_VERSION,
        "name": name,
        "kind": kind,
        "created_at": created_at,
        "compression": compression,
        "parent": parent_name,
        "roots": {k: str(v) for k, v in roots.items()},
        "age_recipient": age_recipient,
    }
    incremental = kind == "incremental"
    target = dest / name
    tmp = dest / f"{TEMP_PREFIX}{name}"
    manifest_tmp = dest / f"{TEMP_PREFIX}{manifest_name(name)}"
    spool_path = dest / f"{TEMP_PREFIX}{name}.scan"
    created: list[Path] = []

    def create(path: Path) -> IO[bytes]:
        # 0600 from the first byte, whatever the umask: archives and manifests hold the mail and the
        # server's secrets (relay passwords, DKIM keys). Owned by the user this process runs as.
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        created.append(path)
        return os.fdopen(fd, "rb+")

    warnings = _Warnings()
    try:
        with create(spool_path) as spool, create(manifest_tmp) as mfh:
            writer = _ManifestWriter(mfh, header)
            try:
                found = _SortedParent(parent_entries(), writer.deleted) if parent_entries else None
                state = _scan_to_spool(spool, roots, only, name, incremental, found)
            except _Unsorted:
                for fh in (spool, mfh):
                    fh.seek(0)
                    fh.truncate()
                writer = _ManifestWriter(mfh, header)
                assert parent_entries is not None
                state = _scan_to_spool(
                    spool, roots, only, name, incremental, _IndexedParent(parent_entries(), writer.deleted)
                )
            if check_space:
                check_free_space(dest, estimate_needed(state.bytes_total, ratio))
            writer.start_entries()
            with create(tmp) as fh:
                out = _HashingFile(fh)  # what is on disk: with age, the sha256 of the encrypted file
                sealed = AgeEncrypt(out, age_recipient) if age_recipient else None
                comp = _compressor(compression, sealed or out)
                try:
                    counts = _write_members(comp, _spooled(spool), writer, name, state, progress, warnings)
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
            writer.finish(warnings=warnings.as_list(), sha256=out.sha.hexdigest(), size=out.size)
            mfh.flush()
            os.fsync(mfh.fileno())
        _unlink(spool_path)
        os.replace(manifest_tmp, dest / manifest_name(name))
        os.replace(tmp, target)
        _fsync_dir(dest)
    except OSError as exc:
        _remove(created, dest / manifest_name(name))
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise NotEnoughSpace(
                f"The backup volume {dest} filled up while writing ({_mb(shutil.disk_usage(dest).free)} free); "
                "the partial archive was removed."
            ) from exc
        raise
    except BaseException:
        _remove(created, dest / manifest_name(name))
        raise
    return Written(
        name=name,
        kind=kind,
        parent=parent_name,
        sha256=out.sha.hexdigest(),
        size=out.size,
        entries=writer.entries,
        held=counts[0],
        held_files=counts[1],
        held_bytes=counts[2],
        deleted=writer.deleted_count,
        warnings=warnings.as_list(),
    )


def _write_members(
    comp: ParallelGzip | ZstdPipe,
    records: Iterable[_Record],
    writer: _ManifestWriter,
    name: str,
    state: Progress,
    progress: ProgressCallback | None,
    warnings: _Warnings,
) -> tuple[int, int, int]:
    """Second pass: what this archive holds into the tar stream, every entry into the manifest."""
    tar = _TarStream(comp)
    held = held_files = held_bytes = 0
    last_report = 0.0
    for path, type_, size, mtime, mtime_ns, uid, gid, mode, sha256, link, archive, disk in records:
        entry = Entry(path, type_, size, mtime, mtime_ns, uid, gid, mode, sha256, link, archive)
        if archive == name:
            added = _add_file(tar, entry, disk, warnings) if type_ == "file" else tar.add(entry)
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


_TAR_TYPES = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE}
_OCTAL_7, _OCTAL_11 = 8**7, 8**11
# After the link name: GNU magic, empty user and group names, device fields, prefix, padding. The
# same for every entry here; taken from tarfile (device fields differ between Python versions).
_HEADER_TAIL = tarfile.TarInfo("x").tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")[257:512]
_HEADER_TAIL_SUM = sum(_HEADER_TAIL) + sum(b"        ")  # the checksum is summed as eight spaces


def tar_header(entry: Entry) -> bytes:
    """The GNU tar header(s) tarfile writes for the entry (numeric owner, no user name), byte for byte.

    Most Maildir entries take the quick path here; long names and large numbers go through tarfile.
    """
    kind = _TAR_TYPES[entry.type]
    name, size = entry.path, entry.size if entry.type == "file" else 0
    if kind == tarfile.DIRTYPE and not name.endswith("/"):
        name += "/"
    name_b = name.encode("utf-8", "surrogateescape")
    link_b = entry.link.encode("utf-8", "surrogateescape")
    mode, uid, gid, mtime = entry.mode & 0o7777, entry.uid, entry.gid, entry.mtime
    if (
        len(name_b) > 100
        or len(link_b) > 100
        or not 0 <= uid < _OCTAL_7
        or not 0 <= gid < _OCTAL_7
        or not 0 <= size < _OCTAL_11
        or not 0 <= mtime < _OCTAL_11
    ):
        info = tarfile.TarInfo(entry.path)
        info.type, info.linkname, info.size = kind, entry.link, size
        info.uid, info.gid, info.mode, info.mtime = uid, gid, entry.mode, mtime
        return info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")
    head = b"%s%07o\0%07o\0%07o\0%011o\0%011o\0" % (name_b.ljust(100, b"\0"), mode, uid, gid, size, mtime)
    link_field = kind + link_b.ljust(100, b"\0")
    checksum = sum(head) + sum(link_field) + _HEADER_TAIL_SUM
    return b"%s%06o\0 %s%s" % (head, checksum, link_field, _HEADER_TAIL)


class _TarStream:
    """A GNU tar stream written straight into the compressor, as tarfile's "w|" mode writes it."""

    def __init__(self, out: ParallelGzip | ZstdPipe) -> None:
        self.out = out
        self.offset = 0

    def write(self, data: bytes) -> None:
        self.out.write(data)
        self.offset += len(data)

    def add(self, entry: Entry) -> bool:
        self.write(tar_header(entry))
        return True

    def pad(self, size: int) -> None:
        if size % tarfile.BLOCKSIZE:
            self.write(b"\0" * (tarfile.BLOCKSIZE - size % tarfile.BLOCKSIZE))

    def close(self) -> None:
        self.write(b"\0" * (2 * tarfile.BLOCKSIZE))  # the end-of-archive blocks, then a whole record
        if self.offset % tarfile.RECORDSIZE:
            self.write(b"\0" * (tarfile.RECORDSIZE - self.offset % tarfile.RECORDSIZE))


def _add_file(tar: _TarStream, entry: Entry, disk: str, warnings: _Warnings) -> bool:
    """The file's header and content into the tar stream; False if it is gone (or no longer a file)."""
    try:
        fd = os.open(disk, os.O_RDONLY | os.O_NOFOLLOW)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a symlink now: the next backup takes it as one
            return False
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # a folder now: the same
            return False
        if st.st_size != entry.size or st.st_mtime_ns != entry.mtime_ns:
            warnings.add(f"{entry.path} changed while it was read")
            entry.size, entry.mtime, entry.mtime_ns = st.st_size, int(st.st_mtime), st.st_mtime_ns
        size = entry.size
        tar.write(tar_header(entry))
        if size <= SMALL_FILE:
            data = _read(fd, size)
            entry.sha256 = hashlib.sha256(data).hexdigest()
            tar.write(data)
        else:
            sha = hashlib.sha256()
            left = size
            while left:
                chunk = _read(fd, min(BLOCK, left))
                sha.update(chunk)
                tar.write(chunk)
                left -= len(chunk)
            entry.sha256 = sha.hexdigest()
        tar.pad(size)
    finally:
        os.close(fd)
    return True


def _read(fd: int, size: int) -> bytes:
    """`size` bytes from the file; NULs for what it shrank by meanwhile, as GNU tar pads too."""
    data = os.read(fd, size) if size else b""
    if len(data) < size:
        parts = [data]
        got = len(data)
        while got < size and (more := os.read(fd, size - got)):
            parts.append(more)
            got += len(more)
        parts.append(b"\0" * (size - got))
        data = b"".join(parts)
    return data


def manifest_name(archive_name: str) -> str:
    return archive_name + ".manifest.json"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _remove(paths: Iterable[Path], *more: Path) -> None:
    for path in [*paths, *more]:
        _unlink(path)


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


@dataclasses.dataclass
class _Opened:
    raw: _HashingRaw  # the file as read from disk: its sha256
    rest: Callable[[], None]  # reads what follows the tar's end, so that `raw.sha` covers the whole file


@contextlib.contextmanager
def open_tar(path: Path, compression: str, identity: str | None = None) -> Iterator[tuple[tarfile.TarFile, _Opened]]:
    """The archive as a streamed tarfile: decrypted with the age `identity` if given, then decompressed."""
    with open(path, "rb") as fh, contextlib.ExitStack() as stack:
        raw = _HashingRaw(fh)
        source: IO[bytes] = io.BufferedReader(raw, BLOCK)
        if identity is not None:
            source = stack.enter_context(age_decrypted(source, identity, path.name))
        if compression == "zstd":
            proc = subprocess.Popen(["zstd", "-q", "-d", "-c"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            feeder = threading.Thread(target=_feed, args=(source, proc.stdin), daemon=True)
            feeder.start()
            stack.callback(_stop, proc, feeder)  # before the decryption ends (callbacks run last in, first out)
            assert proc.stdout is not None
            stream: IO[bytes] = proc.stdout
        else:
            stream = gzip.GzipFile(fileobj=source, mode="rb")  # type: ignore[assignment]

        def rest() -> None:
            if compression == "zstd":  # zstd then reads its input to the end, and the feeder stops
                while stream.read(BLOCK):
                    pass
                feeder.join()
            while source.read(BLOCK):  # plain: the file; encrypted: the plaintext, so all the file is read
                pass

        with tarfile.open(fileobj=stream, mode="r|") as tar:  # type: ignore[call-overload]
            yield tar, _Opened(raw, rest)


def _stop(proc: subprocess.Popen[bytes], feeder: threading.Thread) -> None:
    proc.kill()
    feeder.join()
    proc.wait()


def _feed(source: IO[bytes], sink: IO[bytes] | None) -> None:
    assert sink is not None
    with contextlib.suppress(BrokenPipeError, ValueError), sink:
        while chunk := source.read(BLOCK):
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


def verify_archive(
    path: Path, manifest: Manifest, progress: ProgressCallback | None = None, identity: str | None = None
) -> list[str]:
    """Re-read the whole archive; the problems found ([] if none), each naming the file.

    An encrypted archive is read with its age `identity`: age checks every chunk of it, and each
    file's size is compared with the manifest's (which holds no content checksums for it).
    """
    encrypted = bool(manifest.age_recipient)
    if encrypted and not identity:
        return [f"{path.name} is encrypted: verifying it needs its age secret key."]
    expected = {e.path: e for e in manifest.held}
    problems: list[str] = []
    state = Progress(files_total=len(expected), bytes_total=sum(e.size for e in expected.values()))
    seen: set[str] = set()
    last_report = 0.0
    try:
        with open_tar(path, manifest.compression, identity if encrypted else None) as (tar, opened):
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
                    if encrypted and member.size != entry.size:
                        problems.append(f"{member.name}: size differs from the manifest")
                    elif not encrypted and digest != entry.sha256:
                        problems.append(f"{member.name}: checksum differs from the manifest")
                    state.bytes_done += member.size
                state.files_done += 1
                if progress and time.monotonic() - last_report > 0.5:
                    last_report = time.monotonic()
                    progress(state)
            with contextlib.suppress(Exception):
                opened.rest()  # the tail after the tar end, for the whole-file checksum
    except WrongKey:
        raise  # not a problem of the archive
    except ArchiveError as exc:
        problems.append(str(exc))
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        problems.append(f"The archive cannot be read to the end: {exc}")
    else:
        if opened.raw.sha.hexdigest() != manifest.sha256:
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
    if "" in parts or "." in parts or ".." in parts:
        raise ArchiveError(f"The archive holds an unsafe path: {arcpath}")
    return root.joinpath(*parts) if parts else root


def _picked(roots: dict[str, Path], wanted: Iterable[str]) -> set[str]:
    """The wanted names that go into one of the roots: `_safe_target`'s checks, without making paths."""
    picked = set()
    for name in wanted:
        top, _, rel = name.partition("/")
        if top not in roots:
            continue
        if rel:
            parts = rel.split("/")
            if "" in parts or "." in parts or ".." in parts:
                raise ArchiveError(f"The archive holds an unsafe path: {name}")
        picked.add(name)
    return picked


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
    picked = _picked(roots, wanted)  # raises on unsafe paths
    if not picked:
        return 0
    if held is None:
        held = _held_entries(archive)
    plan = _tar_plan(roots, picked, held) if held is not None and _gnu_tar() else None
    if identity is not None:
        age_check(archive, identity)  # before anything on disk changes
    if plan is None or held is None:
        return _extract_python(archive, compression, roots, picked, progress, state, identity)
    _clear_folders_for_files(roots, picked, held)
    if identity is None:
        return _extract_tar(archive, compression, plan, held, progress, state, None)
    with open(archive, "rb") as fh, age_decrypted(io.BufferedReader(fh, BLOCK), identity, archive.name) as plain:
        return _extract_tar(archive, compression, plan, held, progress, state, plain)


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
        target = _safe_target(roots, folder)
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


@dataclasses.dataclass
class _TarPlan:
    base: Path
    options: list[str]
    skip: list[str]


def _held_entries(archive: Path) -> dict[str, Entry] | None:
    """What the archive holds, from the manifest written with it (None: no usable manifest)."""
    path = archive.parent / manifest_name(archive.name)
    try:
        name = manifest_header(path)["name"]
        return {e.path: e for e in manifest_entries(path) if e.archive == name}
    except (ArchiveError, KeyError):
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
    archive: Path,
    compression: str,
    plan: _TarPlan,
    held: Mapping[str, Entry],
    progress: ProgressCallback | None,
    state: Progress,
    plain: IO[bytes] | None,
) -> int:
    """GNU tar restores from the archive, or from `plain`, its decrypted stream."""
    with tempfile.TemporaryDirectory(prefix=TEMP_PREFIX) as tmp:
        skip_file, errors_file = Path(tmp) / "skip", Path(tmp) / "errors"
        skip_file.write_bytes("".join(f"{m}\n" for m in plan.skip).encode("utf-8", "surrogateescape"))
        cmd = [
            "tar",
            "-x",
            "-f",
            "-",
            "-C",
            str(plan.base),
            "--numeric-owner",
            "--same-owner",
            "--preserve-permissions",
            "--no-recursion",
            "--anchored",
            "--no-wildcards",
            f"--exclude-from={skip_file}",
            "--verbose",
            "--quoting-style=literal",
            *plan.options,
        ]
        decompressor = None
        with open(errors_file, "wb") as errors:
            if compression == "zstd":
                if not shutil.which("zstd"):
                    raise ArchiveError("zstd archives need the zstd program, which is not installed.")
                decompressor = subprocess.Popen(  # reads the decrypted pipe itself when there is one
                    ["zstd", "-q", "-d", "-c", *([] if plain else [str(archive)])],
                    stdin=plain or subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=errors,
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
                feeder = threading.Thread(
                    target=_inflate, args=(plain or archive, proc.stdin, feed_errors), daemon=True
                )
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


def _inflate(archive: Path | IO[bytes], sink: IO[bytes], errors: list[str]) -> None:
    """Decompress the archive (a path, or its decrypted stream) into tar's stdin: zlib inflates
    faster than the gzip program that `tar xzf` runs.

    Pieces of a quarter of the pipe: inflating goes on while tar empties the pipe. (Pieces larger
    than the pipe left each side waiting for the other, half as fast as `tar xzf` on a fast disk.)
    """
    pipe = 1 << 16
    with contextlib.suppress(OSError):
        fcntl.fcntl(sink.fileno(), fcntl.F_SETPIPE_SZ, BLOCK)
    with contextlib.suppress(OSError):
        pipe = fcntl.fcntl(sink.fileno(), fcntl.F_GETPIPE_SZ)
    piece = max(pipe // 4, 1 << 14)
    try:
        with sink, open(archive, "rb", buffering=0) if isinstance(archive, Path) else _kept(archive) as fh:
            inflater = zlib.decompressobj(31)
            chunk = fh.read(piece // 4)
            while chunk:
                sink.write(inflater.decompress(chunk, piece))
                if inflater.eof:  # another gzip member may follow (as `cat a.gz b.gz` makes)
                    chunk = inflater.unused_data
                    if len(chunk) < 2:
                        chunk += fh.read(piece // 4)
                    if not chunk.startswith(b"\x1f\x8b"):
                        return  # the end, or padding after the last member: gzip -d ignores it too
                    inflater = zlib.decompressobj(31)
                else:
                    chunk = inflater.unconsumed_tail or fh.read(piece // 4)
            sink.write(inflater.flush())
            if not inflater.eof:
                errors.append("it ends early (truncated)")
    except zlib.error as exc:
        errors.append(str(exc))
    except (BrokenPipeError, ValueError):
        pass  # tar stopped early: its status says why


@contextlib.contextmanager
def _kept(stream: IO[bytes]) -> Iterator[IO[bytes]]:
    yield stream  # its owner closes it


def _tail(path: Path, limit: int = 2000) -> str:
    lines = path.read_bytes()[-limit:].decode("utf-8", "replace").strip().splitlines()
    useful = [line for line in lines if "Exiting with failure status" not in line]
    return "; ".join(useful[-5:]) or "no message"


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


def read_members(*, archive: Path, compression: str, wanted: set[str], identity: str | None = None) -> dict[str, bytes]:
    """The content of small wanted files (the config folder), for the config store to write."""
    out: dict[str, bytes] = {}
    with open_tar(archive, compression, identity) as (tar, _):
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
            "create": self.create[:limit],
            "overwrite": self.overwrite[:limit],
            "kept": self.kept[:limit],
            "counts": {
                "create": len(self.create),
                "overwrite": len(self.overwrite),
                "unchanged": self.unchanged,
                "kept": len(self.kept),
            },
            "bytes": self.bytes,
        }


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
