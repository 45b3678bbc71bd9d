"""Reading an archive back as a streamed tarfile: decrypted, decompressed, its whole-file checksum kept."""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import hashlib
import io
import subprocess
import tarfile
import threading
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from backups.archive.age import age_decrypted
from backups.archive.common import BLOCK
from backups.archive.errors import ArchiveError


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


def members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
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


def read_members(*, archive: Path, compression: str, wanted: set[str], identity: str | None = None) -> dict[str, bytes]:
    """The content of small wanted files (the config folder), for the config store to write."""
    out: dict[str, bytes] = {}
    with open_tar(archive, compression, identity) as (tar, _):
        for member in members(tar):
            if member.name in wanted and member.isfile():
                fh = tar.extractfile(member)
                assert fh is not None
                out[member.name] = fh.read()
    return out
