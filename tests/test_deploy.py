"""Deployment: the image (compose/Dockerfile), the compose file, and the Docker socket proxy.

With the real test engine: the image is built from a local Debian bookworm base (cached by a
hash of its context, see tests/deploy/images.py), run on the host network on a free loopback
port, and checked from outside (healthz, login page, static CSS, Docker healthcheck) and inside
(non-root, `check --deploy`). The socket proxy is Debian's haproxy with the allow-rules of
tecnativa/docker-socket-proxy and the switches of compose/docker-compose.yml, in front of the
engine's socket; the project's own Docker adapter talks through it.
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
import yaml
from docker.models.containers import Container

from dms_admin.dms import MailServer
from tests.deploy.compose import compose_env, compose_implementations
from tests.deploy.images import LABELS, ensure_admin_image, ensure_base_image, ensure_socket_proxy_image
from tests.deploy.proxy import proxy_switches, run_socket_proxy
from tests.realenv.containers import ContainerNotHealthy, remove_containers_named, wait_healthy
from tests.realenv.redis_server import free_port

pytestmark = [pytest.mark.docker]

REPO = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO / "compose" / "docker-compose.yml"
STACK_FILE = REPO / "compose" / "stack.yml"
APP_UID = 5000
PREFIX = "dms-deploy-test"


# --------------------------------------------------------------------------- helpers


def http_get(url: str, host: str = "127.0.0.1", timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers={"Host": host})  # noqa: S310 - http on loopback only
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - loopback only
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def wait_http_ok(url: str, container: Container, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            status, _, body = http_get(url)
            if status == 200:
                return
            last = (status, body[:200])
        except OSError as exc:
            last = exc
        container.reload()
        if container.status in ("exited", "dead"):
            break
        time.sleep(0.5)
    logs = container.logs(tail=100).decode(errors="replace")
    pytest.fail(f"{url} did not answer 200 ({last!r}); container {container.status}\n{logs}", pytrace=False)


def exec_out(container: Container, cmd: list[str], **kwargs: Any) -> tuple[int, str]:
    result = container.exec_run(cmd, **kwargs)
    return result.exit_code, result.output.decode(errors="replace")


def compose_doc() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(doc, dict)
    return doc


# --------------------------------------------------------------------------- the image


@pytest.fixture(scope="module")
def admin_image(docker_client: docker.DockerClient) -> str:
    started = time.monotonic()
    tag, built = ensure_admin_image(docker_client)
    how = f"built in {built:.0f} s" if built else "cached"
    print(f"admin image {tag}: {how} ({time.monotonic() - started:.0f} s)")
    return tag


@pytest.fixture(scope="module")
def deploy_config_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DMS config folder owned by the image's user, as README-deploy.md asks."""
    folder = tmp_path_factory.mktemp("deploy") / "config"
    folder.mkdir()
    (folder / "postfix-accounts.cf").write_text("")
    (folder / "mailserver.env").write_text("OVERRIDE_HOSTNAME=mail.example.test\n")
    for path in [folder, *folder.iterdir()]:
        shutil.chown(path, APP_UID, APP_UID)
    return folder


@pytest.fixture(scope="module")
def admin_container(
    docker_client: docker.DockerClient, admin_image: str, deploy_config_dir: Path, redis_url: str
) -> Iterator[tuple[Container, int]]:
    port = free_port()
    name = f"{PREFIX}-admin-{secrets.token_hex(4)}"
    try:
        container = docker_client.containers.run(
            admin_image,
            detach=True,
            name=name,
            network_mode="host",
            labels=LABELS,
            environment={
                "SECRET_KEY": secrets.token_urlsafe(50),
                "DMS_CONFIG_DIR": "/dms/config",
                "ALLOWED_HOSTS": "127.0.0.1",
                "REDIS_URL": redis_url,
                "PORT": str(port),
                "BIND_HOST": "127.0.0.1",
                "WEB_CONCURRENCY": "1",
            },
            volumes={str(deploy_config_dir): {"bind": "/dms/config", "mode": "rw"}},
            # The image's healthcheck every 30 s is right for production, slow for a test.
            healthcheck={
                "test": ["CMD", "python", "/app/compose/healthcheck.py", "web"],
                "interval": 1_000_000_000,
                "timeout": 5_000_000_000,
                "retries": 3,
                "start_period": 60_000_000_000,
            },
        )
        yield container, port
    finally:
        remove_containers_named(docker_client, name)


