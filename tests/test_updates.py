"""Updates against the real engine: a newer local image of the same repository is found, and the
update job re-creates the container with it (the test engine reaches no registry).
"""

from __future__ import annotations

import io

import django_rq
import pytest
from django.urls import reverse
from django_rq import get_worker

from dms_admin.audit import Actor
from dms_admin.dms import get_mailserver, split_reference
from dms_admin.errors import FieldError
from dms_admin.jobqueue import JobConflict
from dms_admin.models import AuditEntry, JobRun
from dms_admin.ops import updates
from tests.ops_helpers import UNREACHABLE, api_client, use_real_engine


def test_references_split_into_repository_and_tag() -> None:
    assert split_reference("ghcr.io/docker-mailserver/docker-mailserver:15.1.0") == (
        "ghcr.io/docker-mailserver/docker-mailserver",
        "15.1.0",
    )
    assert split_reference("localhost:5000/dms") == ("localhost:5000/dms", "")
    assert split_reference("mailserver/docker-mailserver:edge@sha256:abc") == ("mailserver/docker-mailserver", "edge")


@pytest.fixture
def real(settings, docker_engine, mail_container, redis_url):  # type: ignore[no-untyped-def]
    use_real_engine(settings, docker_engine, mail_container)
    settings.RQ_QUEUES = {name: {"URL": redis_url, "DEFAULT_TIMEOUT": 600} for name in ("default", "backups")}
    settings.DMS_APPLY_HEALTH_TIMEOUT = 60
    django_rq.get_queue("default").empty()
    return mail_container


@pytest.fixture
def newer_image(docker_client, mail_image):  # type: ignore[no-untyped-def]
    """`<test image repository>:newer`: the test image with a later build date and version."""
    repository = split_reference(mail_image)[0]
    tag = f"{repository}:newer"
    dockerfile = f"FROM {mail_image}\nENV DMS_RELEASE=v15.2.0\nLABEL org.opencontainers.image.version=15.2.0\n"
    docker_client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True)
    try:
        yield tag
    finally:
        docker_client.images.remove(tag, force=True)


@pytest.mark.docker
@pytest.mark.django_db(transaction=True)
def test_a_newer_local_image_is_found_and_the_update_recreates_with_it(
    admin_client, real, newer_image, mail_image, docker_client
) -> None:  # type: ignore[no-untyped-def]
    info = updates.update_check()
    assert info.ref == mail_image and info.current.version == "v15.1.0"
    assert [c.ref for c in info.newer] == [newer_image] and info.newer[0].image.version == "v15.2.0"
    page = admin_client.get(reverse("updates")).content.decode()
    assert newer_image in page and "v15.2.0" in page and mail_image in page

    old = get_mailserver().status()
    assert admin_client.get(reverse("update-start"), {"image": newer_image}).status_code == 200  # confirm only
    response = admin_client.post(reverse("update-start"), {"image": newer_image})
    run = JobRun.objects.get(kind="update")
    assert response["Location"] == reverse("job-detail", args=[run.id])
    get_worker("default", worker_class="rq.worker.SimpleWorker").work(burst=True)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert run.result["image"] == newer_image and run.result["previous"] == mail_image

    new = get_mailserver().status()
    assert new.id != old.id and new.name == old.name and new.healthy
    assert new.image == newer_image and new.version == "v15.2.0"  # the new image's env, not the old one's
    inspect = docker_client.api.inspect_container(new.id)
    assert "DMS_CONFIG_POLL=1" in inspect["Config"]["Env"]  # what the container was given stays
    labels = inspect["Config"]["Labels"]
    assert labels["org.opencontainers.image.version"] == "15.2.0"  # the new image's label, not the old one's
    assert labels["dms-admin.test"] == "1"  # a label the container was given stays
    assert AuditEntry.objects.filter(action="update.start", object=newer_image).exists()
    assert updates.update_check().newer == []


@pytest.mark.docker
@pytest.mark.django_db
def test_no_registry_is_reported_as_cannot_check(admin_client, real) -> None:  # type: ignore[no-untyped-def]
    info = updates.update_check(registry=True)
    assert info.registry.startswith("Cannot check for updates: ") and not info.registry_newer
    page = admin_client.get(reverse("updates"), {"check": "1"}).content.decode()
    assert "Cannot check for updates" in page
    body = api_client().get("/api/v1/updates/", {"check": "1"}).json()
    assert body["registry"].startswith("Cannot check for updates") and body["current"]["version"] == "v15.1.0"


@pytest.mark.docker
@pytest.mark.django_db
def test_only_an_image_of_the_same_repository_and_one_job_at_a_time(real) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(FieldError, match="Update only to an image of"):
        updates.update_start(image="evil.example/backdoor:latest", actor=Actor("a"))
    response = api_client("write").post("/api/v1/updates/", {"image": "busybox:latest"}, format="json")
    assert response.status_code == 400 and "image" in response.json()["fields"]
    JobRun.objects.create(kind="apply", status="running")
    ref = get_mailserver().status().image
    with pytest.raises(JobConflict):
        updates.update_start(image=ref, actor=Actor("a"))
    assert not JobRun.objects.filter(kind="update").exists()


@pytest.mark.django_db
def test_engine_unreachable_the_page_says_so(settings, admin_client) -> None:  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = UNREACHABLE
    page = admin_client.get(reverse("updates"))
    assert page.status_code == 200 and "Mail container unreachable" in page.content.decode()
    response = admin_client.post(reverse("update-start"), {"image": "x:y"}, follow=True)
    assert "cannot be reached" in response.content.decode() and not JobRun.objects.exists()
    assert api_client().get("/api/v1/updates/").status_code == 503


@pytest.mark.docker
@pytest.mark.django_db(transaction=True)
def test_an_image_that_does_not_start_is_rolled_back(real, mail_image, docker_client, settings) -> None:  # type: ignore[no-untyped-def]
    repository = split_reference(mail_image)[0]
    broken = f"{repository}:broken"
    # Like a release whose start-up panics: the test image stops on a bad LOGROTATE_INTERVAL.
    dockerfile = f"FROM {mail_image}\nENV LOGROTATE_INTERVAL=hourly DMS_RELEASE=v15.3.0\n"
    docker_client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=broken, rm=True)
    settings.DMS_APPLY_HEALTH_TIMEOUT = 12
    try:
        run = updates.update_start(image=broken, actor=Actor("admin"))
        get_worker("default", worker_class="rq.worker.SimpleWorker").work(burst=True)
        run.refresh_from_db()
        assert run.status == "failed" and "runs again" in run.error and "LOGROTATE_INTERVAL" in run.error
        status = get_mailserver().status()
        assert status.healthy and status.image == mail_image and status.version == "v15.1.0"
    finally:
        docker_client.images.remove(broken, force=True)
