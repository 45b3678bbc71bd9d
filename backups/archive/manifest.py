"""The manifest: one JSON document next to each archive listing every file of the backed-up state.

The layout write_archive streams (one JSON document; any JSON reader loads it whole):

  {"version":1,"name":…,"kind":…,"created_at":…,"compression":…,"parent":…,"roots":{…},"deleted":[
  "mail/…",
  "mail/…"
  ],"entries":[
  {"path":…,…},
  {"path":…,…}
  ],"warnings":[…],"sha256":…,"size":…}

JSON strings hold no raw newline, so each entry is one line: `manifest_entries` reads them one at
a time. Manifests written before this layout are one line, and are read whole.
"""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from backups.archive.errors import ArchiveError

MANIFEST_VERSION = 1


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


def manifest_name(archive_name: str) -> str:
    return archive_name + ".manifest.json"


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


class ManifestWriter:
    """Streams a manifest: the header, then deleted paths, then entries, then the totals."""

    def __init__(self, fh: IO[bytes], header: dict[str, Any]) -> None:
        self.fh = fh
        self.hide_hashes = bool(header.get("age_recipient"))  # an encrypted archive's: see the package's doc
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
        writer = ManifestWriter(out, self.header())
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
