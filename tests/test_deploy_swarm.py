"""Swarm (compose/stack.yml): the adapter re-creates a mail server that is a Swarm task by
`service update --force`, with the env (or image) change applied to the service's ContainerSpec.

A dedicated engine is put in swarm mode, never the shared test engine: its cache root is
``$DMS_ADMIN_TEST_CACHE/swarm`` (images survive between runs), it is started here (or a leftover
is reused), and at the end it leaves the swarm, drops the gateway bridge it made and is stopped.
It listens on a random 127.x.y.z address with free ports, and its docker_gwbridge has a private
interface name, so it does not collide with other engines on the machine. The test mail image
(and the socket proxy's) are copied over from the shared engine (`docker save | docker load`).

A single-node swarm: `network: none` is refused for services, so the mail service sits on an
overlay network like stack.yml's; the test image's daemons listen on loopback only anyway.
"""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import django_rq
import docker
import docker.errors
import pytest
from django_rq import get_worker
from docker.models.services import Service
from docker.types import RestartPolicy

from dms_admin import changes as dms_services
from dms_admin.audit import Actor
from dms_admin.configstore import ConfigStore
from dms_admin.dms import ContainerNotFound, DockerUnavailable, MailServer
from dms_admin.models import JobRun, PendingChange
from tests.deploy.images import LABELS, ensure_socket_proxy_image
from tests.deploy.proxy import proxy_switches, run_socket_proxy
from tests.realenv.containers import remove_containers_named
from tests.realenv.dockerd import Dockerd, default_cache_dir, engine_from_env, start_dockerd, stop_dockerd
from tests.realenv.mailimage import image_exists
from tests.realenv.redis_server import free_port

pytestmark = [pytest.mark.docker]

REPO = Path(__file__).resolve().parent.parent
STACK_FILE = REPO / "compose" / "stack.yml"
COMPOSE_FILE = REPO / "compose" / "docker-compose.yml"
TARGET_LABEL = "dms-swarm-test.target"
NETWORK = "dms-swarm-test"
T = TypeVar("T")


def _unavailable(reason: str) -> NoReturn:
    """Skip locally; in CI (CI=true) nothing may skip, so fail instead."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def _free_udp_port() -> int:
    """A UDP port nothing binds now, for the VXLAN data path (default 4789 would be shared)."""
    for _ in range(50):
        port = random.randint(20000, 49151)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                sock.bind(("0.0.0.0", port))  # noqa: S104 - probing, closed at once
            except OSError:
                continue
            return port
    raise RuntimeError("no free UDP port for the swarm data path")


def _copy_image(source: docker.DockerClient, target: docker.DockerClient, tag: str) -> None:
    if image_exists(target, tag):
        return
    repo = tag.split(":", 1)[0]
    for line in target.api.load_image(source.api.get_image(tag)):
        if isinstance(line, dict) and line.get("error"):
            raise RuntimeError(f"loading {tag} into the swarm engine failed: {line['error']}")
    assert image_exists(target, tag), tag
    for image in target.images.list(name=repo):  # earlier recipes' tags, loaded by earlier runs
        for old in image.tags:
            if old != tag and old.startswith(f"{repo}:"):
                with contextlib.suppress(docker.errors.APIError):
                    target.images.remove(old)


def _leave_swarm(client: docker.DockerClient) -> None:
    if client.info()["Swarm"]["LocalNodeState"] != "inactive":
        for service in client.services.list():
            with contextlib.suppress(docker.errors.APIError):
                service.remove()
        client.swarm.leave(force=True)
    # Its interface lives in the machine's network namespace: remove it with the network.
    for network in client.networks.list(names=["docker_gwbridge"]):
        with contextlib.suppress(docker.errors.APIError):
            network.remove()


@pytest.fixture(scope="module")
def swarm(docker_client: docker.DockerClient, mail_image: str) -> Iterator[Dockerd]:
    """A private engine in single-node swarm mode, with the test images; left and stopped at the end."""
    if engine_from_env() is not None:
        _unavailable("the swarm tests start their own engine; they do not put $DOCKER_HOST's in swarm mode")
    root = default_cache_dir() / "swarm"
    try:
        engine = start_dockerd(root)
    except (PermissionError, FileNotFoundError) as exc:
        _unavailable(f"cannot start the swarm test dockerd: {exc}")
    client = engine.client()
    try:
        proxy_image = ensure_socket_proxy_image(docker_client)
        for tag in (mail_image, proxy_image):
            _copy_image(docker_client, client, tag)
        _leave_swarm(client)  # a swarm left by a crashed run
        # Created before `swarm init`, so Swarm uses it: a bridge interface of our own name instead
        # of docker_gwbridge, which every other engine in swarm mode on this machine would use too.
        bridge = f"dmsgw{engine.host.rsplit('-', 1)[-1][:8]}"
        client.networks.create(
            "docker_gwbridge",
            driver="bridge",
            options={
                "com.docker.network.bridge.name": bridge,
                "com.docker.network.bridge.enable_icc": "false",
                "com.docker.network.bridge.enable_ip_masquerade": "false",
            },
        )
        address = f"127.{random.randint(1, 254)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
        port = free_port()
        client.swarm.init(
            advertise_addr=f"{address}:{port}", listen_addr=f"{address}:{port}", data_path_port=_free_udp_port()
        )
        client.networks.create(NETWORK, driver="overlay", attachable=True, labels=LABELS)
        yield engine
    finally:
        try:
            _leave_swarm(client)
            assert client.info()["Swarm"]["LocalNodeState"] == "inactive"
        finally:
            client.close()
            stop_dockerd(root)  # this engine is the swarm test's own: never left running


@pytest.fixture(scope="module")
def swarm_client(swarm: Dockerd) -> Iterator[docker.DockerClient]:
    client = swarm.client()
    try:
        yield client
    finally:
        client.close()


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 60.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:.0f} s", pytrace=False)
        time.sleep(0.5)


def env_file(config_dir: Path) -> list[str]:
    """mailserver.env as `docker stack deploy` puts an env_file into the service's spec."""
    lines = (config_dir / "mailserver.env").read_text().splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


