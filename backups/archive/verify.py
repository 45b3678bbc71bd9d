"""Verifying an archive: every member read back and compared with the manifest."""

from __future__ import annotations

import contextlib
import hashlib
import tarfile
import time
import zlib
from pathlib import Path

from backups.archive.common import BLOCK
from backups.archive.errors import ArchiveError, WrongKey
from backups.archive.manifest import Manifest
from backups.archive.progress import Progress, ProgressCallback
from backups.archive.reader import members, open_tar


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
            for member in members(tar):
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