def test_image_labels_user_and_healthcheck(docker_client: docker.DockerClient, admin_image: str) -> None:
    config = docker_client.images.get(admin_image).attrs["Config"]
    assert config["User"] == f"{APP_UID}:{APP_UID}"
    assert config["Healthcheck"]["Test"][:2] == ["CMD", "python"]
    assert "/app/compose/healthcheck.py" in config["Healthcheck"]["Test"]
    assert config["Entrypoint"] == ["/app/compose/entrypoint.sh"]


def test_runs_as_non_root(admin_container: tuple[Container, int]) -> None:
    container, _ = admin_container
    code, out = exec_out(container, ["id", "-u"])
    assert code == 0 and out.strip() != "0", out
    assert out.strip() == str(APP_UID)
    # Nothing the app ships is writable by it, only /data and the mounted config folder.
    code, out = exec_out(container, ["sh", "-c", "test -w /app/manage.py && echo writable || echo ro"])
    assert out.strip() == "ro"
    code, out = exec_out(container, ["sh", "-c", "test -w /data && test -w /dms/config && echo ok"])
    assert out.strip() == "ok"


def test_healthz_and_docker_healthcheck(admin_container: tuple[Container, int]) -> None:
    container, port = admin_container
    wait_http_ok(f"http://127.0.0.1:{port}/healthz", container)
    status, _, body = http_get(f"http://127.0.0.1:{port}/healthz")
    assert status == 200 and b'"ok"' in body
    try:
        wait_healthy(container, 60)
    except ContainerNotHealthy as exc:
        pytest.fail(str(exc), pytrace=False)


def test_login_page_with_static_css(admin_container: tuple[Container, int]) -> None:
    container, port = admin_container
    wait_http_ok(f"http://127.0.0.1:{port}/healthz", container)
    status, _, body = http_get(f"http://127.0.0.1:{port}/login/")
    assert status == 200, body[:500]
    page = body.decode()
    stylesheets = re.findall(r'<link[^>]+rel="stylesheet"[^>]+href="([^"]+\.css)"', page) + re.findall(
        r'<link[^>]+href="([^"]+\.css)"[^>]+rel="stylesheet"', page
    )
    assert stylesheets, page[:1000]
    for href in stylesheets:
        # Collected at build with hashed names (manifest storage), served by whitenoise.
        assert re.search(r"\.[0-9a-f]{12}\.css$", href), href
        status, headers, css = http_get(f"http://127.0.0.1:{port}{href}")
        assert status == 200, href
        assert headers.get("Content-Type", "").startswith("text/css")
        assert "max-age=315360000" in headers.get("Cache-Control", ""), headers
        assert len(css) > 100
    # The unversioned name is not served forever-cached: whitenoise only immutably caches hashes.
    status, _, _ = http_get(f"http://127.0.0.1:{port}/static/does-not-exist.css")
    assert status == 404


def test_check_deploy_is_clean(admin_container: tuple[Container, int]) -> None:
    container, _ = admin_container
    env = {
        "SECRET_KEY": secrets.token_urlsafe(60),
        "ALLOWED_HOSTS": "mail.example.com",
        "BEHIND_TLS": "1",
        "DMS_CONFIG_DIR": "/dms/config",
    }
    code, out = exec_out(
        container, ["python", "manage.py", "check", "--deploy", "--fail-level", "WARNING"], environment=env
    )
    assert code == 0, out
    assert "System check identified no issues" in out, out


def test_secret_key_file(admin_container: tuple[Container, int]) -> None:
    """SECRET_KEY_FILE works inside the image, and without any secret the process refuses to start."""
    container, _ = admin_container
    script = "umask 077; head -c 48 /dev/urandom | base64 > /data/sk; SECRET_KEY= SECRET_KEY_FILE=/data/sk "
    code, out = exec_out(
        container,
        ["sh", "-c", script + "python manage.py check --deploy --fail-level WARNING"],
        environment={"ALLOWED_HOSTS": "mail.example.com", "BEHIND_TLS": "1"},
    )
    assert code == 0, out
    code, out = exec_out(container, ["sh", "-c", "SECRET_KEY= python manage.py check"])
    assert code != 0 and "SECRET_KEY" in out, out


# --------------------------------------------------------------------------- the compose file

APP_SERVICES = ("admin", "worker", "cron")
DOCKER_SERVICES = ("admin", "worker")


