"""The whole stack of compose/docker-compose.yml, brought up with Debian's docker-compose on the test engine.

The project folder is laid out as README-deploy.md says (the compose file copied unchanged,
`.env` made from `.env.example`, folders and ownership of step 3, the secret file). What differs
from production is only what has to, in an override file and in `.env`:

* images: the test mail image stands in for DMS, and locally built images for redis and the
  socket proxy (no registry is reachable): DMS_IMAGE, REDIS_IMAGE, SOCKET_PROXY_IMAGE and
  DMS_ADMIN_IMAGE, variables the compose file reads;
* the socket proxy mounts the test engine's socket instead of /var/run/docker.sock;
* the mail server runs with `network_mode: none`: the stand-in's daemons listen on loopback
  only, and publishing DMS's ports 25/143/465/587/993 on the machine would collide with
  anything else using them. IMAP is checked from inside the container;
* healthchecks run every 2 s instead of every 30-60 s (same test commands), so the stack is
  healthy in seconds, not minutes.

Then: every service turns healthy; the panel signs in through admin's published port; a mailbox
made through the API logs in over IMAP in the mail container; a backup job runs in the worker
and its archive lands in the backups folder; an env change is applied by re-creating the mail
container through the socket proxy. Everything is torn down at the end, also on failure.
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import json
import os
import re
import secrets
import shutil
import subprocess
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import docker
import docker.errors
import pytest
import yaml
from docker.models.containers import Container

from conftest import TEST_HASH, TEST_PASSWORD
from tests.deploy.compose import compose_env, compose_implementations
from tests.deploy.images import ensure_admin_image, ensure_redis_image, ensure_socket_proxy_image
from tests.realenv.dockerd import Dockerd
from tests.realenv.redis_server import free_port

pytestmark = [pytest.mark.docker]

REPO = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO / "compose" / "docker-compose.yml"
ENV_EXAMPLE = REPO / "compose" / ".env.example"
PROJECT_PREFIX = "dmsstacktest"
SERVICES = ("mailserver", "socket-proxy", "redis", "admin", "worker", "cron")
HEALTH_TIMEOUT = 150.0
APP_UID = 5000
MESSAGE = b"From: a@example.test\r\nTo: user@example.test\r\nSubject: kept\r\n\r\nin the backup\r\n"
MESSAGE_PATH = "example.test/user/cur/1700000000.M1P1.mail,S=77:2,S"


def _unavailable(reason: str) -> NoReturn:
    """Skip locally; in CI (CI=true) nothing may skip, so fail instead."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


# --------------------------------------------------------------------------- the stack


@dataclass
class Stack:
    project: str
    folder: Path
    url: str
    client: docker.DockerClient
    command: list[str]
    env: dict[str, str]
    timings: dict[str, float] = field(default_factory=dict)

    def compose(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*self.command, *args], cwd=self.folder, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            pytest.fail(
                f"{' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}", pytrace=False
            )
        return result

    def container(self, service: str) -> Container:
        labels = [f"com.docker.compose.project={self.project}", f"com.docker.compose.service={service}"]
        found = self.client.containers.list(all=True, filters={"label": labels}, ignore_removed=True)
        assert len(found) == 1, f"{service}: {[c.name for c in found]}"
        return found[0]

    def logs(self, service: str) -> str:
        return self.container(service).logs().decode(errors="replace")


def _compose_command() -> list[str]:
    implementations = compose_implementations()  # Debian's docker-compose first
    if not implementations:
        _unavailable("no compose implementation (apt-get install docker-compose)")
    return implementations[0]


def _env_file(overrides: dict[str, str]) -> str:
    """`.env.example` with the test's values: a user's `.env` made from it."""
    lines: list[str] = []
    for line in ENV_EXAMPLE.read_text().splitlines():
        key = line.split("=", 1)[0]
        lines.append(f"{key}={overrides[key]}" if "=" in line and key in overrides else line)
    missing = [f"{key}={value}" for key, value in overrides.items() if f"{key}={value}" not in lines]
    return "\n".join(lines + missing) + "\n"