@pytest.fixture
def mail_service(
    swarm: Dockerd, swarm_client: docker.DockerClient, mail_image: str, config_dir: Path, tmp_path: Path
) -> Iterator[tuple[Service, MailServer]]:
    """The test mail image as a Swarm service (one replica), and the adapter that finds its task by label."""
    name = f"dms-swarm-test-{secrets.token_hex(4)}"
    for folder in ("mail", "mail-state"):
        (tmp_path / folder).mkdir()
    service = swarm_client.services.create(
        mail_image,
        name=name,
        hostname="mail.example.test",
        env=[*env_file(config_dir), "DMS_CONFIG_POLL=1"],
        container_labels={TARGET_LABEL: name, "dms-admin.mailserver": "true"},
        labels=LABELS,
        mounts=[
            f"{config_dir}:/tmp/docker-mailserver:rw",
            f"{tmp_path / 'mail'}:/var/mail:rw",
            f"{tmp_path / 'mail-state'}:/var/mail-state:rw",
        ],
        networks=[NETWORK],
        restart_policy=RestartPolicy(condition="any", delay=1_000_000_000),
        stop_grace_period=10_000_000_000,
    )
    server = MailServer(label=f"{TARGET_LABEL}={name}", base_url=swarm.host, timeout=30)
    try:

        def first_task() -> bool:
            with contextlib.suppress(ContainerNotFound):
                return server.status().running
            return False

        wait_for(f"the first task of {name}", first_task)
        server.wait_healthy(timeout=60, interval=0.5)
        yield service, server
    finally:
        # Swarm stops and removes the task containers; the next test's service has its own label.
        with contextlib.suppress(docker.errors.APIError):
            service.remove()


def spec_of(service: Service) -> dict[str, Any]:
    service.reload()
    return dict(service.attrs["Spec"]["TaskTemplate"])


