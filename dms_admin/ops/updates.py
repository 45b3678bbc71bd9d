"""Updates of the mail image: what runs, what newer image is here or in the registry, and the
update job (the FAQ's "pull && stop && rm && start", done by re-creating the container).
"""

from __future__ import annotations

import dataclasses

from django.conf import settings

from dms_admin.audit import Actor, audit_record
from dms_admin.changes import ApplyReverted, last_log_lines
from dms_admin.dms import DockerUnavailable, ImageInfo, MailServer, get_mailserver, split_reference
from dms_admin.envfile import env_to_restore
from dms_admin.errors import FieldError
from dms_admin.jobqueue import JobConflict, JobReport, job_enqueue, job_running
from dms_admin.models import JobRun

# Jobs that re-create the mail container must not overlap.
RECREATING_KINDS = ("apply", "update")


@dataclasses.dataclass(frozen=True)
class Candidate:
    ref: str  # the tag to update to
    image: ImageInfo


@dataclasses.dataclass(frozen=True)
class UpdateInfo:
    ref: str  # the reference the container was created from
    current: ImageInfo  # the image it runs
    newer: list[Candidate]  # local images of the same repository, newest first
    registry: str  # what the registry check found; empty when not asked
    registry_newer: bool  # the registry has another image under `ref`: pulling it is an update

    @property
    def repository(self) -> str:
        return split_reference(self.ref)[0]


def update_check(*, registry: bool = False, mailserver: MailServer | None = None) -> UpdateInfo:
    """DockerUnavailable when the engine or the container cannot be reached; registry trouble is a message."""
    mailserver = mailserver or get_mailserver()
    ref, current = mailserver.current_image()
    repository = split_reference(ref)[0]
    newer = []
    for image in mailserver.images_of(repository):
        if image.id == current.id or not (image.created and current.created and image.created > current.created):
            continue
        tags = [t for t in image.tags if split_reference(t)[0] == repository]
        if tags:
            # The container's own tag first: that is the image `docker compose pull` moved it to.
            newer.append(Candidate(ref if ref in tags else tags[0], image))
    newer.sort(key=lambda c: c.image.created or current.created, reverse=True)  # type: ignore[arg-type,return-value]
    message, registry_newer = _registry_check(mailserver, ref, current) if registry else ("", False)
    return UpdateInfo(ref, current, newer, message, registry_newer)


def _registry_check(mailserver: MailServer, ref: str, current: ImageInfo) -> tuple[str, bool]:
    try:
        digest = mailserver.registry_digest(ref)
    except DockerUnavailable as exc:
        return f"Cannot check for updates: {exc}", False
    if any(d.endswith("@" + digest) for d in current.digests):
        return f"Up to date: the registry's {ref} is the image running.", False
    return f"A newer {ref} is in the registry ({digest[:19]}…): updating pulls it.", True


def update_start(*, image: str, actor: Actor, mailserver: MailServer | None = None) -> JobRun:
    """Queue the update job: pull `image` if needed, re-create the container with it, wait until healthy."""
    mailserver = mailserver or get_mailserver()
    image = image.strip()
    ref, _ = mailserver.current_image()
    if not image or split_reference(image)[0] != split_reference(ref)[0]:
        raise FieldError("image", f"Update only to an image of {split_reference(ref)[0]} (the one in use).")
    busy = JobRun.objects.filter(kind__in=RECREATING_KINDS, status__in=[JobRun.Status.QUEUED, JobRun.Status.RUNNING])
    if busy.exists():
        raise JobConflict("An apply or update job is already queued or running.")
    audit_record(actor=actor, action="update.start", object=image, detail=f"from {ref}")
    return job_enqueue(
        kind="update", func="dms_admin.ops.updates.update_job", args=(image,), actor=actor, exclusive=True
    )


def update_job(run_id: str, image: str) -> None:
    with job_running(run_id) as report:
        update_apply(report, image=image)


def update_apply(report: JobReport, *, image: str, mailserver: MailServer | None = None) -> None:
    mailserver = mailserver or get_mailserver()
    old_ref, old = mailserver.current_image()
    if mailserver.image(image) is None:
        report.progress(5, f"Pulling {image}")
        mailserver.pull(image)
    # The container's env holds the old image's defaults too (PATH, DMS_RELEASE…); keeping them
    # would pin them over the new image's. Drop exactly those; what the admin set stays.
    defaults = dict(item.split("=", 1) for item in old.env if "=" in item)
    env = {key: None for key, value in mailserver.env().items() if defaults.get(key) == value}
    before = mailserver.env()
    report.progress(10, f"Re-creating the mail container with {image}")
    mailserver.recreate(env=env, image=image, progress=lambda message: report.progress(None, message))
    report.progress(50, "Waiting for the mail container to be healthy")
    try:
        status = mailserver.wait_healthy(timeout=settings.DMS_APPLY_HEALTH_TIMEOUT)
    except DockerUnavailable as failure:
        # The same health gate as an apply: go back to the image and env that ran before.
        logs = last_log_lines(mailserver)
        report.progress(60, f"{image} did not become healthy: going back to {old_ref}")
        mailserver.recreate(env=env_to_restore(before, mailserver.env()), image=old_ref)
        mailserver.wait_healthy(timeout=settings.DMS_APPLY_HEALTH_TIMEOUT)
        report.set_result(action="reverted", image=image, previous=old_ref, log=logs)
        raise ApplyReverted(
            f"{image} did not become healthy ({failure}); {old_ref} runs again.\nLast log lines:\n{logs}"
        ) from failure
    report.set_result(
        action="update", image=image, previous=old_ref, container=status.id[:12], version=status.version or ""
    )
    report.progress(100, f"Updated to {image} ({status.version or 'version unknown'}).")
