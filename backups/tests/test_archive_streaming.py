"""The archive writer's flat memory, its streamed manifest and tar stream, and the quick restore paths."""

from __future__ import annotations

import errno
import gzip
import io
import json
import os
import random
import tarfile
import tracemalloc
from pathlib import Path

import pytest

from backups import archive as arc
from backups.archive import compress, gnutar, scanner, tarstream, writer
from backups.archive.parent import IndexedParent
from backups.tests.conftest import MTIME, VMAIL, make_maildir, put, snapshot, whole_second_dir_mtimes


def tree(root: Path, files: int, per_folder: int = 100, size: int = 4096) -> Path:
    """`files` messages, `per_folder` a folder: the largest folder listing stays the same."""
    words = b"mail server backup restore meeting invoice project schedule regards "
    for i in range(files):
        body = b"message %d " % i + words * (size // len(words))
        put(
            root / f"domain{i % 3}.test" / f"user{i // per_folder}" / "cur" / f"{1700000000 + i}.M{i}P1.mail,S=9:2,S",
            body[:size],
        )
    whole_second_dir_mtimes(root)
    return root


def peak_while(fn) -> int:  # type: ignore[no-untyped-def]
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def entries_of(path: Path) -> list[arc.Entry]:
    return list(arc.manifest_entries(path))


def test_the_writers_memory_does_not_grow_with_the_number_of_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(compress.os, "cpu_count", lambda: 2)  # two compressing threads, whatever the machine
    peaks = {}
    for files in (1500, 6000):  # tar streams of 7 and 28 MB: both keep every block the compressor allows in flight
        data = tree(tmp_path / f"mail-{files}", files)
        dest = tmp_path / f"dest-{files}"
        dest.mkdir()

        def full(data: Path = data, dest: Path = dest) -> None:
            arc.write_archive(dest=dest, name="full.tar.gz", roots={"mail": data}, created_at="x")

        def incremental(data: Path = data, dest: Path = dest) -> None:
            put(data / "domain0.test" / "user0" / "cur" / "new.mail", b"new")
            arc.write_archive(
                dest=dest,
                name="incr.tar.gz",
                roots={"mail": data},
                kind="incremental",
                created_at="x",
                parent=dest / arc.manifest_name("full.tar.gz"),
            )

        peaks[files] = (peak_while(full), peak_while(incremental))
        assert len(entries_of(dest / arc.manifest_name("full.tar.gz"))) > files
        incr = entries_of(dest / arc.manifest_name("incr.tar.gz"))
        held = [e.path for e in incr if e.archive == "incr.tar.gz" and e.type == "file"]
        assert held == ["mail/domain0.test/user0/cur/new.mail"]
    # Four times the files: the same peak, give or take. Holding the entries (as the writer did)
    # cost ~2 KB a file: 6 MB at 1,500 files, 15.7 MB at 6,000; loading the previous manifest, more.
    for small, large in zip(peaks[1500], peaks[6000], strict=True):
        # 2 MB, not 1: on a busy machine the small run may not fill every block slot (seen: 1.25 MB apart).
        assert large - small < 2_000_000, peaks
        assert large < 8_000_000, peaks  # the compressor's blocks in flight and zlib's state: no more


def test_a_failed_write_leaves_no_temporary_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tree(tmp_path / "mail", 300)
    dest = tmp_path / "dest"
    dest.mkdir()
    arc.write_archive(dest=dest, name="full.tar.gz", roots={"mail": data}, created_at="x")
    before = sorted(p.name for p in dest.iterdir())
    calls = []
    add_file = tarstream.add_file

    def failing(*args: object) -> bool:
        calls.append(1)
        seen = sorted(p.name for p in dest.iterdir() if p.name.startswith(arc.TEMP_PREFIX))
        assert seen == [
            f"{arc.TEMP_PREFIX}incr.tar.gz",
            f"{arc.TEMP_PREFIX}incr.tar.gz.manifest.json",
            f"{arc.TEMP_PREFIX}incr.tar.gz.scan",
        ]
        if len(calls) == 50:
            raise OSError(errno.EIO, "Input/output error")
        return add_file(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(writer, "add_file", failing)
    with pytest.raises(OSError, match="Input/output error"):
        arc.write_archive(
            dest=dest,
            name="incr.tar.gz",
            roots={"mail": data},
            parent=dest / arc.manifest_name("full.tar.gz"),
            created_at="x",
        )
    assert sorted(p.name for p in dest.iterdir()) == before

    def stopped(*args: object) -> bool:
        raise KeyboardInterrupt

    monkeypatch.setattr(writer, "add_file", stopped)
    with pytest.raises(KeyboardInterrupt):
        arc.write_archive(dest=dest, name="stopped.tar.gz", roots={"mail": data}, created_at="x")
    assert sorted(p.name for p in dest.iterdir()) == before


def test_the_tar_stream_is_what_tarfile_writes(tmp_path: Path) -> None:
    data = tmp_path / "mail"
    make_maildir(data)
    box = data / "example.test" / "user"
    put(box / ("long-" * 30 + ".mail"), b"a name over 100 bytes: a GNU long-name header")
    os.symlink("x" * 150, box / "long-link")
    os.lchown(box / "long-link", VMAIL, VMAIL)
    put(box / "big.mail", os.urandom(arc.SMALL_FILE + 5000))  # read in blocks, not at once
    put(box / "old.mail", b"negative mtime", mtime=-86400)
    put(box / "root.mail", b"owned by a large uid", owner=4_000_000)
    whole_second_dir_mtimes(data)
    dest = tmp_path / "dest"
    dest.mkdir()
    arc.write_archive(dest=dest, name="a.tar.gz", roots={"mail": data}, created_at="x")
    ours = gzip.decompress((dest / "a.tar.gz").read_bytes())

    reference = io.BytesIO()
    with tarfile.open(fileobj=reference, mode="w|", format=tarfile.GNU_FORMAT) as tar:
        for entry in entries_of(dest / arc.manifest_name("a.tar.gz")):
            info = tarfile.TarInfo(entry.path)
            info.uid, info.gid, info.mode, info.mtime = entry.uid, entry.gid, entry.mode, entry.mtime
            disk = data / entry.path.partition("/")[2]
            if entry.type == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif entry.type == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, entry.link
                tar.addfile(info)
            else:
                info.size = entry.size
                tar.addfile(info, io.BytesIO(disk.read_bytes()))
    assert ours == reference.getvalue()


def test_quick_tar_headers_match_tarfiles() -> None:
    rng = random.Random(6)
    quick = 0
    for _ in range(3000):
        kind = rng.choice(["file", "dir", "symlink"])
        name = "mail/" + "".join(rng.choice("abÄé日\udcff,:=._-") for _ in range(rng.choice([5, 60, 98, 99, 100, 200])))
        link = "".join(rng.choice("ab/é") for _ in range(rng.choice([1, 100, 101]))) if kind == "symlink" else ""
        size = rng.choice([0, 1, 511, 8**11 - 1, 8**11, 10**13]) if kind == "file" else 0
        mtime = rng.choice([0, MTIME, 8**11 - 1, 8**11, -5])
        owner = rng.choice([0, VMAIL, 8**7 - 1, 8**7])
        entry = arc.Entry(name, kind, size, mtime, mtime * 10**9, owner, owner, rng.choice([0o600, 0o7777]), link=link)
        info = tarfile.TarInfo(name)
        info.uid, info.gid, info.mode, info.mtime = owner, owner, entry.mode, mtime
        info.type = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE}[kind]
        info.size, info.linkname = size, link
        expected = info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")
        assert arc.tar_header(entry) == expected, entry
        quick += len(expected) == 512
    assert quick > 500  # both paths were tried


def test_the_manifest_streams_and_older_manifests_still_read(tmp_path: Path) -> None:
    entries = [
        arc.Entry("mail", "dir", 0, MTIME, MTIME * 10**9, VMAIL, VMAIL, 0o700, archive="a"),
        arc.Entry(
            'mail/"quoted"\n\\name\udcff', "file", 3, MTIME, MTIME * 10**9, VMAIL, VMAIL, 0o600, "ab" * 32, archive="a"
        ),
    ]
    manifest = arc.Manifest("a", "full", "x", "gzip", None, {"mail": "/m"}, entries, ["mail/gone"], "f" * 64, 9, ["w"])
    path = tmp_path / "a.manifest.json"
    path.write_bytes(manifest.dump())
    # The header, one deleted path, the start of the entries, one line each, the end.
    assert len(path.read_bytes().split(b"\n")) == 6
    assert arc.Manifest.load(path) == manifest
    assert json.loads(path.read_bytes())["deleted"] == ["mail/gone"]  # one JSON document
    assert entries_of(path) == entries
    assert arc.manifest_header(path) == manifest.header()
    legacy = tmp_path / "legacy.manifest.json"  # as written before: one line, version last
    data = {**{k: v for k, v in vars(manifest).items() if k != "entries"}, "entries": [e.as_json() for e in entries]}
    legacy.write_text(json.dumps({**data, "version": 1}, separators=(",", ":")))
    assert entries_of(legacy) == entries
    assert arc.manifest_header(legacy) == manifest.header()
    path.write_bytes(b"\n".join(manifest.dump().split(b"\n")[:4]))  # cut after the first entry
    with pytest.raises(arc.ArchiveError, match="cannot be read: it ends in the list of entries"):
        entries_of(path)


def test_an_incremental_against_an_older_manifest_order_is_exact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parents written before `order_key` listed mail, state, config: looked up instead, same result."""
    roots = {"mail": tmp_path / "mail", "state": tmp_path / "state", "config": tmp_path / "config"}
    for name, root in roots.items():
        for i in range(5):
            put(root / f"{name}{i}.txt", b"x" * i)
    whole_second_dir_mtimes(tmp_path)
    dest = tmp_path / "dest"
    dest.mkdir()
    arc.write_archive(dest=dest, name="full.tar.gz", roots=roots, created_at="x")
    full = arc.Manifest.load(dest / arc.manifest_name("full.tar.gz"))
    assert [e.path for e in full.entries] == sorted((e.path for e in full.entries), key=arc.order_key)
    by_top = {top: [e for e in full.entries if e.path.split("/")[0] == top] for top in ("mail", "state", "config")}
    older = arc.Manifest.load(dest / arc.manifest_name("full.tar.gz"))
    older.entries = by_top["mail"] + by_top["state"] + by_top["config"]
    (dest / arc.manifest_name("full.tar.gz")).write_bytes(older.dump())
    indexed = []
    monkeypatch.setattr(IndexedParent, "finish", lambda self, f=IndexedParent.finish: indexed.append(1) or f(self))

    put(roots["state"] / "state1.txt", b"changed")
    (roots["config"] / "config3.txt").unlink()
    put(roots["mail"] / "mail9.txt", b"new")
    whole_second_dir_mtimes(tmp_path)
    for name, parent in (("sorted", full), ("older", dest / arc.manifest_name("full.tar.gz"))):
        written = arc.write_archive(
            dest=dest, name=f"{name}.tar.gz", roots=roots, kind="incremental", parent=parent, created_at="x"
        )
        manifest = arc.Manifest.load(dest / arc.manifest_name(f"{name}.tar.gz"))
        held_files = sorted(e.path for e in manifest.held if e.type == "file")
        assert held_files == ["mail/mail9.txt", "state/state1.txt"]
        assert manifest.deleted == ["config/config3.txt"] and written.deleted == 1
        assert {e.path: e.archive for e in manifest.entries if e.type == "file"}["mail/mail0.txt"] == "full.tar.gz"
        assert (written.held_files, written.entries) == (2, len(manifest.entries))
        assert len(indexed) == (name == "older")


def test_a_merge_with_the_parent_matches_a_dictionary_lookup(tmp_path: Path) -> None:
    rng = random.Random(7)
    data = tmp_path / "mail"
    for name in ("a/m", "a/x/z", "a/x.y", "a/x-", "a/x/z2", "a.b/m", "a-/m", "a0", "b/m", "Ä/m", "ä", "A/m"):
        put(data / name, b"1")  # "/" sorts after "-" and ".", so string order is not path order
    whole_second_dir_mtimes(data)
    dest = tmp_path / "dest"
    dest.mkdir()
    arc.write_archive(dest=dest, name="p.tar.gz", roots={"mail": data}, created_at="x")
    parent = arc.Manifest.load(dest / arc.manifest_name("p.tar.gz"))
    files = [p for p in data.rglob("*") if p.is_file()]
    for path in rng.sample(files, 4):
        path.unlink()
    for path in rng.sample([p for p in files if p.exists()], 3):
        put(path, b"changed!")
    put(data / "a.b" / "new", b"n")
    whole_second_dir_mtimes(data)
    arc.write_archive(
        dest=dest,
        name="i.tar.gz",
        roots={"mail": data},
        kind="incremental",
        created_at="x",
        parent=dest / arc.manifest_name("p.tar.gz"),
    )
    incr = arc.Manifest.load(dest / arc.manifest_name("i.tar.gz"))
    old = parent.by_path()
    now = {e.path: e for e, _ in arc.scan({"mail": data})}
    assert sorted(incr.deleted) == sorted(set(old) - set(now))
    expected_held = {p for p, e in now.items() if e.type != "file" or p not in old or not old[p].same_as(e)}
    assert {e.path for e in incr.held} == expected_held
    assert [e.path for e in incr.entries] == list(now)


def test_a_safety_backup_scans_only_the_folder_it_needs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "mail"
    make_maildir(data)
    dest = tmp_path / "dest"
    dest.mkdir()
    listed: list[str] = []
    scandir = os.scandir
    monkeypatch.setattr(scanner.os, "scandir", lambda path: listed.append(str(path)) or scandir(path))
    only = {"mail/example.test/user/cur/1700000000.M1P1.mail,S=20:2,S", "mail/example.test/user/.Sent"}
    written = arc.write_archive(dest=dest, name="s.tar.gz", roots={"mail": data}, only=only, created_at="x")
    assert written.entries == written.held == 2 and written.held_files == 1
    assert not any("second.test" in p or p.endswith("/other") for p in listed)


def test_inflating_reads_concatenated_members_and_ignores_padding(tmp_path: Path) -> None:
    payload = os.urandom(300_000) + b"mail " * 100_000
    cut = 123_457
    archive = tmp_path / "a.gz"
    archive.write_bytes(gzip.compress(payload[:cut]) + gzip.compress(payload[cut:]) + b"\0" * 700)

    class Sink(io.BytesIO):
        def close(self) -> None:
            self.value = self.getvalue()
            super().close()

    sink, errors = Sink(), []
    gnutar._inflate(archive, sink, errors)
    assert errors == [] and sink.value == payload
    archive.write_bytes(gzip.compress(payload)[:-100])
    sink, errors = Sink(), []
    gnutar._inflate(archive, sink, errors)
    assert errors == ["it ends early (truncated)"]


def test_restoring_over_a_whole_tree_replaces_folders_where_files_were(tmp_path: Path) -> None:
    data = tmp_path / "mail"
    make_maildir(data)
    dest = tmp_path / "dest"
    dest.mkdir()
    arc.write_archive(dest=dest, name="a.tar.gz", roots={"mail": data}, created_at="x")
    before = snapshot(data)
    uidlist = data / "example.test" / "other" / "dovecot-uidlist"
    uidlist.unlink()
    put(uidlist / "deep" / "stray", b"a folder where the backup has a file")
    whole_second_dir_mtimes(data)
    manifest = arc.Manifest.load(dest / arc.manifest_name("a.tar.gz"))
    count = arc.extract(
        archive=dest / "a.tar.gz", compression="gzip", roots={"mail": data}, wanted={e.path for e in manifest.entries}
    )
    assert count == len(manifest.entries) and snapshot(data) == before
