"""The Docker adapter's Swarm path: the mail container is a task of a Swarm service (stack.yml).

A re-create is then `docker service update --force` with the changes applied to the service's
ContainerSpec, so Swarm replaces the task; creating a container beside Swarm's would be undone by
it (or run twice). Works on the Docker SDK's low-level client that `dms.MailServer` hands in and
imports no `docker` itself: a failed engine call is an `EngineCallFailed` (dms turns it into its
DockerUnavailable), Swarm's own refusal a `SwarmError` with the message for the page.
"""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from dms_admin.envfile import merge_env

# Labels Swarm puts on every task container.
SWARM_SERVICE_ID_LABEL = "com.docker.swarm.service.id"
SWARM_SERVICE_NAME_LABEL = "com.docker.swarm.service.name"
# How long a Swarm service update may take to have its new task running (after the old one's
# stop grace period), and how often the tasks are looked at meanwhile.
SWARM_TASK_TIMEOUT = 180.0
SWARM_POLL = 0.5
# Task errors of a container that did start (moby's executor: exit code, failed healthcheck).
_RAN_AND_ENDED = re.compile(r"non-zero exit|unhealthy")

T = TypeVar("T")


class SwarmError(Exception):
    """Swarm (or this engine's place in it) refuses; the message says why, for the page."""


class EngineCallFailed(Exception):
    """An engine call failed: `what` was being done, `cause` is the SDK's exception."""

    def __init__(self, what: str, cause: Exception) -> None:
        super().__init__(f"{what}: {cause}")
        self.what = what
        self.cause = cause


def _call(what: str, call: Callable[[], T]) -> T:
    try:
        return call()
    except Exception as exc:  # sorted by dms._swarm_errors: the SDK's exceptions are dms's to know
        raise EngineCallFailed(what, exc) from exc


def service_of(api: Any, labels: Mapping[str, str]) -> str | None:
    """The id of the Swarm service whose task a container with these labels is; None outside Swarm."""
    if not labels.get(SWARM_SERVICE_NAME_LABEL):
        return None
    info = _call("Reading the engine's Swarm state (the socket proxy must allow INFO)", api.info)
    swarm = info.get("Swarm") or {}
    if swarm.get("LocalNodeState") != "active":
        return None  # a leftover of a swarm this engine has left: a plain container now
    if not swarm.get("ControlAvailable"):
        raise SwarmError(
            f"The mail container is a task of the Swarm service {labels[SWARM_SERVICE_NAME_LABEL]}, but this "
            "engine is not a Swarm manager: dms-admin's Docker API (the socket proxy) must be a manager's."
        )
    return str(labels.get(SWARM_SERVICE_ID_LABEL) or labels[SWARM_SERVICE_NAME_LABEL])


def recreate_task(
    api: Any, service: str, *, env: Mapping[str, str | None], image: str | None, progress: Callable[[str], None]
) -> str:
    """`docker service update --force` with `env` (and `image`) applied to the ContainerSpec.

    Returns the new task's container id once it runs (Swarm reports a task running once its
    container's healthcheck passed) or once it ran and failed (the caller's health wait reports
    that, as for a container). If no new task gets to run (image missing, mounts refused…), the
    service's previous spec is put back the same way and the error raised.
    """
    current = _inspect(api, service)
    spec = current.get("Spec") or {}
    name = spec.get("Name", service)
    before = copy.deepcopy(spec.get("TaskTemplate") or {})
    template = copy.deepcopy(before)
    container_spec = template.setdefault("ContainerSpec", {})
    # Only what the service sets is in its spec (not the image's defaults): changes to absent
    # variables add them, removals of absent ones change nothing.
    container_spec["Env"] = merge_env(container_spec.get("Env") or [], env)
    if image:
        container_spec["Image"] = image
    force = int(template.get("ForceUpdate") or 0) + 1
    template["ForceUpdate"] = force
    timeout = int(container_spec.get("StopGracePeriod") or 10_000_000_000) / 1e9 + SWARM_TASK_TIMEOUT
    progress(f"Updating the Swarm service {name} (service update --force)")
    _update(api, service, current, template)
    try:
        progress("Waiting for the new task to run")
        return _wait_for_task(api, service, name, force, timeout=timeout)
    except (SwarmError, EngineCallFailed):
        progress(f"The new task did not run: putting the previous spec of {name} back")
        before["ForceUpdate"] = force + 1
        try:
            _update(api, service, _inspect(api, service), before)
            _wait_for_task(api, service, name, force + 1, timeout=timeout)
        except (SwarmError, EngineCallFailed):
            pass  # the first failure is the one to report
        raise


def _inspect(api: Any, service: str) -> dict[str, Any]:
    what = "Reading the mail server's Swarm service (the socket proxy must allow SERVICES)"
    return dict(_call(what, lambda: api.inspect_service(service)))


def _update(api: Any, service: str, current: dict[str, Any], template: dict[str, Any]) -> None:
    # Everything but the task template stays as the service has it (fetch_current_spec).
    version = current["Version"]["Index"]
    _call(
        "Updating the mail server's Swarm service",
        lambda: api.update_service(service, version, task_template=template, fetch_current_spec=True),
    )


def _wait_for_task(api: Any, service: str, name: str, force: int, *, timeout: float) -> str:
    """The container id of the task started for update number `force`, once it runs."""
    deadline = time.monotonic() + timeout
    while True:
        what = f"Reading the tasks of {name} (the socket proxy must allow TASKS)"
        tasks = _call(what, lambda: api.tasks(filters={"service": service}))
        # Tasks carry the template they were made from, ForceUpdate counter included.
        ours = [t for t in tasks if (t.get("Spec") or {}).get("ForceUpdate") == force]
        ours.sort(key=lambda t: str(t.get("CreatedAt") or ""), reverse=True)
        if found := _started(ours, name):
            return found
        if time.monotonic() > deadline:
            states = "; ".join(
                " ".join(str(s.get(k) or "") for k in ("State", "Err")).strip()
                for s in (t.get("Status") or {} for t in ours[:3])
            )
            raise SwarmError(
                f"The new task of {name} is not running after {int(timeout)} s ({states or 'no task yet'})."
            )
        time.sleep(SWARM_POLL)


def _started(tasks: list[dict[str, Any]], name: str) -> str | None:
    """The container of a task that runs, or ran and ended; SwarmError if Swarm gave up on one."""
    for task in tasks:
        status = task.get("Status") or {}
        container_id = str((status.get("ContainerStatus") or {}).get("ContainerID") or "")
        if status.get("State") == "running" and task.get("DesiredState") == "running" and container_id:
            return container_id
    # Swarm replaces a failed task with a new one at once, so look at all of this update's.
    for task in tasks:
        status = task.get("Status") or {}
        container_id = str((status.get("ContainerStatus") or {}).get("ContainerID") or "")
        if container_id and (status.get("State") == "complete" or _RAN_AND_ENDED.search(str(status.get("Err") or ""))):
            return container_id  # it ran, then exited or turned unhealthy: the health wait reports that
    for task in tasks:
        status = task.get("Status") or {}
        if status.get("State") in ("rejected", "failed"):
            reason = status.get("Err") or status.get("Message") or status.get("State")
            raise SwarmError(f"Swarm could not start the new task of {name}: {reason}.")
    return None
