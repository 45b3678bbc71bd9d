"""Helpers for test containers of the mail image (plain functions, no pytest)."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

import docker
from docker.models.containers import Container

TEST_LABEL = "dms-admin.test"
# The pid of the test process that made a container: start-up cleanup leaves the containers of
# another test run that is still alive (two sessions may share one test engine).
OWNER_LABEL = "dms-admin.test.owner"
T = TypeVar("T")


class ContainerNotHealthy(RuntimeError):
    """The container did not become healthy; the message carries its logs."""


def container_logs(container: Container, tail: int = 200) -> str:
    try:
        raw: bytes = container.logs(tail=tail)
        return raw.decode(errors="replace")
    except docker.errors.APIError as exc:
        return f"(logs unavailable: {exc})"


def wait_healthy(container: Container, timeout: float = 60.0) -> float:
    """Wait until Docker reports the container healthy; return the seconds it took.

    Fails early when the container exits or restarts (the restart policy would
    otherwise hide a crash loop until the timeout).
    """
    started = time.monotonic()
    deadline = started + timeout
    state: dict[str, object] = {}
    while time.monotonic() < deadline:
        container.reload()
        state = container.attrs["State"]
        health = state.get("Health") or {}
        if isinstance(health, dict) and health.get("Status") == "healthy":
            return time.monotonic() - started
        if state.get("Status") in ("exited", "dead") or int(container.attrs.get("RestartCount", 0)) > 0:
            raise ContainerNotHealthy(_describe(container, "exited during start-up"))
        time.sleep(0.25)
    raise ContainerNotHealthy(_describe(container, f"not healthy after {timeout:.0f} s"))


def _describe(container: Container, what: str) -> str:
    state = container.attrs.get("State", {})
    health = state.get("Health") or {}
    checks = "\n".join(
        f"  exit {entry.get('ExitCode')}: {str(entry.get('Output', '')).strip()}"
        for entry in (health.get("Log") or [])[-3:]
    )
    return (
        f"container {container.name} {what} (status={state.get('Status')}, "
        f"exit={state.get('ExitCode')}, health={health.get('Status')})\n"
        f"last health checks:\n{checks or '  (none)'}\n"
        f"--- docker logs ---\n{container_logs(container)}"
    )


def remove_containers_named(client: docker.DockerClient, prefix: str) -> list[str]:
    """Force-remove every container whose name starts with ``prefix``.

    A re-create by the dashboard may leave the container under a derived name
    (e.g. a ``<name>-old`` rename), hence the prefix match.
    """
    removed: list[str] = []
    # The name filter is a substring/regex match; the prefix check is exact.
    for container in client.containers.list(all=True, filters={"name": prefix}):
        if container.name.startswith(prefix):
            _force_remove(container)
            removed.append(container.name)
    return removed


def remove_leftover_test_containers(client: docker.DockerClient) -> list[str]:
    """Force-remove containers left by crashed runs (label ``dms-admin.test=1``).

    A container whose owner label names a live process other than this one is another run's.
    """
    removed: list[str] = []
    for container in client.containers.list(all=True, filters={"label": f"{TEST_LABEL}=1"}):
        if _owned_by_another_live_run(container):
            continue
        _force_remove(container)
        removed.append(container.name)
    return removed


def owner_labels() -> dict[str, str]:
    return {TEST_LABEL: "1", OWNER_LABEL: str(os.getpid())}


def _owned_by_another_live_run(container: Container) -> bool:
    owner = (container.labels or {}).get(OWNER_LABEL, "")
    if not owner.isdigit() or int(owner) == os.getpid():
        return False
    try:
        os.kill(int(owner), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _force_remove(container: Container) -> None:
    try:
        container.remove(force=True, v=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as exc:
        # "removal already in progress" is fine; anything else is worth a retry.
        if "already in progress" not in str(exc):
            time.sleep(0.5)
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True, v=True)


def exec_checked(container: Container, cmd: str | Sequence[str], user: str = "") -> str:
    """``docker exec`` that raises with the output when the exit code is not 0."""
    result = container.exec_run(cmd if isinstance(cmd, str) else list(cmd), user=user)
    output = (result.output or b"").decode(errors="replace")
    if result.exit_code != 0:
        raise AssertionError(f"`{cmd}` in {container.name} exited {result.exit_code}:\n{output}")
    return output


def wait_for(predicate: Callable[[], T], timeout: float, interval: float = 0.2, what: str = "condition") -> T:
    """Poll ``predicate`` until it returns a truthy value; raise TimeoutError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} not reached within {timeout:.0f} s")
        time.sleep(interval)
