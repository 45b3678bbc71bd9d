"""The Docker adapter: the only module that imports `docker`.

Finds the mail container (by name or label), reads its state and DMS version, runs commands in
it, restarts it, re-creates it with the same configuration and a changed environment, and reads
its logs and memory. Every failure to reach the engine or the container is a `DockerUnavailable`
with a message fit for a page.

Swarm: when the mail container is a task of a Swarm service (stack.yml) on an engine in Swarm
mode, a re-create is `docker service update --force` with the changes applied to the service's
ContainerSpec, so Swarm replaces the task; creating a container beside Swarm's would be undone
by it (or run twice).
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import shlex
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

import docker
import docker.errors
import requests.exceptions

from dms_admin import dms_swarm
from dms_admin.envfile import merge_env

VERSION_LABEL = "org.opencontainers.image.version"
# Kept while the new container starts, so a failed re-create can be rolled back.
OLD_SUFFIX = "-dms-admin-old"


class DockerUnavailable(Exception):
    """The engine or the mail container cannot be reached; the message says which and why.

    `reason` sorts the failure for the plain-language explanation (dms_admin.plain):
    unreachable (no answer from the engine), refused (the engine or its proxy said no),
    not-found (no such container), stopped, unhealthy, timeout, other.
    """

    def __init__(self, message: str, *, reason: str = "other") -> None:
        super().__init__(message)
        self.reason = reason


class ContainerNotFound(DockerUnavailable):
    def __init__(self, message: str, *, reason: str = "not-found") -> None:
        super().__init__(message, reason=reason)


@dataclasses.dataclass(frozen=True)
class ExecResult:
    exit_code: int
    output: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def timed_out(self) -> bool:
        return self.exit_code == 124  # coreutils `timeout`


@dataclasses.dataclass(frozen=True)
class ContainerStatus:
    id: str
    name: str
    state: str  # running, exited, restarting, …
    health: str | None  # healthy, unhealthy, starting; None without a healthcheck
    image: str
    version: str | None
    started_at: datetime | None

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def healthy(self) -> bool:
        return self.running and self.health in (None, "healthy")


@dataclasses.dataclass(frozen=True)
class MemoryStats:
    used: int
    limit: int


def _wrap(exc: Exception, what: str) -> DockerUnavailable:
    if isinstance(exc, docker.errors.NotFound):
        return ContainerNotFound(f"{what}: the mail container was not found ({exc.explanation}).")
    if isinstance(exc, docker.errors.APIError):
        return DockerUnavailable(f"{what}: the Docker engine refused ({exc.explanation}).", reason="refused")
    timed_out = isinstance(exc, requests.exceptions.Timeout | TimeoutError)
    return DockerUnavailable(
        f"{what}: the Docker engine cannot be reached ({exc}).", reason="timeout" if timed_out else "unreachable"
    )


_ERRORS = (docker.errors.DockerException, requests.exceptions.RequestException, ConnectionError, OSError)


@contextlib.contextmanager
def _swarm_errors() -> Iterator[None]:
    """dms_swarm's failures as this module's: an engine call that failed, or Swarm saying no."""
    try:
        yield
    except dms_swarm.EngineCallFailed as failed:
        if isinstance(failed.cause, _ERRORS):
            raise _wrap(failed.cause, failed.what) from failed.cause
        raise failed.cause from None
    except dms_swarm.SwarmError as exc:
        raise DockerUnavailable(str(exc)) from exc
    except _ERRORS as exc:
        raise _wrap(exc, "Reading the new task") from exc


class MailServer:
    def __init__(self, *, name: str = "mailserver", label: str = "", base_url: str = "", timeout: int = 30) -> None:
        self.name = name
        self.label = label
        self.base_url = base_url
        self.timeout = timeout
        self._client: docker.DockerClient | None = None

    # ---- finding -------------------------------------------------------------------------

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            try:
                if self.base_url:
                    self._client = docker.DockerClient(base_url=self.base_url, timeout=self.timeout)
                else:
                    self._client = docker.from_env(timeout=self.timeout)
            except _ERRORS as exc:
                raise _wrap(exc, "Connecting to Docker") from exc
        return self._client

    def _container(self) -> Any:
        try:
            if self.label:
                # ignore_removed: Swarm prunes old tasks' containers between the list and the inspects.
                found = self.client.containers.list(all=True, filters={"label": self.label}, ignore_removed=True)
                found = [c for c in found if not c.name.endswith(OLD_SUFFIX)]
                if not found:
                    raise ContainerNotFound(f"No container has the label {self.label}.")
                # Swarm keeps the stopped containers of earlier tasks (task history): the running
                # one is the mail server, else the newest.
                found.sort(key=lambda c: (c.status == "running", c.attrs.get("Created") or ""), reverse=True)
                return found[0]
            return self.client.containers.get(self.name)
        except DockerUnavailable:
            raise
        except _ERRORS as exc:
            raise _wrap(exc, "Finding the mail container") from exc

    def swarm_service(self) -> str | None:
        """The id of the Swarm service whose task the mail container is; None outside Swarm mode."""
        return self._swarm_service_of(self._container())

    def _swarm_service_of(self, container: Any) -> str | None:
        labels = container.attrs.get("Config", {}).get("Labels") or {}
        with _swarm_errors():
            return dms_swarm.service_of(self.client.api, labels)

    # ---- reading -------------------------------------------------------------------------

    def status(self) -> ContainerStatus:
        return self._status_of(self._container())

    def _status_of(self, container: Any) -> ContainerStatus:
        attrs = container.attrs
        state = attrs.get("State", {})
        health = (state.get("Health") or {}).get("Status")
        return ContainerStatus(
            id=container.id,
            name=container.name,
            state=state.get("Status", "unknown"),
            health=health,
            image=attrs.get("Config", {}).get("Image", ""),
            version=_version(attrs),
            started_at=_parse_time(state.get("StartedAt")),
        )

    def env(self) -> dict[str, str]:
        """The container's environment as created (image defaults included)."""
        items = self._container().attrs.get("Config", {}).get("Env") or []
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in items)

    def hostname(self) -> str:
        """The container's FQDN (`hostname` + `domainname` as compose sets them)."""
        config = self._container().attrs.get("Config", {})
        host, domain = config.get("Hostname", ""), config.get("Domainname", "")
        return f"{host}.{domain}" if host and domain else host

    def logs(self, *, since: datetime | None = None, tail: int | None = 500) -> str:
        container = self._container()
        try:
            raw = container.logs(since=since, tail="all" if tail is None else tail, timestamps=True)
        except _ERRORS as exc:
            raise _wrap(exc, "Reading the logs") from exc
        return raw.decode("utf-8", errors="replace")

    def memory(self) -> MemoryStats:
        container = self._container()
        try:
            # one_shot: the memory figures need no CPU sample, which would cost the page ~1-2 s.
            stats = container.stats(stream=False, one_shot=True)
        except _ERRORS as exc:
            raise _wrap(exc, "Reading memory use") from exc
        mem = stats.get("memory_stats", {})
        # Page cache is reclaimable; `docker stats` subtracts it too.
        cache = mem.get("stats", {}).get("inactive_file", 0)
        return MemoryStats(used=max(0, mem.get("usage", 0) - cache), limit=mem.get("limit", 0))

    # ---- acting --------------------------------------------------------------------------

    def exec(self, cmd: list[str], *, timeout: int = 60, user: str = "root") -> ExecResult:
        """Run `cmd` (no shell) in the container; exit code 124 when it ran out of time."""
        container = self._container()
        # The engine has no exec timeout: `timeout` inside the container stops the command itself,
        # and --kill-after makes sure a command that ignores SIGTERM ends too.
        wrapped = ["timeout", "--kill-after=5", str(timeout), *cmd]
        try:
            exit_code, output = container.exec_run(wrapped, user=user, demux=False)
        except _ERRORS as exc:
            raise _wrap(exc, f"Running {shlex.join(cmd[:2])}") from exc
        return ExecResult(
            exit_code=exit_code if exit_code is not None else -1, output=(output or b"").decode("utf-8", "replace")
        )

    def restart(self, *, timeout: int = 60) -> None:
        container = self._container()
        try:
            container.restart(timeout=timeout)
        except _ERRORS as exc:
            raise _wrap(exc, "Restarting the mail container") from exc

    def recreate(
        self,
        *,
        env: Mapping[str, str | None] | None = None,
        image: str | None = None,
        stop_timeout: int = 60,
        progress: Callable[[str], None] = lambda message: None,
    ) -> ContainerStatus:
        """Replace the container by one with the same configuration, `env` changes applied.

        `env` maps names to new values; None removes a variable. The old container is stopped and
        renamed, not removed, until the new one has started: if creating or starting fails, the
        old one is put back and started again. A Swarm task is replaced by its service instead
        (`service update --force`, see `_recreate_task`).
        """
        old = self._container()
        service = self._swarm_service_of(old)
        if service is not None:
            with _swarm_errors():
                container_id = dms_swarm.recreate_task(
                    self.client.api, service, env=env or {}, image=image, progress=progress
                )
                return self._status_of(self.client.containers.get(container_id))
        attrs = old.attrs
        name = old.name
        api = self.client.api
        old_image_config: dict[str, Any] = {}
        if image:
            # If the old image is gone, what came from it can't be told apart: all of it stays.
            with contextlib.suppress(*_ERRORS):
                old_image_config = api.inspect_image(attrs.get("Image", "")).get("Config") or {}
        config = _create_config(attrs, env or {}, image, old_image_config)
        try:
            progress("Stopping the mail container")
            api.stop(old.id, timeout=stop_timeout)
            api.rename(old.id, name + OLD_SUFFIX)
        except _ERRORS as exc:
            raise _wrap(exc, "Stopping the mail container") from exc
        try:
            progress("Creating the new mail container")
            created = api.create_container_from_config(config, name=name)
            new_id = created["Id"]
            _connect_extra_networks(api, new_id, attrs)
            progress("Starting the new mail container")
            api.start(new_id)
        except _ERRORS as exc:
            self._put_back(old.id, name)
            raise _wrap(exc, "Re-creating the mail container") from exc
        # A leftover stopped container loses nothing; its name tells the admin what it is.
        with contextlib.suppress(*_ERRORS):
            api.remove_container(old.id, v=False)
        return self.status()

    def _put_back(self, old_id: str, name: str) -> None:
        api = self.client.api
        try:
            for container in api.containers(all=True, filters={"name": f"^/{name}$"}):
                api.remove_container(container["Id"], force=True)
            api.rename(old_id, name)
            api.start(old_id)
        except _ERRORS:
            pass  # reported by the caller's exception; nothing more can be done from here

    def wait_healthy(self, *, timeout: float, interval: float = 1.0) -> ContainerStatus:
        """Wait until running and healthy (Docker health where the image defines one)."""
        deadline = time.monotonic() + timeout
        status = self.status()
        while not status.healthy:
            if status.state in ("exited", "dead"):
                raise DockerUnavailable(f"The mail container stopped ({status.state}).", reason="stopped")
            if time.monotonic() > deadline:
                raise DockerUnavailable(
                    f"The mail container is not healthy after {int(timeout)} s"
                    f" (state {status.state}, health {status.health}).",
                    reason="unhealthy",
                )
            time.sleep(interval)
            status = self.status()
        return status

    # ---- environment and images (health, fail2ban, updates) -------------------------------

    def current_image(self) -> tuple[str, ImageInfo]:
        """The image reference the container was created from, and the image it really runs."""
        container = self._container()
        ref = container.attrs.get("Config", {}).get("Image", "")
        info = self.image(container.attrs.get("Image", ""))
        if info is None:
            raise DockerUnavailable(f"The image of the mail container ({ref}) is no longer on the engine.")
        return ref, info

    def image(self, ref: str) -> ImageInfo | None:
        """A local image by reference or id; None when the engine does not have it."""
        try:
            return _image_info(self.client.api.inspect_image(ref))
        except docker.errors.ImageNotFound:
            return None
        except _ERRORS as exc:
            raise _wrap(exc, f"Reading the image {ref}") from exc

    def images_of(self, repository: str) -> list[ImageInfo]:
        """Local images with a tag of `repository` (the part of a reference before the tag)."""
        try:
            found = self.client.api.images(name=repository)
        except _ERRORS as exc:
            raise _wrap(exc, f"Listing the images of {repository}") from exc
        out = []
        for summary in found:
            info = self.image(summary["Id"])
            if info is not None:
                out.append(info)
        return out

    def registry_digest(self, ref: str) -> str:
        """The digest the registry has for `ref` now (the engine asks it)."""
        try:
            data = self.client.api.inspect_distribution(ref)
        except _ERRORS as exc:
            raise _wrap(exc, f"Asking the registry about {ref}") from exc
        return str(data.get("Descriptor", {}).get("digest", ""))

    def pull(self, ref: str) -> ImageInfo:
        repository, tag = split_reference(ref)
        try:
            self.client.api.pull(repository, tag=tag or "latest")
        except _ERRORS as exc:
            raise _wrap(exc, f"Pulling {ref}") from exc
        info = self.image(ref)
        if info is None:
            raise DockerUnavailable(f"Pulling {ref}: the engine does not have the image afterwards.")
        return info

    @contextlib.contextmanager
    def scratch_folder(self, *, copy_of: str = "") -> Iterator[str]:
        """A fresh folder under /tmp in the container (with a copy of `copy_of`'s contents), removed
        afterwards: where a candidate file is checked by the container's own tool before it is used."""
        script = 'd=$(mktemp -d) && { [ -z "$1" ] || cp -a "$1"/. "$d"/; } && echo "$d"'
        made = self.exec(["sh", "-c", script, "sh", copy_of], timeout=30)
        folder = made.output.strip().splitlines()[-1] if made.ok and made.output.strip() else ""
        if not folder.startswith("/tmp/"):
            raise DockerUnavailable(
                f"Could not make a scratch folder in the mail container: {made.output.strip()[:300]}"
            )
        try:
            yield folder
        finally:
            with contextlib.suppress(DockerUnavailable):
                self.exec(["rm", "-rf", "--", folder], timeout=30)

    def put_file(self, path: str, data: bytes, *, mode: int = 0o644) -> None:
        """Write one file into the container (its folder must exist), owned by root."""
        import io
        import tarfile

        folder, _, name = path.rpartition("/")
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            tar.addfile(info, io.BytesIO(data))
        container = self._container()
        try:
            ok = container.put_archive(folder or "/", buffer.getvalue())
        except _ERRORS as exc:
            raise _wrap(exc, f"Writing {path} in the mail container") from exc
        if not ok:
            raise DockerUnavailable(f"Writing {path} in the mail container: the engine refused.")