def _volumes(service: dict[str, Any]) -> list[str]:
    return [v if isinstance(v, str) else f"{v.get('source')}:{v.get('target')}" for v in service.get("volumes", [])]


@pytest.mark.parametrize("path", [COMPOSE_FILE, STACK_FILE], ids=["compose", "stack"])
def test_compose_invariants(path: Path) -> None:
    if not path.exists():
        pytest.fail(f"{path} is missing", pytrace=False)
    doc = yaml.safe_load(path.read_text())
    services = doc["services"]
    assert {"mailserver", "admin", "worker", "cron", "redis", "socket-proxy"} <= set(services)
    for name, service in services.items():
        volumes = _volumes(service)
        assert "healthcheck" in service, f"{name}: no healthcheck"
        if path == COMPOSE_FILE:
            assert service.get("restart") in ("always", "unless-stopped"), f"{name}: no restart policy"
        else:
            assert service.get("deploy", {}).get("restart_policy"), f"{name}: no restart policy"
        assert "/etc/localtime:/etc/localtime:ro" in volumes, f"{name}: /etc/localtime not mounted read-only"
        if name != "socket-proxy":
            assert not any("docker.sock" in v for v in volumes), f"{name} mounts the Docker socket"
    for name in DOCKER_SERVICES:
        env = services[name]["environment"]
        assert env["DOCKER_HOST"] == "tcp://socket-proxy:2375", name
        assert "docker-api" in services[name]["networks"]
    assert "DOCKER_HOST" not in services["cron"]["environment"]
    assert "docker-api" not in services["cron"]["networks"]
    assert set(services["socket-proxy"]["networks"]) == {"docker-api"}
    assert doc["networks"]["docker-api"].get("internal") is True
    users = [name for name, s in services.items() if name in APP_SERVICES and not s.get("user")]
    assert not users, f"{users} would run as the image default, say so explicitly"
    for name in APP_SERVICES:
        assert services[name]["environment"]["SECRET_KEY_FILE"].startswith("/run/secrets/")
        assert "SECRET_KEY" not in services[name]["environment"]
    assert services["mailserver"]["labels"]["dms-admin.mailserver"] == "true"
    assert services["worker"]["command"] == [
        "python",
        "manage.py",
        "rqworker",
        "default",
        "backups",
        "--with-scheduler",
    ]
    assert services["cron"]["command"] == ["python", "manage.py", "rqcron", "dms_admin.cron"]


def test_proxy_switches_allow_only_what_we_use() -> None:
    switches = proxy_switches(COMPOSE_FILE)
    on = {k for k, v in switches.items() if v == "1"}
    assert on == {"CONTAINERS", "EXEC", "IMAGES", "DISTRIBUTION", "POST", "PING", "VERSION"}
    for off in ("NETWORKS", "VOLUMES", "SECRETS", "CONFIGS", "SWARM", "BUILD", "COMMIT", "PLUGINS", "SYSTEM"):
        assert switches[off] == "0", off


def test_env_example_documents_every_setting() -> None:
    settings_py = (REPO / "dms_admin" / "settings.py").read_text()
    names = set(re.findall(r"(?:env(?:bool|int|secret|paths)?|language_code)\(\"([A-Z_]+)\"", settings_py))
    example = (REPO / "compose" / ".env.example").read_text()
    missing = sorted(n for n in names if not re.search(rf"^#? ?{n}\b", example, re.M))
    assert not missing, f"compose/.env.example does not document {missing}"


@pytest.mark.parametrize("source", [COMPOSE_FILE, STACK_FILE], ids=["compose", "stack"])
def test_docker_compose_config_validates(tmp_path: Path, source: Path) -> None:
    """`docker-compose config` (and `docker compose config`) accept the file as a user sets it up."""
    implementations = compose_implementations()
    if not implementations:
        pytest.skip("no compose implementation (apt-get install docker-compose)")
    project = tmp_path / "mail" / "compose"
    project.mkdir(parents=True)
    shutil.copy(source, project / "docker-compose.yml")
    shutil.copy(REPO / "compose" / ".env.example", project / ".env")
    (project / "docker-data/dms/config").mkdir(parents=True)
    (project / "docker-data/dms/config/mailserver.env").write_text("")
    (project / "docker-data/dms-admin/secrets").mkdir(parents=True)
    (project / "docker-data/dms-admin/secrets/secret_key").write_text("x" * 50)
    env = compose_env(str(tmp_path))
    for cmd in implementations:
        command = [*cmd, "-f", "docker-compose.yml", "config"]
        result = subprocess.run(command, cwd=project, capture_output=True, text=True, timeout=60, env=env)
        assert result.returncode == 0, f"{' '.join(cmd)}: {result.stderr}{result.stdout}"
        resolved = yaml.safe_load(result.stdout)
        assert resolved["services"]["admin"]["environment"]["DOCKER_HOST"] == "tcp://socket-proxy:2375"
        assert resolved["services"]["mailserver"]["image"] == "ghcr.io/docker-mailserver/docker-mailserver:latest"


