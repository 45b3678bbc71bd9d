"""Failures of the systems around us (Docker engine, mail container, Redis, config lock) told in
one plain sentence with the fix; the raw text stays available as "details".

Job errors are stored as text, so `explain` also takes the text of such a failure and sorts it
by the sentences our own adapters write (dms_admin.dms, the job queue).
"""

from __future__ import annotations

import dataclasses
import re

from django.conf import settings
from django.utils.translation import gettext as _


@dataclasses.dataclass(frozen=True)
class Problem:
    reason: str  # engine-unreachable | engine-refused | container-missing | container-stopped | …
    sentence: str
    fix: str
    details: str  # the raw text, shown only behind "details"

    @property
    def with_fix(self) -> str:
        return f"{self.sentence} {self.fix}".strip()


def _docker_host() -> str:
    return str(getattr(settings, "DOCKER_HOST", "") or "") or "unix:///var/run/docker.sock"


def _container_ref() -> str:
    label = getattr(settings, "DMS_CONTAINER_LABEL", "")
    return _("the label %(label)s") % {"label": label} if label else f"“{settings.DMS_CONTAINER_NAME}”"


def _redis_host() -> str:
    from urllib.parse import urlsplit

    url = str(settings.RQ_QUEUES["default"]["URL"])
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port or 6379}"


# (reason, pattern over the raw text) — first match wins; the reasons the adapter sets come first.
_TEXT_RULES = (
    ("redis", re.compile(r"redis|Error \d+ connecting to|job queue", re.IGNORECASE)),
    ("config-lock", re.compile(r"config(uration)? (folder )?lock|ConfigLockTimeout", re.IGNORECASE)),
    ("container-stopped", re.compile(r"is not running|container stopped|\bexited\b", re.IGNORECASE)),
    ("container-missing", re.compile(r"not found|no such container|No container has the label", re.IGNORECASE)),
    ("engine-timeout", re.compile(r"timed? ?out|Read timeout", re.IGNORECASE)),
    ("engine-refused", re.compile(r"engine refused|403 Client Error|Forbidden", re.IGNORECASE)),
    (
        "engine-unreachable",
        re.compile(
            r"cannot be reached|Connection aborted|Connection refused|"
            r"FileNotFoundError|No such file or directory|Error while fetching server API",
            re.IGNORECASE,
        ),
    ),
    ("container-unhealthy", re.compile(r"not healthy|unhealthy", re.IGNORECASE)),
)
_ADAPTER_REASONS = {
    "unreachable": "engine-unreachable",
    "timeout": "engine-timeout",
    "refused": "engine-refused",
    "not-found": "container-missing",
    "stopped": "container-stopped",
    "unhealthy": "container-unhealthy",
}


def explain(error: BaseException | str) -> Problem:
    text = str(error).strip()
    reason = _reason_of(error, text)
    if reason == "other":
        # Not a failure of a system around us: our own sentence (the job's error) says it best.
        first = text.splitlines()[0][:300] if text else _("The operation failed.")
        return Problem(reason, first, _("The Health page checks every part."), text)
    sentence, fix = _WORDS[reason]()
    return Problem(reason, sentence, fix, text)


def _reason_of(error: BaseException | str, text: str) -> str:
    from dms_admin.dms import DockerUnavailable

    if isinstance(error, DockerUnavailable):
        adapter = _ADAPTER_REASONS.get(error.reason)
        # "refused" may still be a stopped container (409 "is not running"): the text says.
        if adapter and adapter != "engine-refused":
            return adapter
    if not isinstance(error, str) and type(error).__module__.startswith("redis"):
        return "redis"
    for reason, pattern in _TEXT_RULES:
        if pattern.search(text):
            return reason
    return "other"


def _engine_unreachable() -> tuple[str, str]:
    return (
        _("The Docker engine cannot be reached at %(host)s, so nothing can be applied to the mail server.")
        % {"host": _docker_host()},
        _(
            "Check that DOCKER_HOST points at the Docker socket or the socket proxy and that the proxy runs"
            " (`docker compose ps socket-proxy`)."
        ),
    )


def _engine_timeout() -> tuple[str, str]:
    return (
        _("The Docker engine at %(host)s did not answer in time.") % {"host": _docker_host()},
        _("The host may be overloaded; try again, or raise DOCKER_TIMEOUT (now %(s)s s).")
        % {"s": getattr(settings, "DOCKER_TIMEOUT", 30)},
    )


def _engine_refused() -> tuple[str, str]:
    return (
        _("The Docker engine (or its socket proxy) refused the request."),
        _("Check the socket proxy's allowed calls (compose/README-deploy.md) and the engine's log."),
    )


def _container_missing() -> tuple[str, str]:
    return (
        _("No mail container matching %(ref)s exists on the Docker engine.") % {"ref": _container_ref()},
        _(
            "Set DMS_CONTAINER_NAME (or DMS_CONTAINER_LABEL) to your docker-mailserver container and start it"
            " with `docker compose up -d mailserver`."
        ),
    )


def _container_stopped() -> tuple[str, str]:
    return (
        _("The mail container %(ref)s is not running.") % {"ref": _container_ref()},
        _("See the Logs page for why it stopped; start it with `docker compose up -d mailserver`."),
    )


def _container_unhealthy() -> tuple[str, str]:
    return (
        _("The mail container did not become healthy."),
        _("Its log lines say why (Logs page); the Health page lists the services that are down."),
    )


def _redis() -> tuple[str, str]:
    return (
        _("The job queue (Redis at %(host)s) cannot be reached, so background work cannot start.")
        % {"host": _redis_host()},
        _("Start Redis (`docker compose up -d redis`) and check REDIS_URL."),
    )


def _config_lock() -> tuple[str, str]:
    return (
        _("Another change to the config folder is still being written."),
        _("Wait a few seconds and try again; if it persists, a worker may hang (Jobs page)."),
    )


_WORDS = {
    "engine-unreachable": _engine_unreachable,
    "engine-timeout": _engine_timeout,
    "engine-refused": _engine_refused,
    "container-missing": _container_missing,
    "container-stopped": _container_stopped,
    "container-unhealthy": _container_unhealthy,
    "redis": _redis,
    "config-lock": _config_lock,
}
