"""Backup figures on one generated Maildir, each next to GNU tar in the same run (medians).

BENCH_SMALL=1: about 5,000 messages / 100 MB; else the issue's 50,000 messages / 1 GB.
BENCH_MESSAGES and BENCH_MB override; BENCH_REPEAT sets the repeats (default 3 small, 1 large).
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


def timed(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        os.sync()  # the previous step's dirty pages are written out now, not during this timing
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def child_peak_rss_mb(work: Path, data: Path) -> float:
    """Our backup in a fresh process (as the RQ worker runs it): its peak RSS."""
    code = (
        "import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]);"
        "from backups import archive as arc;"
        "arc.write_archive(dest=Path(sys.argv[2]), name='rss.tar.gz', roots={'mail': Path(sys.argv[3])}, created_at='x')"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(ROOT), str(work), str(data)])
    _, status, usage = os.wait4(proc.pid, 0)
    if status:
        raise RuntimeError("the backup child failed")
    (work / "rss.tar.gz").unlink()
    (work / "rss.tar.gz.manifest.json").unlink()
    return usage.ru_maxrss / 1024


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
            for p in out.glob("full*"):
                p.unlink()
            arc.write_archive(dest=out, name="full.tar.gz", roots={"mail": data}, created_at="x")

        def tar() -> None:
            subprocess.run(["tar", "czf", str(out / "tar.tgz"), "-C", str(base), "mail"], check=True)

        t_tar = timed(tar, repeat)
        t_ours = timed(ours, repeat)
        size_tar, size_ours = (out / "tar.tgz").stat().st_size, (out / "full.tar.gz").stat().st_size
        print(
            f"  full backup      {t_ours:7.2f} s   tar czf {t_tar:7.2f} s   ratio {t_ours / t_tar:.2f} (target <= 1.0)"
        )
        print(
            f"  archive size     {size_ours / 1e6:7.1f} MB  tar czf {size_tar / 1e6:7.1f} MB  "
            f"ratio {size_ours / size_tar:.3f} (target <= 1.0)"
        )

        parent = arc.Manifest.load(out / "full.tar.gz.manifest.json")

        def incremental() -> None:
            for p in out.glob("incr*"):
                p.unlink()
            arc.write_archive(
                dest=out, name="incr.tar.gz", roots={"mail": data}, kind="incremental", parent=parent, created_at="x"
            )

        t_incr = timed(incremental, repeat)
        print(
            f"  incremental      {t_incr:7.2f} s   full    {t_ours:7.2f} s   ratio {t_incr / t_ours:.3f} (target <= 0.1)"
        )

        wanted = {e.path for e in parent.entries}
        held = {e.path: e for e in parent.held}  # as the restore service passes the manifest it has read

        def restore() -> None:
            target = base / "restore"
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir()
            arc.extract(
                archive=out / "full.tar.gz", compression="gzip", roots={"mail": target}, wanted=wanted, held=held
            )

        def untar() -> None:
            target = base / "untar"
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir()
            subprocess.run(["tar", "xzf", str(out / "tar.tgz"), "-C", str(target)], check=True)

        t_untar = timed(untar, repeat)
        t_restore = timed(restore, repeat)
        print(
            f"  restore          {t_restore:7.2f} s   tar xzf {t_untar:7.2f} s   ratio {t_restore / t_untar:.2f} (target <= 1.0)"
        )
        rss = child_peak_rss_mb(out, data)
        print(f"  worker peak RSS  {rss:7.1f} MB  (target <= 100 MB)")


if __name__ == "__main__":
    main()
