"""The compressed output: gzip deflated in parallel blocks (like pigz) or zstd through its program."""

from __future__ import annotations

import collections
import concurrent.futures
import hashlib
import os
import shutil
import struct
import subprocess
import threading
import zlib
from typing import IO

from backups.archive.age import AGE_SUFFIX
from backups.archive.common import BLOCK, Sink
from backups.archive.errors import ArchiveError

# `tar czf` runs gzip -6. Blocks cost ~0.1% (each restarts its match search), so -7: about 0.15%
# smaller than `tar czf` on mail for ~15% more CPU, spread over the threads. Larger blocks gained nothing.
GZIP_LEVEL = 7


class HashingFile:
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

    def __init__(self, out: Sink, *, level: int = GZIP_LEVEL, threads: int | None = None) -> None:
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

    def __init__(self, out: Sink) -> None:
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


def compressor(compression: str, out: Sink) -> ParallelGzip | ZstdPipe:
    if compression == "zstd":
        return ZstdPipe(out)
    return ParallelGzip(out)


def suffix_for(compression: str, *, encrypted: bool = False) -> str:
    return (".tar.zst" if compression == "zstd" else ".tar.gz") + (AGE_SUFFIX if encrypted else "")


def compression_of(name: str) -> str:
    """An archive's compression, from its name (`suffix_for`): each link of a chain has its own."""
    return "zstd" if name.endswith((".tar.zst", ".tar.zst" + AGE_SUFFIX)) else "gzip"
