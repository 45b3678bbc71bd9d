"""Helpers shared by the health, logs, fail2ban and update tests (not fixtures: plain functions)."""

from __future__ import annotations

import base64
import shlex

from rest_framework.test import APIClient

from access.tokens import token_create
from dms_admin.audit import Actor

UNREACHABLE = "unix:///nonexistent/docker.sock"


def api_client(scope: str = "read") -> APIClient:
    _, secret = token_create(name=f"ops-{scope}", scope=scope, actor=Actor("test"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def write_log(container, *lines: str) -> None:  # type: ignore[no-untyped-def]
    """Write lines to supervisord's stdout (PID 1), which is what `docker logs` shows."""
    script = "".join(f"printf '%s\\n' {shlex.quote(line)} > /proc/1/fd/1; " for line in lines)
    result = container.exec_run(["sh", "-c", script])
    assert result.exit_code == 0, result.output


def put_file(container, path: str, text: str, mode: str = "0644") -> None:  # type: ignore[no-untyped-def]
    encoded = base64.b64encode(text.encode()).decode()
    result = container.exec_run(["sh", "-c", f"echo {encoded} | base64 -d > {path} && chmod {mode} {path}"])
    assert result.exit_code == 0, result.output


def use_real_engine(settings, docker_engine, container) -> None:  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = docker_engine.host
    settings.DMS_CONTAINER_NAME = container.name
    settings.DMS_CONTAINER_LABEL = ""
