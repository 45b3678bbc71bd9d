"""Start (or reuse) a private ``dockerd`` for the tests, or honour ``DOCKER_HOST``.

The engine keeps its data root in a persistent cache directory so that the
test images survive between runs.  Its unix socket and exec root live under
``/run`` because unix socket paths must stay below ~100 characters and the
cache directory can be arbitrarily deep.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import docker

DOCKERD_BINARY = "dockerd"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0
CACHE_ENV = "DMS_ADMIN_TEST_CACHE"
DEFAULT_CACHE = "~/.cache/dms-admin-test"


def default_cache_dir() -> Path:
    """The persistent cache root: ``$DMS_ADMIN_TEST_CACHE`` or ``~/.cache/dms-admin-test``."""
    return Path(os.environ.get(CACHE_ENV, DEFAULT_CACHE)).expanduser()


@dataclass(frozen=True)
class DockerdPaths:
    """Every path a test dockerd for a given cache ``root`` uses."""

    root: Path
    data_root: Path
    pidfile: Path
    log: Path
    socket: Path
    exec_root: Path

    @classmethod
    def for_root(cls, root: Path) -> DockerdPaths:
        root = root.expanduser().resolve()
        # One engine per cache root; the short hash keeps socket paths short.
        tag = hashlib.sha256(str(root).encode()).hexdigest()[:10]
        return cls(
            root=root,
            data_root=root / "data",
            pidfile=root / "dockerd.pid",
            log=root / "dockerd.log",
            socket=Path(f"/run/dms-admin-test-{tag}.sock"),
            exec_root=Path(f"/run/dms-admin-test-exec-{tag}"),
        )


def ping_unix_socket(path: Path, timeout: float = 2.0) -> bool:
    """True when the Docker API on unix socket ``path`` answers ``GET /_ping`` with OK."""
    if not path.exists():
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            data = b""
            while chunk := sock.recv(4096):
                data += chunk
    except OSError:
        return False
    return data.startswith(b"HTTP/1.") and b" 200 " in data.split(b"\r\n", 1)[0] and data.endswith(b"OK")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours still "exists"; treat it as dead.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _our_dockerd_pid(paths: DockerdPaths) -> int | None:
    """PID from the pidfile, but only if that process is a dockerd using our pidfile.

    The check guards against signalling an unrelated process that reused a
    stale PID.
    """
    try:
        pid = int(paths.pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    if not _pid_alive(pid):
        return None
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    if not argv or os.path.basename(argv[0].decode(errors="replace")) != DOCKERD_BINARY:
        return None
    if str(paths.pidfile).encode() not in b" ".join(argv):
        return None
    return pid


def _log_tail(path: Path | None, lines: int = 30) -> str:
    if path is None:
        return "(no log)"
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class Dockerd:
    """A Docker engine the tests talk to.

    ``owned`` is True only when this process started the daemon; ``stop()``
    never touches a daemon that was reused or came from ``DOCKER_HOST``.
    """

    host: str
    owned: bool = False
    pid: int | None = None
    paths: DockerdPaths | None = None
    from_env: bool = False
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def client(self, timeout: int = 300) -> docker.DockerClient:
        """A client for this engine (API version negotiated with the daemon)."""
        if self.from_env:
            # from_env also honours DOCKER_TLS_VERIFY / DOCKER_CERT_PATH.
            return docker.from_env(timeout=timeout)
        return docker.DockerClient(base_url=self.host, timeout=timeout)

    def ping(self) -> bool:
        if self.paths is not None:
            return ping_unix_socket(self.paths.socket)
        try:
            client = self.client(timeout=5)
        except docker.errors.DockerException:
            return False
        try:
            return bool(client.ping())
        except docker.errors.DockerException:
            return False
        finally:
            client.close()

    def stop(self) -> None:
        """SIGTERM the daemon we started and wait up to 20 s (then SIGKILL). Idempotent."""
        if not self.owned or self.pid is None:
            return
        _terminate(self.pid, self.process)
        self.owned = False


def _terminate(pid: int, process: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM ``pid`` (dockerd stops its containers first), SIGKILL after STOP_TIMEOUT."""
    if process is not None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def engine_from_env() -> Dockerd | None:
    """The engine named by ``DOCKER_HOST``, or None when the variable is unset.

    Such an engine is never started nor stopped by the tests.
    """
    host = os.environ.get("DOCKER_HOST")
    if not host:
        return None
    return Dockerd(host=host, owned=False, from_env=True)


