"""Backup figures on one generated Maildir, each next to GNU tar in the same run (medians).

BENCH_SMALL=1: about 5,000 messages / 100 MB; else the issue's 50,000 messages / 1 GB.
BENCH_MESSAGES and BENCH_MB override; BENCH_REPEAT sets the rounds (default 3 small, 1 large);
BENCH_DIR the folder to work in (default: the system's temporary folder).

Ours and tar's runs alternate within each round (which goes first alternates too), so a busy
neighbour or the disk's write-back weighs on both alike. Each run starts after a sync, with the
previous archive removed outside the timing; each restore goes into a folder of its own.

The restore compared with `tar xzf` is the extraction of every file into an empty folder, as
`tar xzf` does. The preview a real restore runs first (a scan of the disk against the manifest)
and its safety backup (of the files it overwrites; none here) are not in it: the preview is
timed on its own line.
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backups import archive as arc  # noqa: E402

WORDS = (  # noqa: SIM905
    "the mail server backup restore meeting invoice project schedule please find attached regards thanks "
    "tomorrow report quarter budget review update customer order delivery account password security team "
    "weekend holiday office request approval document contract signature payment reminder newsletter"
).split()


def make_maildir(root: Path, messages: int, total_bytes: int, seed: int = 6) -> None:
    rng = random.Random(seed)
    boxes = max(1, messages // 500)
    folders = ["", ".Sent", ".Archive.2024", ".Junk", ".Entwürfe"]
    avg = total_bytes // messages
    for i in range(messages):
        box = root / f"domain{i % 7}.test" / f"user{i % boxes}"
        folder = box / folders[i % len(folders)] / "cur"
        folder.mkdir(parents=True, exist_ok=True)
        size = max(200, int(rng.expovariate(1 / avg))) if i % 10 else avg
        head = (
            f"From: a{i}@example.test\nTo: user@example.test\nSubject: {' '.join(rng.choices(WORDS, k=6))}\n"
            f"Message-ID: <{rng.getrandbits(64):x}@example.test>\nDate: Mon, 1 Jan 2024 10:00:00 +0000\n\n"
        ).encode()
        if i % 5 == 0:  # an attachment: base64 of random bytes compresses like real ones (~25%)
            body = __import__("base64").encodebytes(rng.randbytes(size * 3 // 4))
        else:
            body = " ".join(rng.choices(WORDS, k=size // 7)).encode()
        name = f"{1700000000 + i}.M{i}P1.mail,S={len(head) + len(body)}:2,S"
        (folder / name).write_bytes(head + body[: max(0, size - len(head))])
    for path in [root, *root.rglob("*")]:
        os.chown(path, 5000, 5000)


def timed(fn, prepare=None) -> float:  # type: ignore[no-untyped-def]
    if prepare:
        prepare()
    os.sync()  # the previous step's dirty pages are written out now, not during this timing
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def compare(ours, theirs, repeat: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Medians of ours and of theirs, each a (run, prepare) pair, run alternately (theirs first in even rounds)."""
    mine: list[float] = []
    base: list[float] = []
    for round_ in range(repeat):
        pairs = [(theirs, base), (ours, mine)]
        for (fn, prepare), times in pairs if round_ % 2 == 0 else reversed(pairs):
            times.append(timed(fn, prepare))
    return statistics.median(mine), statistics.median(base)


def child_peak_rss_mb(work: Path, data: Path, parent: Path | None = None) -> float:
    """Our backup in a fresh process (as the RQ worker runs it): its peak RSS, as the child itself saw it.

    Its own VmHWM, not wait4's ru_maxrss: a child started with vfork (as subprocess does) inherits
    the spawning process's high-water mark in ru_maxrss, here this bench holding a whole manifest.
    """
    code = (
        "import re, sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]);"
        "from backups import archive as arc;"
        "parent = Path(sys.argv[4]) if len(sys.argv) > 4 else None;"
        "arc.write_archive(dest=Path(sys.argv[2]), name='rss.tar.gz', roots={'mail': Path(sys.argv[3])}, created_at='x',"
        " kind='incremental' if parent else 'full', parent=parent);"
        "print(re.search(r'VmHWM:\\s+(\\d+) kB', Path('/proc/self/status').read_text())[1])"
    )
    args = [sys.executable, "-c", code, str(ROOT), str(work), str(data)] + ([str(parent)] if parent else [])
    peak_kib = int(subprocess.run(args, check=True, capture_output=True, text=True).stdout)
    (work / "rss.tar.gz").unlink()
    (work / "rss.tar.gz.manifest.json").unlink()
    return peak_kib / 1024


