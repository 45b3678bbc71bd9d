"""Encryption to an age public key, and decryption with its secret key, as streams.

pyrage is the Python binding of rage, a maintained age implementation: what it writes, the `age`
CLI decrypts (`age -d -i key.txt archive.tar.gz.age | tar xzf -`). Only X25519 keys (age1…, made
by `age-keygen`); the secret key is given for a restore or verify and never stored.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pyrage
from pyrage import x25519

from backups.archive.common import BLOCK, Sink
from backups.archive.errors import ArchiveError, WrongKey

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

    def __init__(self, out: Sink, recipient: str) -> None:
        read_fd, write_fd = _big_pipe()
        self.source, self.sink = os.fdopen(read_fd, "rb", BLOCK), os.fdopen(write_fd, "wb")
        self.error: BaseException | None = None
        self.thread = threading.Thread(
            target=self._run, args=(out, x25519.Recipient.from_str(recipient)), daemon=True, name="age"
        )
        self.thread.start()

    def _run(self, out: Sink, recipient: x25519.Recipient) -> None:
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