def test_the_adapter_knows_a_swarm_task_from_a_plain_container(
    swarm_client: docker.DockerClient, mail_service: tuple[Service, MailServer], mail_image: str
) -> None:
    service, server = mail_service
    assert server.swarm_service() == service.id
    # A plain container on the same engine in swarm mode is re-created as a container.
    name = f"dms-swarm-test-plain-{secrets.token_hex(4)}"
    try:
        swarm_client.containers.run(
            mail_image, detach=True, name=name, network_mode="none", labels={TARGET_LABEL: name, **LABELS}
        )
        assert MailServer(label=f"{TARGET_LABEL}={name}", base_url=server.base_url).swarm_service() is None
    finally:
        remove_containers_named(swarm_client, name)


def test_recreate_is_a_forced_service_update_with_the_env_change(
    swarm_client: docker.DockerClient, mail_service: tuple[Service, MailServer]
) -> None:
    service, server = mail_service
    before = server.status()
    old = swarm_client.api.inspect_container(before.id)
    force = int(spec_of(service).get("ForceUpdate") or 0)
    messages: list[str] = []
    started = time.monotonic()
    status = server.recreate(env={"ENABLE_CLAMAV": "1", "SPAM_SUBJECT": "[SPAM] "}, progress=messages.append)
    took = time.monotonic() - started
    assert any("service update --force" in m for m in messages), messages
    # A new task, so a new container, with the new env; the service spec holds the change.
    assert status.id != before.id and status.running
    new = swarm_client.api.inspect_container(status.id)
    assert "ENABLE_CLAMAV=1" in new["Config"]["Env"]
    assert "SPAM_SUBJECT=[SPAM] " in new["Config"]["Env"]  # raw value, trailing space kept
    assert all(e in new["Config"]["Env"] for e in old["Config"]["Env"])
    template = spec_of(service)
    assert template["ForceUpdate"] == force + 1
    assert {"ENABLE_CLAMAV=1", "SPAM_SUBJECT=[SPAM] "} <= set(template["ContainerSpec"]["Env"])
    assert new["Config"]["Labels"]["com.docker.swarm.service.id"] == service.id

    def mounts(info: dict[str, Any]) -> list[tuple[str, str, bool]]:
        return sorted((m["Source"], m["Destination"], m["RW"]) for m in info["Mounts"])

    assert mounts(new) == mounts(old)
    assert new["Config"]["Hostname"] == old["Config"]["Hostname"] == "mail.example.test"
    # Swarm stopped the old task's container; it is not the mail server any more.
    assert swarm_client.api.inspect_container(before.id)["State"]["Running"] is False
    healthy = server.wait_healthy(timeout=60, interval=0.5)
    assert healthy.id == status.id
    assert server.exec(["printenv", "ENABLE_CLAMAV"], timeout=10).output.strip() == "1"
    print(f"swarm re-create (service update --force until the new task runs): {took:.1f} s")
    # None removes a variable, from the spec as from the container.
    again = server.recreate(env={"ENABLE_CLAMAV": None})
    assert not any(
        e.startswith("ENABLE_CLAMAV=") for e in swarm_client.api.inspect_container(again.id)["Config"]["Env"]
    )
    assert not any(e.startswith("ENABLE_CLAMAV=") for e in spec_of(service)["ContainerSpec"]["Env"])
    assert spec_of(service)["ForceUpdate"] == force + 2
    assert server.wait_healthy(timeout=60, interval=0.5).id == again.id


def test_a_task_that_cannot_start_puts_the_previous_spec_back(
    mail_service: tuple[Service, MailServer], mail_image: str
) -> None:
    service, server = mail_service
    before = server.status()
    messages: list[str] = []
    with pytest.raises(DockerUnavailable, match="could not start the new task"):
        server.recreate(image="dms-admin-test-missing:nope", progress=messages.append)
    assert any("putting the previous spec" in m for m in messages), messages
    template = spec_of(service)
    assert template["ContainerSpec"]["Image"].split("@")[0] == mail_image
    after = server.wait_healthy(timeout=60, interval=0.5)
    assert after.image.split("@")[0] == mail_image and after.id != before.id


# --------------------------------------------------------------------------- the apply job


def run_jobs() -> None:
    get_worker("default", worker_class="rq.worker.SimpleWorker").work(burst=True)


