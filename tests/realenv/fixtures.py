"""pytest plugin: real redis, a real Docker engine and DMS-like mail containers.

Load it from the root conftest with ``pytest_plugins = ["tests.realenv.fixtures"]``
(or ``-p tests.realenv.fixtures``).  ``mail_container`` needs a ``config_dir``
fixture (a folder with a DMS config holding at least one account), which the
root conftest or the test module provides.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import docker
import pytest
from docker.models.containers import Container

from tests.realenv.containers import (
    ContainerNotHealthy,
    owner_labels,
    remove_containers_named,
    remove_leftover_test_containers,
    wait_healthy,
)
from tests.realenv.dockerd import Dockerd, default_cache_dir, engine_from_env, start_dockerd
from tests.realenv.mailimage import ensure_mail_image
from tests.realenv.redis_server import free_port, start_redis

HEALTH_TIMEOUT = 60.0

MAIL_CONTAINER_LABELS = {
    **owner_labels(),
    "com.docker.compose.project": "dmstest",
    "com.docker.compose.service": "mailserver",
}


def _unavailable(reason: str) -> NoReturn:
    """Skip locally; in CI (CI=true) nothing may skip, so fail instead."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``$REDIS_URL`` if set, else a private redis-server for the session."""
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    server = start_redis(tmp_path_factory.mktemp("redis"))
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[Dockerd]:
    """The engine of ``$DOCKER_HOST``, else the cached test dockerd (started or reused).

    Only a daemon started here is stopped at the end of the session.
    """
    engine = engine_from_env()
    if engine is None:
        try:
            engine = start_dockerd(default_cache_dir())
        except (PermissionError, FileNotFoundError) as exc:
            _unavailable(f"cannot start a test dockerd: {exc}")
    try:
        if not engine.ping():
            _unavailable(f"Docker engine {engine.host} does not answer")
        client = engine.client()
        try:
            remove_leftover_test_containers(client)
        finally:
            client.close()
        yield engine
    finally:
        engine.stop()


@pytest.fixture(scope="session")
def docker_client(docker_engine: Dockerd) -> Iterator[docker.DockerClient]:
    client = docker_engine.client()
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="session")
def mail_image(docker_client: docker.DockerClient) -> str:
    """Tag of the DMS-like test mail image (built on first use, then cached)."""
    return ensure_mail_image(docker_client)


@pytest.fixture
def mail_container(
    docker_client: docker.DockerClient, mail_image: str, config_dir: Path, tmp_path: Path
) -> Iterator[Container]:
    """A healthy DMS-like mail container using ``config_dir`` as /tmp/docker-mailserver."""
    yield from _run_mail_container(docker_client, mail_image, config_dir, tmp_path, network_mode="none", env={})


@dataclasses.dataclass(frozen=True)
class ServedMailContainer:
    container: Container
    imap_port: int
    smtp_port: int


@pytest.fixture
def mail_container_served(
    docker_client: docker.DockerClient, mail_image: str, config_dir: Path, tmp_path: Path
) -> Iterator[ServedMailContainer]:
    """Like mail_container, on the host network with IMAP and SMTP on free loopback ports."""
    imap_port, smtp_port = free_port(), free_port()
    env = {"TEST_IMAP_PORT": str(imap_port), "TEST_SMTP_PORT": str(smtp_port)}
    for container in _run_mail_container(docker_client, mail_image, config_dir, tmp_path, network_mode="host", env=env):
        yield ServedMailContainer(container, imap_port, smtp_port)


def _run_mail_container(
    docker_client: docker.DockerClient,
    mail_image: str,
    config_dir: Path,
    tmp_path: Path,
    *,
    network_mode: str,
    env: dict[str, str],
) -> Iterator[Container]:
    name = f"dms-test-{secrets.token_hex(4)}"
    mail_dir = tmp_path / "mail"
    state_dir = tmp_path / "mail-state"
    mail_dir.mkdir(exist_ok=True)
    state_dir.mkdir(exist_ok=True)
    try:
        container = docker_client.containers.run(
            mail_image,
            detach=True,
            name=name,
            hostname="mail.example.test",
            network_mode=network_mode,
            volumes={
                str(config_dir): {"bind": "/tmp/docker-mailserver", "mode": "rw"},
                str(mail_dir): {"bind": "/var/mail", "mode": "rw"},
                str(state_dir): {"bind": "/var/mail-state", "mode": "rw"},
            },
            labels=MAIL_CONTAINER_LABELS,
            environment={"DMS_CONFIG_POLL": "1", **env},
            cap_add=["NET_ADMIN"],
            restart_policy={"Name": "unless-stopped"},
        )
        try:
            wait_healthy(container, HEALTH_TIMEOUT)
        except ContainerNotHealthy as exc:
            pytest.fail(str(exc), pytrace=False)
        yield container
    finally:
        # Also catches a container that was created but failed to start, and
        # copies/renames made by a re-create.
        remove_containers_named(docker_client, name)