# --------------------------------------------------------------------------- the socket proxy


@pytest.fixture(scope="module")
def engine_socket(docker_engine: Any) -> Path:
    host = str(docker_engine.host)
    if not host.startswith("unix://"):
        pytest.skip(f"the proxy test needs the engine's unix socket, not {host}")
    return Path(host.removeprefix("unix://"))


@pytest.fixture(scope="module")
def socket_proxy(docker_client: docker.DockerClient, engine_socket: Path) -> Iterator[str]:
    """tcp://127.0.0.1:<port>: haproxy with compose's switches in front of the test engine."""
    image = ensure_socket_proxy_image(docker_client)
    name = f"{PREFIX}-proxy-{secrets.token_hex(4)}"
    try:
        yield run_socket_proxy(
            docker_client, image, engine_socket=str(engine_socket), switches=proxy_switches(COMPOSE_FILE), name=name
        )
    finally:
        remove_containers_named(docker_client, name)


@pytest.fixture
def target(docker_client: docker.DockerClient) -> Iterator[Container]:
    """A small container for the adapter to find, exec in and restart (stands in for DMS)."""
    name = f"{PREFIX}-target-{secrets.token_hex(4)}"
    try:
        yield docker_client.containers.run(
            ensure_base_image(docker_client),
            ["sleep", "infinity"],
            detach=True,
            name=name,
            network_mode="none",
            labels={**LABELS, "dms-deploy-test.target": name},
            init=True,
        )
    finally:
        remove_containers_named(docker_client, name)


def test_adapter_works_through_the_proxy(socket_proxy: str, target: Container) -> None:
    server = MailServer(label=f"dms-deploy-test.target={target.name}", base_url=socket_proxy, timeout=30)
    status = server.status()
    assert status.running
    result = server.exec(["sh", "-c", "echo through-the-proxy; id -u"])
    assert result.ok and "through-the-proxy" in result.output, result
    server.put_file("/tmp/hello.txt", b"hello\n")
    assert server.exec(["cat", "/tmp/hello.txt"]).output.strip() == "hello"
    # The target only sleeps: give its log a line (PID 1's stdout is the container's), then read it back.
    assert server.exec(["sh", "-c", "echo log-through-the-proxy > /proc/1/fd/1"]).ok
    [line] = server.logs(tail=10).splitlines()
    assert line.endswith(" log-through-the-proxy") and line[:4].isdigit()  # `docker logs -t`: timestamp first
    server.restart(timeout=10)
    assert server.status().running
    assert server.current_image()[0]


@pytest.mark.parametrize(
    ("what", "call"),
    [
        ("volumes", lambda c: c.volumes.list()),
        ("networks", lambda c: c.api.networks()),
        ("info", lambda c: c.info()),
        ("secrets", lambda c: c.api.get(c.api._url("/secrets"))),
        ("swarm", lambda c: c.api.get(c.api._url("/swarm"))),
        ("plugins", lambda c: c.api.get(c.api._url("/plugins"))),
        ("system df", lambda c: c.df()),
        ("build", lambda c: c.api.post(c.api._url("/build"))),
        ("commit", lambda c: c.api.post(c.api._url("/commit"))),
        ("create volume", lambda c: c.api.post(c.api._url("/volumes/create"), data="{}")),
    ],
)
def test_forbidden_calls_are_refused(socket_proxy: str, what: str, call: Any) -> None:
    client = docker.DockerClient(base_url=socket_proxy, timeout=10)
    try:
        response = call(client)
        status = getattr(response, "status_code", None)
        if status is None:
            pytest.fail(f"{what} was allowed through the proxy: {response!r:.200}")
        assert status == 403, f"{what}: HTTP {status}"
    except docker.errors.APIError as exc:
        assert exc.status_code == 403, f"{what}: {exc}"
    finally:
        client.close()
