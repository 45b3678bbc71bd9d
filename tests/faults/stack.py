"""A dms-admin deployment in a folder, run as production runs it, for fault tests to break.

Its own SQLite database file, config folder and mail folders; the real Redis the test gives it;
real `manage.py rqworker` and gunicorn processes. The test process never opens the database
itself: it asks `tests.faults.agent` (a fresh process with the stack's settings) or the HTTP API.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import requests

from conftest import ADMIN_PASSWORD, TEST_HASH
from tests.realenv.containers import wait_for
from tests.realenv.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]


_SERIAL = itertools.count()


def seed_config(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "postfix-accounts.cf").write_text(f"user@example.test|{TEST_HASH}\n")
    (folder / "postfix-virtual.cf").write_text("# aliases\nalias@example.test user@example.test\n")
    (folder / "mailserver.env").write_text("OVERRIDE_HOSTNAME=mail.example.test\nENABLE_SPAMASSASSIN=1\n")


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


@dataclass
class Stack:
    root: Path
    redis_url: str
    config_dir: Path | None = None
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    web_url: str = ""
    _token: str = ""

    def __post_init__(self) -> None:
        self.config_dir = self.config_dir or self.root / "config"
        for name in ("data", "mail", "mail-state", "backups", "gate", "logs"):
            (self.root / name).mkdir(parents=True, exist_ok=True)
        if not (self.config_dir / "postfix-accounts.cf").exists():
            seed_config(self.config_dir)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DMS_", "DJANGO_"))}
        self.env.update(
            DJANGO_SETTINGS_MODULE="dms_admin.settings_test",
            DMS_ADMIN_DATA_DIR=str(self.root / "data"),
            DMS_CONFIG_DIR=str(self.config_dir),
            DMS_MAIL_DIR=str(self.root / "mail"),
            DMS_STATE_DIR=str(self.root / "mail-state"),
            BACKUP_ROOTS=str(self.root / "backups"),
            REDIS_URL=self.redis_url,
            DOCKER_HOST="unix:///nonexistent/docker.sock",
            DMS_WATCH_TIMEOUT="2",
            ALLOWED_HOSTS="127.0.0.1,localhost",
            PYTHONUNBUFFERED="1",
        )
        self.manage("migrate", "--noinput", "-v0")

    @property
    def gate(self) -> Path:
        return self.root / "gate"

    # ---- processes -------------------------------------------------------------------------

    def manage(self, *args: str, timeout: float = 120) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    def agent(self, command: str, **payload: Any) -> Any:
        done = subprocess.run(
            [sys.executable, "-m", "tests.faults.agent", command, json.dumps(payload)],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"agent {command} failed:\n{done.stderr[-3000:]}"
        return json.loads(done.stdout.strip().splitlines()[-1])

    def _start(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = (self.root / "logs" / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self.procs.append(proc)
        return proc

    def log(self, name: str) -> str:
        return (self.root / "logs" / f"{name}.log").read_text(errors="replace")

    def start_worker(self, name: str = "worker") -> subprocess.Popen[bytes]:
        """`manage.py rqworker default backups`, as `make run` starts it; returns once it listens."""
        worker_name = f"faults-{name}-{os.getpid()}-{next(_SERIAL)}"
        proc = self._start(name, [sys.executable, "manage.py", "rqworker", "default", "backups", "--name", worker_name])
        client = redis.Redis.from_url(self.redis_url)
        try:
            wait_for(
                lambda: client.exists(f"rq:worker:{worker_name}") or proc.poll() is not None, 30, what="the worker"
            )
        finally:
            client.close()
        assert proc.poll() is None, self.log(name)
        return proc

    def start_web(self, name: str = "web") -> subprocess.Popen[bytes]:
        port = free_port()
        self.web_url = f"http://127.0.0.1:{port}"
        args = [str(ROOT / ".venv/bin/gunicorn"), "dms_admin.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1"]
        proc = self._start(name, [*args, "--threads", "2", "--timeout", "60"])

        def up() -> bool:
            assert proc.poll() is None, self.log(name)
            try:
                return requests.get(f"{self.web_url}/login/", timeout=5).status_code == 200
            except requests.RequestException:
                return False

        wait_for(up, 60, what="gunicorn")
        return proc

    @staticmethod
    def kill(proc: subprocess.Popen[bytes] | int) -> None:
        """SIGKILL a process this stack started (or a child of one: a work horse), and reap it."""
        pid = proc if isinstance(proc, int) else proc.pid
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        if not isinstance(proc, int):
            proc.wait(timeout=30)

    def stop(self, keep: int = 0) -> None:
        """Kill the processes started after the first `keep` (all by default), with their children."""
        for proc in self.procs[keep:]:
            if proc.poll() is None:
                for child in children(proc.pid):  # a work horse runs in its own process group
                    self.kill(child)
                self.kill(proc)
        del self.procs[keep:]

    # ---- the API, as a client sees it ---------------------------------------------------------

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        if not self._token:
            self._token = self.agent("token")
        headers = {"Authorization": f"Bearer {self._token}", **kwargs.pop("headers", {})}
        return requests.request(method, f"{self.web_url}/api/v1{path}", headers=headers, timeout=30, **kwargs)

    def row(self, run_id: str) -> dict[str, Any]:
        """The job's row read straight from the SQLite file (milliseconds: to catch a job midway)."""
        db = sqlite3.connect(f"file:{self.root / 'data' / 'db.sqlite3'}?mode=ro", uri=True, timeout=10)
        try:
            db.row_factory = sqlite3.Row
            found = db.execute(
                "SELECT status, progress, message, error FROM dms_admin_jobrun WHERE id = ?", (run_id.replace("-", ""),)
            ).fetchone()
        finally:
            db.close()
        return dict(found) if found else {}

    def horse(self, worker: subprocess.Popen[bytes]) -> int:
        """The pid of the work horse the worker forked for its current job."""
        return int(wait_for(lambda: children(worker.pid) and children(worker.pid)[0], 30, what="a work horse"))

    def panel(self) -> requests.Session:
        """A browser-like session signed in as the superadmin the API token belongs to."""
        if not self._token:
            self._token = self.agent("token")
        session = requests.Session()
        login = session.get(f"{self.web_url}/login/", timeout=30)
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text)
        assert csrf, login.text[:500]
        data = {"username": "admin", "password": ADMIN_PASSWORD, "csrfmiddlewaretoken": csrf[1]}
        home = session.post(f"{self.web_url}/login/", data=data, headers={"Referer": f"{self.web_url}/login/"})
        assert home.status_code == 200 and home.url == f"{self.web_url}/", home.text[:500]
        return session

    def job(self, run_id: str) -> dict[str, Any]:
        response = self.api("GET", f"/jobs/{run_id}/")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def wait_job(self, run_id: str, *statuses: str, timeout: float = 60) -> dict[str, Any]:
        return dict(
            wait_for(
                lambda: (job := self.agent("run", run_id=run_id))["status"] in statuses and job,
                timeout,
                what=f"job {statuses}",
            )
        )