def main() -> None:
    small = os.environ.get("BENCH_SMALL") == "1"
    messages = int(os.environ.get("BENCH_MESSAGES", 5_000 if small else 50_000))
    total = int(os.environ.get("BENCH_MB", 100 if small else 1_100)) * 1_000_000
    repeat = int(os.environ.get("BENCH_REPEAT", 3 if small else 1))
    with tempfile.TemporaryDirectory(prefix="dms-backup-bench-", dir=os.environ.get("BENCH_DIR")) as tmp:
        base = Path(tmp)
        data, out = base / "mail", base / "out"
        out.mkdir()
        started = time.perf_counter()
        make_maildir(data, messages, total)
        source = sum(p.stat().st_size for p in data.rglob("*") if p.is_file())
        print(
            f"backups: {messages:,} messages, {source / 1e6:,.0f} MB generated in {time.perf_counter() - started:.0f} s"
        )

        def ours() -> None:
            arc.write_archive(dest=out, name="full.tar.gz", roots={"mail": data}, created_at="x")

        def tar() -> None:
            subprocess.run(["tar", "czf", str(out / "tar.tgz"), "-C", str(base), "mail"], check=True)

        def no_archive(*names: str):  # type: ignore[no-untyped-def]
            return lambda: [(out / name).unlink(missing_ok=True) for name in names]

        t_ours, t_tar = compare(
            (ours, no_archive("full.tar.gz", "full.tar.gz.manifest.json")), (tar, no_archive("tar.tgz")), repeat
        )
        size_tar, size_ours = (out / "tar.tgz").stat().st_size, (out / "full.tar.gz").stat().st_size
        print(
            f"  full backup      {t_ours:7.2f} s   tar czf {t_tar:7.2f} s   ratio {t_ours / t_tar:.2f} (target <= 1.0)"
        )
        print(
            f"  archive size     {size_ours / 1e6:7.1f} MB  tar czf {size_tar / 1e6:7.1f} MB  "
            f"ratio {size_ours / size_tar:.3f} (target <= 1.0)"
        )

        from pyrage import x25519

        recipient = str(x25519.Identity.generate().to_public())

        def encrypted() -> None:  # the same, through age (pyrage) on its way to the file
            arc.write_archive(
                dest=out, name="full.tar.gz.age", roots={"mail": data}, created_at="x", age_recipient=recipient
            )

        t_age, t_plain = compare(
            (encrypted, no_archive("full.tar.gz.age", "full.tar.gz.age.manifest.json")),
            (ours, no_archive("full.tar.gz", "full.tar.gz.manifest.json")),
            repeat,
        )
        print(
            f"  encrypted (age)  {t_age:7.2f} s   plain   {t_plain:7.2f} s   ratio {t_age / t_plain:.2f} (for reference)"
        )

        parent_path = out / "full.tar.gz.manifest.json"

        def incremental() -> None:  # as the backup service runs it: the parent's manifest is read as a stream
            for p in out.glob("incr*"):
                p.unlink()
            arc.write_archive(
                dest=out,
                name="incr.tar.gz",
                roots={"mail": data},
                kind="incremental",
                parent=parent_path,
                created_at="x",
            )

        t_incr = statistics.median(timed(incremental) for _ in range(repeat))
        print(
            f"  incremental      {t_incr:7.2f} s   full    {t_ours:7.2f} s   ratio {t_incr / t_ours:.3f} (target <= 0.1)"
        )

        parent = arc.Manifest.load(parent_path)  # as the restore service has it read
        wanted = {e.path for e in parent.entries}
        held = {e.path: e for e in parent.held}

        # Each run extracts into a folder of its own, all removed at the end: on an ext4 without a
        # journal (as here), creating files within minutes of deleting 50,000 skips the recently
        # deleted inodes one by one: a run right after a removal took 3-5x as long as one before.
        targets: list[Path] = []

        def fresh(name: str):  # type: ignore[no-untyped-def]
            return lambda: (targets.append(base / f"{name}-{len(targets)}"), targets[-1].mkdir())

        def restore() -> None:
            arc.extract(
                archive=out / "full.tar.gz", compression="gzip", roots={"mail": targets[-1]}, wanted=wanted, held=held
            )

        def untar() -> None:
            subprocess.run(["tar", "xzf", str(out / "tar.tgz"), "-C", str(targets[-1])], check=True)

        t_restore, t_untar = compare((restore, fresh("restore")), (untar, fresh("untar")), repeat)
        print(
            f"  restore          {t_restore:7.2f} s   tar xzf {t_untar:7.2f} s   ratio {t_restore / t_untar:.2f} (target <= 1.0)"
        )
        restored = next(t for t in reversed(targets) if t.name.startswith("restore"))
        started = time.perf_counter()
        plan = arc.preview(parent.entries, {"mail": restored}, "")
        t_preview = time.perf_counter() - started
        compared = plan.unchanged + len(plan.create) + len(plan.overwrite)
        print(
            f"  restore preview  {t_preview:7.2f} s   (run before a restore, not in the figure above: "
            f"{compared:,} entries of the manifest against the disk)"
        )
        for target in targets:
            shutil.rmtree(target, ignore_errors=True)
        rss = child_peak_rss_mb(out, data)
        rss_incr = child_peak_rss_mb(out, data, parent_path)
        print(f"  worker peak RSS  {rss:7.1f} MB  full backup (target <= 100 MB); incremental {rss_incr:.1f} MB")


if __name__ == "__main__":
    main()