def find_running_dockerd(root: Path) -> Dockerd | None:
    """A live test dockerd for cache ``root`` that answers ping, else None (not owned)."""
    paths = DockerdPaths.for_root(root)
    if not ping_unix_socket(paths.socket):
        return None
    return Dockerd(host=f"unix://{paths.socket}", owned=False, pid=_our_dockerd_pid(paths), paths=paths)


def start_dockerd(root: Path) -> Dockerd:
    """Start a private dockerd whose state lives under ``root`` — or reuse a live one.

    Raises PermissionError when not root, FileNotFoundError when dockerd is
    missing (the fixtures turn both into a skip) and RuntimeError, with the
    tail of the daemon's log, when it does not come up within 30 s.
    """
    paths = DockerdPaths.for_root(root)
    reused = find_running_dockerd(root)
    if reused is not None:
        return reused
    if os.geteuid() != 0:
        raise PermissionError("starting dockerd needs root (or set DOCKER_HOST to an existing engine)")
    if shutil.which(DOCKERD_BINARY) is None:
        raise FileNotFoundError(f"{DOCKERD_BINARY} not found on PATH (apt-get install docker.io)")
    paths.root.mkdir(parents=True, exist_ok=True)
    # Two runs starting at once (e.g. `prepare` and pytest) must not race for
    # the pidfile and socket: the loser waits and then reuses the winner's daemon.
    with (paths.root / "dockerd.start.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            reused = find_running_dockerd(root)
            if reused is not None:
                return reused
            return _start_locked(paths)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _start_locked(paths: DockerdPaths) -> Dockerd:
    # A dockerd may be alive on our pidfile but still starting (or wedged).
    pid = _our_dockerd_pid(paths)
    if pid is not None:
        if _wait_for_ping(paths, pid=pid, process=None):
            return Dockerd(host=f"unix://{paths.socket}", owned=False, pid=pid, paths=paths)
        raise RuntimeError(
            f"a dockerd (pid {pid}) is running on {paths.pidfile} but does not answer on "
            f"{paths.socket}; stop it with `python -m tests.realenv stop`.\n"
            f"Last lines of {paths.log}:\n{_log_tail(paths.log)}"
        )

    binary = shutil.which(DOCKERD_BINARY)
    if binary is None:
        raise FileNotFoundError(f"{DOCKERD_BINARY} not found on PATH")
    paths.data_root.mkdir(parents=True, exist_ok=True)
    # Leftovers of a daemon that died hard; dockerd refuses a live pidfile only.
    paths.socket.unlink(missing_ok=True)
    cmd = [
        binary,
        "--storage-driver=overlay2",
        "--iptables=false",
        "--ip6tables=false",
        "--bridge=none",
        f"--data-root={paths.data_root}",
        f"--exec-root={paths.exec_root}",
        "-H",
        f"unix://{paths.socket}",
        f"--pidfile={paths.pidfile}",
    ]
    with paths.log.open("wb") as log:
        # A new session: the daemon must outlive `python -m tests.realenv prepare`
        # and must not get the terminal's Ctrl-C meant for pytest.
        process = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    if not _wait_for_ping(paths, pid=process.pid, process=process):
        _terminate(process.pid, process)
        raise RuntimeError(
            f"dockerd did not come up within {START_TIMEOUT:.0f} s ({' '.join(cmd)}).\n"
            f"Last lines of {paths.log}:\n{_log_tail(paths.log)}"
        )
    return Dockerd(host=f"unix://{paths.socket}", owned=True, pid=process.pid, paths=paths, process=process)


def _wait_for_ping(paths: DockerdPaths, pid: int, process: subprocess.Popen[bytes] | None) -> bool:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if ping_unix_socket(paths.socket):
            return True
        if process is not None and process.poll() is not None:
            return False
        if process is None and not _pid_alive(pid):
            return False
        time.sleep(0.2)
    return False


def stop_dockerd(root: Path) -> int | None:
    """Stop the test dockerd for cache ``root`` left running by ``prepare``.

    Returns the PID that was stopped, or None when none was running.
    """
    paths = DockerdPaths.for_root(root)
    pid = _our_dockerd_pid(paths)
    if pid is None:
        return None
    _terminate(pid, None)
    return pid
