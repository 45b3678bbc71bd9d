"""Start a throw-away Debian ``redis-server`` on a free loopback port."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

REDIS_BINARY = "redis-server"
START_TIMEOUT = 10.0


def free_port(host: str = "127.0.0.1") -> int:
    """Ask the kernel for a free TCP port on ``host``.

    There is an unavoidable race between closing this socket and the server
    binding the port; ``start_redis`` retries on a port clash.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class RedisServer:
    """A running ``redis-server`` subprocess."""

    port: int
    workdir: Path
    process: subprocess.Popen[bytes] = field(repr=False)
    log_path: Path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        """Terminate the server (SIGTERM, then SIGKILL after 10 s). Idempotent."""
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def _log_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start_redis(workdir: Path, attempts: int = 3, port: int | None = None) -> RedisServer:
    """Start ``redis-server`` on 127.0.0.1 with persistence off; wait for PING.

    ``workdir`` becomes redis' ``--dir`` and holds its log file. ``port``: that port (a restart
    of a stopped server, where clients expect it), else a free one.
    """
    binary = shutil.which(REDIS_BINARY)
    if binary is None:
        raise FileNotFoundError(f"{REDIS_BINARY} not found on PATH (apt-get install redis-server)")
    workdir.mkdir(parents=True, exist_ok=True)
    last_error = ""
    fixed = port
    for _ in range(attempts):
        port = fixed or free_port()
        log_path = workdir / f"redis-{port}.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [
                    binary,
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(workdir),
                    "--daemonize",
                    "no",
                    "--protected-mode",
                    "yes",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        server = RedisServer(port=port, workdir=workdir, process=process, log_path=log_path)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break  # exited: most likely the port was taken in the meantime
            try:
                client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)
                try:
                    if client.ping():
                        return server
                finally:
                    client.close()
            except redis.exceptions.ConnectionError:
                pass
            time.sleep(0.05)
        server.stop()
        last_error = _log_tail(log_path)
    raise RuntimeError(f"redis-server did not answer PING after {attempts} attempts:\n{last_error}")
