"""`make run` on a fresh data folder: it serves the login page, and the home page after login."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.docker  # slow: starts gunicorn, a worker, rqcron and redis
def test_make_run_serves_login_and_home(tmp_path: Path, redis_url: str) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "SECRET_KEY", "DMS_CONFIG_DIR")}
    env.update(
        DMS_ADMIN_DATA_DIR=str(tmp_path / "var"),
        PORT=str(port),
        REDIS_URL=redis_url,
        DOCKER_HOST="unix:///nonexistent.sock",
    )
    log = open(tmp_path / "run.log", "w+")  # noqa: SIM115
    proc = subprocess.Popen(
        ["make", "run"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(f"{base}/login/", timeout=10).status_code == 200:
                    break
            except requests.RequestException:  # starting: refused, or slow to answer
                pass
            assert proc.poll() is None, (tmp_path / "run.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "run.log").read_text()
            time.sleep(0.5)
        output = (tmp_path / "run.log").read_text()
        assert f"open http://127.0.0.1:{port}/" in output
        password = re.search(r"Created admin 'admin' with password: (\S+)", output)
        assert password, output
        session = requests.Session()
        login = session.get(f"{base}/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text)
        assert token
        home = session.post(
            f"{base}/login/",
            data={"username": "admin", "password": password[1], "csrfmiddlewaretoken": token[1]},
            headers={"Referer": f"{base}/login/"},
        )
        assert home.status_code == 200 and home.url == f"{base}/", home.text[:500]
        assert "Mail server" in home.text and "Recent changes" in home.text
        assert session.get(f"{base}/static/css/app.css").status_code == 200
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