# Keys of `Config` (from inspect) that the create call takes back unchanged.
# Kept by hand (fmt: skip): Docker's key names packed, as inspect lists them (not one a line).
_CONFIG_KEYS = (
    "Hostname", "Domainname", "User", "Env", "Cmd", "Entrypoint", "Image", "Labels", "ExposedPorts",
    "Volumes", "WorkingDir", "Healthcheck", "StopSignal", "StopTimeout", "Tty", "OpenStdin",
    "AttachStdin", "AttachStdout", "AttachStderr", "StdinOnce", "MacAddress", "Shell",
)  # fmt: skip
# Container settings a new image supplies itself when the container kept the old image's value.
_IMAGE_DEFAULT_KEYS = (
    "Cmd",
    "Entrypoint",
    "Healthcheck",
    "WorkingDir",
    "User",
    "StopSignal",
    "Shell",
    "ExposedPorts",
    "Volumes",
)


def _create_config(
    attrs: dict[str, Any],
    env: Mapping[str, str | None],
    image: str | None,
    old_image_config: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    source = attrs.get("Config", {})
    config = {k: source[k] for k in _CONFIG_KEYS if source.get(k) is not None}
    config["Env"] = merge_env(source.get("Env") or [], env)
    if image:
        config["Image"] = image
        # A container's config includes its image's defaults (the release label, command,
        # healthcheck…). On a new image, what still equals the old image's is dropped so the new
        # image's own apply; what the admin set (compose labels, a command of their own) stays.
        old = old_image_config or {}
        config["Labels"] = {
            k: v for k, v in (source.get("Labels") or {}).items() if (old.get("Labels") or {}).get(k) != v
        }
        for key in _IMAGE_DEFAULT_KEYS:
            if key in config and old.get(key) == config[key]:
                del config[key]
    # Docker fills Hostname with the short id when none was given; don't pin the old id.
    if config.get("Hostname") == attrs.get("Id", "")[:12]:
        config.pop("Hostname")
    config["HostConfig"] = attrs.get("HostConfig", {})
    networks = attrs.get("NetworkSettings", {}).get("Networks") or {}
    mode = config["HostConfig"].get("NetworkMode", "")
    if networks and mode not in ("host", "none") and not mode.startswith("container:"):
        first = sorted(networks)[0] if mode not in networks else mode
        config["NetworkingConfig"] = {"EndpointsConfig": {first: _endpoint(networks[first])}}
    return config


def _endpoint(net: dict[str, Any]) -> dict[str, Any]:
    endpoint: dict[str, Any] = {"Aliases": net.get("Aliases"), "Links": net.get("Links")}
    if net.get("IPAMConfig"):
        endpoint["IPAMConfig"] = net["IPAMConfig"]
    return endpoint


def _connect_extra_networks(api: Any, container_id: str, attrs: dict[str, Any]) -> None:
    # The create call takes one network; the others are connected before start.
    networks = attrs.get("NetworkSettings", {}).get("Networks") or {}
    mode = attrs.get("HostConfig", {}).get("NetworkMode", "")
    if mode in ("host", "none") or len(networks) < 2:
        return
    first = sorted(networks)[0] if mode not in networks else mode
    for net_name, net in networks.items():
        if net_name != first:
            api.connect_container_to_network(container_id, net_name, aliases=net.get("Aliases"), links=net.get("Links"))


def _version(attrs: dict[str, Any]) -> str | None:
    config = attrs.get("Config", {})
    for item in config.get("Env") or []:
        if item.startswith("DMS_RELEASE="):
            return item.split("=", 1)[1] or None
    label = (config.get("Labels") or {}).get(VERSION_LABEL)
    return label or None


_DOCKER_TIME = re.compile(r"^(?P<base>[\d-]+T[\d:]+)(?:\.(?P<frac>\d+))?(?P<zone>Z|[+-]\d\d:\d\d)$")


def _parse_time(value: str | None) -> datetime | None:
    """Docker's timestamps carry nanoseconds, which fromisoformat refuses; the zero time is None."""
    match = _DOCKER_TIME.match(value or "")
    if not match or match["base"].startswith("0001-"):
        return None
    zone = "+00:00" if match["zone"] == "Z" else match["zone"]
    return datetime.fromisoformat(f"{match['base']}.{(match['frac'] or '0')[:6].ljust(6, '0')}{zone}")


def get_mailserver() -> MailServer:
    from django.conf import settings

    return MailServer(
        name=settings.DMS_CONTAINER_NAME,
        label=settings.DMS_CONTAINER_LABEL,
        base_url=settings.DOCKER_HOST,
        timeout=settings.DOCKER_TIMEOUT,
    )


@dataclasses.dataclass(frozen=True)
class ImageInfo:
    id: str
    tags: list[str]
    digests: list[str]  # `repo@sha256:…` as pulled from a registry; empty for local builds
    created: datetime | None
    version: str | None
    env: list[str]


def _image_info(attrs: dict[str, Any]) -> ImageInfo:
    return ImageInfo(
        id=attrs.get("Id", ""),
        tags=list(attrs.get("RepoTags") or []),
        digests=list(attrs.get("RepoDigests") or []),
        created=_parse_time(attrs.get("Created")),
        version=_version(attrs),
        env=list((attrs.get("Config") or {}).get("Env") or []),
    )


def split_reference(ref: str) -> tuple[str, str]:
    """`host:5000/name:tag@digest` → (`host:5000/name`, `tag`); the tag is empty when there is none."""
    name = ref.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1 :]
    return name, ""
