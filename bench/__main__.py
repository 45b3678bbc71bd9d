"""`make bench`: the foundation's figures, each next to the baseline it names.

1. Store write + commit of one line in a 10,000-line file (median, p95), against a bare atomic
   write of the same bytes (temp + fsync + rename, no lock, no git).
2. Peak RSS of a web (gunicorn) worker after serving the home and history pages 300 times,
   against the same worker right after start.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dms_admin.configstore import ConfigStore  # noqa: E402


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bare_atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def bench_store(rounds: int = 100) -> None:
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as bare_dir:
        root = Path(tmp)
        lines = [f"user{i}@example.com|{{SHA512-CRYPT}}$6$salt{i}$" + "x" * 86 for i in range(10_000)]
        (root / "postfix-accounts.cf").write_text("\n".join(lines) + "\n")
        store = ConfigStore(root)
        store.record_external_changes()
        ours, bare = [], []
        for i in range(rounds):
            start = time.perf_counter()
            with store.change(actor="bench", message=f"line {i}") as change:
                text = change.read("postfix-accounts.cf")
                change.write("postfix-accounts.cf", text.replace(f"user{i}@", f"changed{i}@", 1))
            ours.append(time.perf_counter() - start)
            data = (root / "postfix-accounts.cf").read_bytes()
            start = time.perf_counter()
            bare_atomic_write(Path(bare_dir) / "bare.cf", data)
            bare.append(time.perf_counter() - start)
        assert store.count() == rounds + 1
    m, p = statistics.median(ours) * 1000, pct(ours, 0.95) * 1000
    bm, bp = statistics.median(bare) * 1000, pct(bare, 0.95) * 1000
    print(f"store write+commit, 1 line of 10,000 ({rounds} runs): median {m:.1f} ms, p95 {p:.1f} ms")
    print(f"  baseline bare atomic write (no lock, no git):  median {bm:.1f} ms, p95 {bp:.1f} ms")
    print(f"  ratio (median): {m / bm:.1f}x")


def rss_kib(pid: int) -> tuple[int, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    current = int(re.search(r"VmRSS:\s+(\d+)", status)[1])  # type: ignore[index]
    peak = int(re.search(r"VmHWM:\s+(\d+)", status)[1])  # type: ignore[index]
    return current, peak


def bench_web_rss(requests_count: int = 300) -> None:
    import requests

    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "dms_admin.settings",
            "SECRET_KEY": "bench-only",
            "DMS_ADMIN_DATA_DIR": tmp,
            "DOCKER_HOST": "unix:///nonexistent.sock",
        }
        py = sys.executable
        from bench.accounts_bench import big_config

        big_config(Path(tmp) / "dms-config")
        subprocess.run([py, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True, capture_output=True)
        subprocess.run(
            [py, "manage.py", "collectstatic", "--noinput"], cwd=ROOT, env=env, check=True, capture_output=True
        )
        out = subprocess.run(
            [py, "manage.py", "ensure_admin"], cwd=ROOT, env=env, check=True, capture_output=True, text=True
        ).stdout
        password = re.search(r"password: (\S+)", out)[1]  # type: ignore[index]
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        gunicorn = Path(py).with_name("gunicorn")
        proc = subprocess.Popen(
            [str(gunicorn), "dms_admin.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    requests.get(f"{base}/healthz", timeout=5)
                    break
                except requests.RequestException:
                    time.sleep(0.1)
            worker = int(
                subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()[0]
            )
            idle, _ = rss_kib(worker)
            session = requests.Session()
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', session.get(f"{base}/login/").text)[1]  # type: ignore[index]
            session.post(
                f"{base}/login/", data={"username": "admin", "password": password, "csrfmiddlewaretoken": token}
            )
            times, lists, homes = [], [], []
            for i in range(requests_count):
                start = time.perf_counter()
                response = session.get(f"{base}/" if i % 2 else f"{base}/history/")
                (homes if i % 2 else times).append(time.perf_counter() - start)
                assert response.status_code == 200
            for i in range(100):
                start = time.perf_counter()
                page = f"{base}/mailboxes/?page={i % 200 + 1}" if i % 2 else f"{base}/mailboxes/?search=user{i}"
                assert session.get(page).status_code == 200
                lists.append(time.perf_counter() - start)
            _, peak = rss_kib(worker)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)
    print(
        f"mailbox list/search page at 10,000 mailboxes (100 views): median {statistics.median(lists) * 1000:.1f} ms,"
        f" p95 {pct(lists, 0.95) * 1000:.1f} ms [p95 <= 150 ms]"
    )
    print(f"web worker peak RSS after {requests_count + 100} page views: {peak / 1024:.1f} MiB [<= 150 MB]")
    print(f"  baseline same worker right after start:          {idle / 1024:.1f} MiB")
    print(
        f"home at 10,000 mailboxes, engine unreachable ({len(homes)} views): median"
        f" {statistics.median(homes) * 1000:.1f} ms, p95 {pct(homes, 0.95) * 1000:.1f} ms [p95 <= 150 ms]"
    )
    print(
        f"  history page, engine unreachable: median {statistics.median(times) * 1000:.1f} ms,"
        f" p95 {pct(times, 0.95) * 1000:.1f} ms"
    )


if __name__ == "__main__":
    from bench import accounts_bench

    print("== config store (foundation)")
    bench_store()
    print("== web process")
    bench_web_rss()
    print("== accounts")
    accounts_bench.main()  # also sets Django up for what follows
    print("== mail container")
    from bench import container_bench

    container_bench.main()
    print("== backups (BENCH_SMALL=1 for a quick run; the default is >= 50,000 messages, >= 1 GB)")
    from bench import backups_bench

    backups_bench.main()
    print("== spam (BENCH_SMALL=1: 400 messages; the default is 2,000)")
    from bench import spam_bench

    spam_bench.main()