def _lay_out(folder: Path) -> None:
    """DMS's folders with one account and one message, and README-deploy.md step 3."""
    dms, admin = folder / "docker-data/dms", folder / "docker-data/dms-admin"
    for sub in ("config", "mail-data", "mail-state", "mail-logs"):
        (dms / sub).mkdir(parents=True)
    for sub in ("data", "backups", "redis", "secrets"):
        (admin / sub).mkdir(parents=True)
    (dms / "config/postfix-accounts.cf").write_text(f"user@example.test|{TEST_HASH}\n")
    (dms / "config/mailserver.env").write_text("OVERRIDE_HOSTNAME=mail.example.test\n")
    message = dms / "mail-data" / MESSAGE_PATH
    message.parent.mkdir(parents=True)
    message.write_bytes(MESSAGE)
    for path in [dms / "config", *(dms / "config").rglob("*"), admin / "data", admin / "backups"]:
        os.chown(path, APP_UID, APP_UID)
    for path in [dms / "mail-data", *(dms / "mail-data").rglob("*")]:
        os.chown(path, APP_UID, APP_UID)  # DMS's mail owner (docker:docker, 5000:5000)
    os.chown(admin / "redis", 999, 1000)
    secret = admin / "secrets/secret_key"
    secret.write_text(secrets.token_urlsafe(48) + "\n")
    secret.chmod(0o600)
    os.chown(secret, APP_UID, APP_UID)


def _remove_leftovers(client: docker.DockerClient, project: str | None = None) -> None:
    """Containers, networks and volumes of this (or any earlier, crashed) test stack."""

    def ours(labels: dict[str, str] | None) -> bool:
        name = (labels or {}).get("com.docker.compose.project", "")
        return name == project if project else name.startswith(PROJECT_PREFIX)

    for summary in client.api.containers(all=True, filters={"label": "com.docker.compose.project"}):
        if ours(summary.get("Labels")):
            with contextlib.suppress(docker.errors.NotFound):
                client.api.remove_container(summary["Id"], force=True, v=True)
    for network in client.api.networks(filters={"label": "com.docker.compose.project"}):
        if ours(network.get("Labels")):
            with contextlib.suppress(docker.errors.NotFound):
                client.api.remove_network(network["Id"])
    for volume in client.api.volumes(filters={"label": "com.docker.compose.project"}).get("Volumes") or []:
        if ours(volume.get("Labels")):
            with contextlib.suppress(docker.errors.NotFound):
                client.api.remove_volume(volume["Name"], force=True)


