"""The quick restore path: GNU tar extracts, fed by zlib or zstd, with an exact exclude list."""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from backups.archive.common import BLOCK, TEMP_PREFIX
from backups.archive.errors import ArchiveError
from backups.archive.manifest import Entry
from backups.archive.progress import Progress, ProgressCallback
from backups.archive.targets import split_root


@dataclasses.dataclass
class TarPlan:
    base: Path
    options: list[str]
    skip: list[str]


@functools.cache
def gnu_tar() -> bool:
    try:
        out = subprocess.run(["tar", "--version"], capture_output=True, check=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    version = re.match(rb"tar \(GNU tar\) (\d+)\.(\d+)", out)
    return version is not None and (int(version[1]), int(version[2])) >= (1, 27)  # Debian 8's: transform flags


def tar_plan(roots: dict[str, Path], picked: set[str], held: Mapping[str, Entry]) -> TarPlan | None:
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
    return TarPlan(base=base, options=options, skip=skip)


def extract_tar(
    archive: Path,
    compression: str,
    plan: TarPlan,
    held: Mapping[str, Entry],
    progress: ProgressCallback | None,
    state: Progress,
    plain: IO[bytes] | None,
) -> int:
    """GNU tar restores from the archive, or from `plain`, its decrypted stream."""
    with tempfile.TemporaryDirectory(prefix=TEMP_PREFIX) as tmp:
        skip_file, errors_file = Path(tmp) / "skip", Path(tmp) / "errors"
        skip_file.write_bytes("".join(f"{m}\n" for m in plan.skip).encode("utf-8", "surrogateescape"))
        decompressor = None
        with open(errors_file, "wb") as errors:
            if compression == "zstd":
                decompressor = _zstd(archive, plain, errors)
                stdin: Any = decompressor.stdout
            else:
                stdin = subprocess.PIPE
            proc = subprocess.Popen(_tar_command(plan, skip_file), stdin=stdin, stdout=subprocess.PIPE, stderr=errors)
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
            count, status = _wait(proc, decompressor, feeder, held, progress, state)
        if feed_errors:
            raise ArchiveError(f"The archive {archive.name} is damaged: {feed_errors[0]}")
        if decompressor is not None and decompressor.returncode:
            raise ArchiveError(f"zstd cannot read {archive.name}: {_tail(errors_file)}")
        if status:
            raise ArchiveError(f"GNU tar could not restore {archive.name}: {_tail(errors_file)}")
    return count


def _tar_command(plan: TarPlan, skip_file: Path) -> list[str]:
    return [
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


def _zstd(archive: Path, plain: IO[bytes] | None, errors: IO[bytes]) -> subprocess.Popen[bytes]:
    if not shutil.which("zstd"):
        raise ArchiveError("zstd archives need the zstd program, which is not installed.")
    return subprocess.Popen(  # reads the decrypted pipe itself when there is one
        ["zstd", "-q", "-d", "-c", *([] if plain else [str(archive)])],
        stdin=plain or subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=errors,
    )


def _wait(
    proc: subprocess.Popen[bytes],
    decompressor: subprocess.Popen[bytes] | None,
    feeder: threading.Thread | None,
    held: Mapping[str, Entry],
    progress: ProgressCallback | None,
    state: Progress,
) -> tuple[int, int]:
    """The names tar restored, counted as it goes, and its exit status once it (and its feeder) ended."""
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
    return count, status


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
