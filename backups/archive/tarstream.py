"""The GNU tar stream the writer produces: headers byte for byte as tarfile writes them, files read once."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import tarfile

from backups.archive.common import BLOCK
from backups.archive.compress import ParallelGzip, ZstdPipe
from backups.archive.manifest import Entry

SMALL_FILE = 8 << 20
MAX_WARNINGS = 1000  # kept one by one; past that, counted
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


class TarStream:
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


class Warnings:
    """The files that changed while they were read, for the manifest: the first MAX_WARNINGS by name."""

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


def add_file(tar: TarStream, entry: Entry, disk: str, warnings: Warnings) -> bool:
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