def _up_until_healthy(stack: Stack) -> None:
    """`up --detach`, watching every service's container meanwhile: when each one turns healthy."""
    started = time.monotonic()
    up = subprocess.Popen(
        [*stack.command, "up", "--detach", "--no-build"],
        cwd=stack.folder,
        env=stack.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_all_healthy(stack, started, up)
    finally:
        if up.poll() is None:
            up.kill()
        output = up.communicate()[0]
    if up.returncode != 0:
        pytest.fail(f"up exited {up.returncode}:\n{output}", pytrace=False)
    stack.timings.setdefault("up", time.monotonic() - started)
    stack.timings["healthy"] = time.monotonic() - started


def _wait_all_healthy(stack: Stack, started: float, up: subprocess.Popen[str]) -> None:
    pending = set(SERVICES)
    deadline = started + HEALTH_TIMEOUT
    while pending or up.poll() is None:
        if up.poll() is not None and up.returncode != 0:
            return  # the caller reports compose's own error
        if "up" not in stack.timings and up.poll() is not None:
            stack.timings["up"] = time.monotonic() - started
        for service in sorted(pending):
            with contextlib.suppress(AssertionError):
                container = stack.container(service)
                state = container.attrs["State"]
                health = (state.get("Health") or {}).get("Status")
                if health == "healthy":
                    stack.timings[service] = time.monotonic() - started
                    pending.discard(service)
                elif state.get("Status") in ("exited", "dead") or container.attrs.get("RestartCount", 0) > 0:
                    _not_healthy(stack, service, "exited")
        if time.monotonic() > deadline:
            what = f"not healthy after {HEALTH_TIMEOUT:.0f} s ({sorted(pending)})" if pending else "up did not end"
            _not_healthy(stack, sorted(pending or SERVICES)[0], what)
        time.sleep(0.25)


def _not_healthy(stack: Stack, service: str, what: str) -> NoReturn:
    ps = stack.compose("ps", check=False).stdout
    try:
        container = stack.container(service)
        checks = (container.attrs["State"].get("Health") or {}).get("Log") or []
        detail = "\n".join(str(c.get("Output", "")).strip() for c in checks[-3:])
        logs = container.logs(tail=60).decode(errors="replace")
    except AssertionError as exc:
        detail, logs = str(exc), ""
    pytest.fail(f"{service}: {what}\n{ps}\nlast health checks:\n{detail}\n--- logs ---\n{logs}", pytrace=False)


@pytest.fixture(scope="module")
def stack(
    docker_engine: Dockerd,
    docker_client: docker.DockerClient,
    mail_image: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    command = _compose_command()
    host = str(docker_engine.host)
    if not host.startswith("unix://"):
        _unavailable(f"the stack's socket proxy needs the engine's unix socket, not {host}")
    images = {
        "DMS_IMAGE": mail_image,
        "DMS_ADMIN_IMAGE": ensure_admin_image(docker_client)[0],
        "REDIS_IMAGE": ensure_redis_image(docker_client),
        "SOCKET_PROXY_IMAGE": ensure_socket_proxy_image(docker_client),
    }
    _remove_leftovers(docker_client)
    folder = tmp_path_factory.mktemp("stack") / "mail"
    folder.mkdir()
    shutil.copy(COMPOSE_FILE, folder / "docker-compose.yml")
    port = free_port()
    (folder / ".env").write_text(
        _env_file(
            {
                **images,
                "MAIL_HOSTNAME": "mail.example.test",
                "ADMIN_BIND": "127.0.0.1",
                "ADMIN_PORT": str(port),
                "ALLOWED_HOSTS": "127.0.0.1",
                "CSRF_TRUSTED_ORIGINS": f"http://127.0.0.1:{port}",
                "BEHIND_TLS": "0",
                "WEB_CONCURRENCY": "1",
            }
        )
    )
    fast = {"healthcheck": {"interval": "2s"}}
    override = {
        "services": {
            **{name: dict(fast) for name in SERVICES},
            "mailserver": {"network_mode": "none", **fast},
            "socket-proxy": {"volumes": [f"{host.removeprefix('unix://')}:/var/run/docker.sock:ro"], **fast},
        }
    }
    (folder / "docker-compose.test.yml").write_text(yaml.safe_dump(override, sort_keys=False))
    _lay_out(folder)
    project = f"{PROJECT_PREFIX}{secrets.token_hex(3)}"
    env = compose_env(str(folder), DOCKER_HOST=host)
    stack = Stack(
        project=project,
        folder=folder,
        url=f"http://127.0.0.1:{port}",
        client=docker_client,
        command=[*command, "--project-name", project, "-f", "docker-compose.yml", "-f", "docker-compose.test.yml"],
        env=env,
    )
    try:
        _up_until_healthy(stack)
        print(f"stack {project}: " + ", ".join(f"{k} {v:.1f} s" for k, v in stack.timings.items()))
        yield stack
    finally:
        down = time.monotonic()
        with contextlib.suppress(subprocess.TimeoutExpired):
            stack.compose("down", "--volumes", "--remove-orphans", "--timeout", "5", timeout=120, check=False)
        _remove_leftovers(docker_client, project)  # whatever `down` could not (or a re-created container)
        shutil.rmtree(folder, ignore_errors=True)
        print(f"stack {project}: down in {time.monotonic() - down:.1f} s")


# --------------------------------------------------------------------------- HTTP helpers


class Api:
    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - http on loopback only
            f"{self.base}/api/v1/{path}",
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback only
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        return status, json.loads(raw) if raw else None

    def wait_job(self, job: dict[str, Any], timeout: float = 90) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while job["status"] not in ("succeeded", "failed"):
            if time.monotonic() > deadline:
                pytest.fail(f"job {job['kind']} still {job['status']} after {timeout:.0f} s: {job}", pytrace=False)
            time.sleep(0.5)
            status, job = self.call("GET", f"jobs/{job['id']}/")
            assert status == 200, job
        return job


@pytest.fixture(scope="module")
def api(stack: Stack) -> Api:
    """A write token made with the documented command in the admin container."""
    result = stack.compose(
        "exec", "-T", "admin", "python", "manage.py", "create_api_token", "stack-test", "--scope", "write"
    )
    token = result.stdout.strip()
    assert re.fullmatch(r"dms_\S+", token), result.stdout + result.stderr
    return Api(stack.url, token)


def imap_login(container: Container, address: str, password: str) -> tuple[int, str]:
    """imaplib inside the mail container (its Dovecot listens on loopback only), like a mail client."""
    script = (
        "import imaplib, os\n"
        "m = imaplib.IMAP4('127.0.0.1', 143)\n"
        "m.login(os.environ['ADDRESS'], os.environ['PASSWORD'])\n"
        "print(m.select('INBOX'))\n"
        "m.logout()\n"
    )
    result = container.exec_run(["python3", "-c", script], environment={"ADDRESS": address, "PASSWORD": password})
    return result.exit_code, result.output.decode(errors="replace")


# --------------------------------------------------------------------------- the tests


def _compose_healthcheck(service: dict[str, Any]) -> list[str]:
    test = service["healthcheck"]["test"]
    return ["CMD-SHELL", test] if isinstance(test, str) else list(test)


def test_every_service_is_healthy_with_the_compose_files_checks(stack: Stack) -> None:
    services = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    for name in SERVICES:
        attrs = stack.container(name).attrs
        assert attrs["State"]["Health"]["Status"] == "healthy", name
        assert attrs["Config"]["Healthcheck"]["Test"] == _compose_healthcheck(services[name]), name
        mounts = [m["Destination"] for m in attrs["Mounts"]]
        assert ("/var/run/docker.sock" in mounts) == (name == "socket-proxy"), name
    for name in ("admin", "worker", "cron"):
        assert stack.container(name).attrs["Config"]["User"] == f"{APP_UID}:{APP_UID}", name
    assert stack.container("mailserver").name == "mailserver"
    print("healthy after (s): " + ", ".join(f"{n} {stack.timings[n]:.1f}" for n in SERVICES))


def test_the_panel_signs_in_through_the_published_port(stack: Stack) -> None:
    found = re.search(r"Created admin 'admin' with password: (\S+)", stack.logs("admin"))
    assert found, "the first admin's password is not in admin's log (README-deploy.md step 4)"
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(f"{stack.url}/login/", timeout=10) as response:
        page = response.read().decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert csrf, page[:500]
    form = urllib.parse.urlencode(
        {"username": "admin", "password": found[1], "csrfmiddlewaretoken": csrf[1], "next": ""}
    ).encode()
    sign_in = urllib.request.Request(f"{stack.url}/login/", data=form)  # noqa: S310 - loopback only
    with opener.open(sign_in, timeout=10) as response:
        assert response.status == 200 and urllib.parse.urlparse(response.url).path == "/", response.url
        assert "/logout/" in response.read().decode()
    # The panel's session reaches the mail container: admin -> socket proxy -> engine.
    with opener.open(f"{stack.url}/api/v1/container/", timeout=30) as response:
        container = json.loads(response.read())
    assert (container["name"], container["state"], container["health"]) == ("mailserver", "running", "healthy")
    assert container["version"] == "v15.1.0"


def test_a_mailbox_made_through_the_api_logs_in_over_imap(stack: Stack, api: Api) -> None:
    status, body = api.call("POST", "mailboxes/", {"address": "new@example.test", "password": "a-long-password-1"})
    assert status == 201, body
    assert body["change"]["apply"] == "watched"
    mailserver = stack.container("mailserver")
    deadline = time.monotonic() + 30  # DMS's change detector picks the account up
    while (login := imap_login(mailserver, "new@example.test", "a-long-password-1"))[0] != 0:
        assert time.monotonic() < deadline, login[1]
        time.sleep(0.5)
    assert "'OK'" in login[1], login[1]
    code, out = imap_login(mailserver, "new@example.test", "wrong-password")
    assert code != 0 and "AUTHENTICATIONFAILED" in out, out
    assert imap_login(mailserver, "user@example.test", TEST_PASSWORD)[0] == 0


def test_a_backup_job_runs_in_the_worker_into_the_backups_folder(stack: Stack, api: Api) -> None:
    status, policy = api.call(
        "POST", "backups/policies/", {"name": "stack", "include": ["mail", "config"], "destination": "/backups"}
    )
    assert status == 201, policy
    status, job = api.call("POST", f"backups/policies/{policy['id']}/run/")
    assert status == 202, job
    job = api.wait_job(job)
    assert job["status"] == "succeeded", job
    assert job["id"] in stack.logs("worker")  # the worker container ran it, not the web one
    status, archives = api.call("GET", "backups/archives/")
    assert status == 200 and archives["count"] == 1, archives
    archive = stack.folder / "docker-data/dms-admin/backups" / archives["results"][0]["name"]
    assert archive.is_file() and archive.stat().st_uid == APP_UID
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        message = next((n for n in names if n.endswith(MESSAGE_PATH)), None)
        assert message, names
        extracted = tar.extractfile(message)
        assert extracted is not None and extracted.read() == MESSAGE
        accounts = next((n for n in names if n.endswith("postfix-accounts.cf")), None)
        assert accounts, names


def test_an_env_change_is_applied_by_recreating_the_mail_container_through_the_proxy(stack: Stack, api: Api) -> None:
    old = stack.container("mailserver")
    status, body = api.call("PATCH", "settings/", {"POSTMASTER_ADDRESS": "pm@example.test"})
    assert status == 200, body
    assert (body["change"]["apply"], body["change"]["pending"]) == ("recreate", True)
    status, job = api.call("POST", "apply/")
    assert status == 202, job
    job = api.wait_job(job, timeout=120)
    assert job["status"] == "succeeded", job
    new = stack.container("mailserver")  # compose's labels were kept: still the project's service
    assert new.id != old.id and new.name == "mailserver"
    assert "POSTMASTER_ADDRESS=pm@example.test" in new.attrs["Config"]["Env"]
    assert new.attrs["State"]["Health"]["Status"] == "healthy"
    assert new.attrs["HostConfig"]["Binds"] == old.attrs["HostConfig"]["Binds"]


def test_the_admin_container_stays_small_after_1000_requests(stack: Stack, api: Api) -> None:
    paths = ["mailboxes/", "aliases/", "domains/", "jobs/", "history/", "settings/", "health/", "mailboxes/?search=new"]
    for number in range(1000):
        status, _ = api.call("GET", paths[number % len(paths)])
        assert status == 200, paths[number % len(paths)]
    stats = stack.container("admin").stats(stream=False, one_shot=True)["memory_stats"]
    used_mb = (stats["usage"] - stats.get("stats", {}).get("inactive_file", 0)) / 1024 / 1024
    print(f"admin container after 1,000 requests: {used_mb:.1f} MiB (what docker stats shows) [<= 150 MB]")
    assert used_mb <= 150