@pytest.fixture
def swarm_settings(settings, mail_service: tuple[Service, MailServer], redis_url: str) -> MailServer:  # type: ignore[no-untyped-def]
    _, server = mail_service
    settings.DOCKER_HOST = server.base_url
    settings.DMS_CONTAINER_LABEL = server.label
    settings.RQ_QUEUES = {name: {"URL": redis_url, "DEFAULT_TIMEOUT": 600} for name in ("default", "backups")}
    settings.DMS_APPLY_HEALTH_TIMEOUT = 60
    django_rq.get_queue("default").empty()
    return server


@pytest.mark.django_db(transaction=True)
def test_the_apply_job_and_its_revert_update_the_service(
    swarm_settings: MailServer, mail_service: tuple[Service, MailServer], store: ConfigStore
) -> None:
    service, server = mail_service
    admin = Actor(name="admin")
    # A setting change: pending until the apply job re-creates, here by a service update.
    result = store.write(
        "mailserver.env",
        store.read("mailserver.env") + "POSTMASTER_ADDRESS=pm@example.test\n",
        actor="admin",
        message="pm",
    )
    assert dms_services.change_recorded(result, actor=admin, action="settings.update").pending
    run = dms_services.apply_start(actor=admin)
    run_jobs()
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert run.result["action"] == "recreate"
    assert "POSTMASTER_ADDRESS=pm@example.test" in spec_of(service)["ContainerSpec"]["Env"]
    assert server.exec(["printenv", "POSTMASTER_ADDRESS"], timeout=10).output.strip() == "pm@example.test"
    # A setting that makes DMS panic at start: the new task exits, the revert updates the service back.
    good = store.read("mailserver.env")
    result = store.write("mailserver.env", good + "LOGROTATE_INTERVAL=hourly\n", actor="admin", message="bad")
    dms_services.change_recorded(result, actor=admin, action="settings.update")
    run = dms_services.apply_start(actor=admin)
    run_jobs()
    run.refresh_from_db()
    assert run.status == "failed" and "previous configuration was put back" in run.error, run.error
    assert run.result["action"] == "reverted"
    assert store.read("mailserver.env") == good
    env = spec_of(service)["ContainerSpec"]["Env"]
    assert "POSTMASTER_ADDRESS=pm@example.test" in env and not any(e.startswith("LOGROTATE_INTERVAL=") for e in env)
    assert server.wait_healthy(timeout=60, interval=0.5).healthy
    assert "LOGROTATE_INTERVAL" not in server.env()
    assert not PendingChange.objects.exists()
    assert JobRun.objects.filter(kind="apply").count() == 2


# --------------------------------------------------------------------------- the socket proxy


@pytest.fixture
def stack_proxy(swarm: Dockerd, swarm_client: docker.DockerClient, docker_client: docker.DockerClient) -> Iterator[Any]:
    """Start haproxy with a compose file's switches in front of the swarm engine; yields a starter."""
    image = ensure_socket_proxy_image(docker_client)
    socket_path = swarm.host.removeprefix("unix://")
    names: list[str] = []

    def start(path: Path) -> str:
        name = f"dms-swarm-test-proxy-{secrets.token_hex(4)}"
        names.append(name)
        return run_socket_proxy(
            swarm_client, image, engine_socket=socket_path, switches=proxy_switches(path), name=name
        )

    try:
        yield start
    finally:
        for name in names:
            remove_containers_named(swarm_client, name)


def test_stack_proxy_switches_allow_the_service_update(
    stack_proxy: Any, mail_service: tuple[Service, MailServer]
) -> None:
    """stack.yml's proxy lets the adapter update the service; compose's refuses it with a clear reason."""
    service, direct = mail_service
    through = MailServer(label=direct.label, base_url=stack_proxy(STACK_FILE), timeout=30)
    status = through.recreate(env={"SPAM_SUBJECT": "***SPAM*** "})
    assert "SPAM_SUBJECT=***SPAM*** " in spec_of(service)["ContainerSpec"]["Env"]
    assert through.wait_healthy(timeout=60, interval=0.5).id == status.id
    compose_only = MailServer(label=direct.label, base_url=stack_proxy(COMPOSE_FILE), timeout=30)
    assert compose_only.status().running  # reading works through either
    with pytest.raises(DockerUnavailable, match="must allow INFO"):
        compose_only.recreate(env={"SPAM_SUBJECT": None})
