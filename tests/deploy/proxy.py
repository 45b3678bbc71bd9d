"""The Docker socket proxy of a compose file, run in front of a test engine (HAProxy, local image)."""

from __future__ import annotations

from pathlib import Path

import docker
import pytest
import yaml

from tests.deploy.images import LABELS
from tests.realenv.containers import ContainerNotHealthy, wait_healthy
from tests.realenv.redis_server import free_port


def proxy_switches(compose_file: Path) -> dict[str, str]:
    """The socket-proxy service's switches (CONTAINERS=1, POST=1, …) as that file sets them."""
    env = yaml.safe_load(compose_file.read_text())["services"]["socket-proxy"]["environment"]
    return {str(k): str(v) for k, v in env.items()}


def run_socket_proxy(
    client: docker.DockerClient, image: str, *, engine_socket: str, switches: dict[str, str], name: str
) -> str:
    """Start the proxy on a free loopback port, hardened as in compose; its tcp:// address once healthy."""
    port = free_port()
    container = client.containers.run(
        image,
        detach=True,
        name=name,
        network_mode="host",
        labels=LABELS,
        environment={**switches, "BIND_CONFIG": f"127.0.0.1:{port}", "LOG_LEVEL": "info"},
        volumes={
            engine_socket: {"bind": "/var/run/docker.sock", "mode": "rw"},
            "/etc/localtime": {"bind": "/etc/localtime", "mode": "ro"},
        },
        read_only=True,
        tmpfs={"/run": "", "/tmp": ""},
        security_opt=["no-new-privileges:true"],
        healthcheck={
            "test": ["CMD-SHELL", f"wget -q -O /dev/null http://127.0.0.1:{port}/_ping || exit 1"],
            "interval": 500_000_000,
            "timeout": 3_000_000_000,
            "retries": 3,
        },
    )
    try:
        wait_healthy(container, 30)
    except ContainerNotHealthy as exc:
        pytest.fail(str(exc), pytrace=False)
    return f"tcp://127.0.0.1:{port}"
