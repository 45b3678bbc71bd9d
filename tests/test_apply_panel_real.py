"""Settings changed in the panel, applied with the real engine, seen in Chromium."""

from __future__ import annotations

import django_rq
import pytest
from django_rq import get_worker

from conftest import sign_in
from dms_admin.dms import get_mailserver
from dms_admin.models import JobRun

pytestmark = [pytest.mark.docker, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _real_services(settings, docker_engine, mail_container, redis_url):  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = docker_engine.host
    settings.DMS_CONTAINER_NAME = mail_container.name
    settings.RQ_QUEUES = {name: {"URL": redis_url, "DEFAULT_TIMEOUT": 600} for name in ("default", "backups")}
    settings.DMS_APPLY_HEALTH_TIMEOUT = 60
    django_rq.get_queue("default").empty()


def test_an_env_var_changed_in_the_panel_is_applied_with_everything_else_kept(
    admin_client, docker_engine, mail_container
) -> None:  # type: ignore[no-untyped-def]
    client = docker_engine.client()
    old = client.api.inspect_container(mail_container.id)
    admin_client.post("/settings/", {"POSTMASTER_ADDRESS": "boss@example.test"})
    response = admin_client.post("/apply/")
    run = JobRun.objects.get(kind="apply")
    assert response["Location"] == f"/jobs/{run.id}/"
    get_worker("default", worker_class="rq.worker.SimpleWorker").work(burst=True)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    new = client.api.inspect_container(get_mailserver().status().id)
    assert "POSTMASTER_ADDRESS=boss@example.test" in new["Config"]["Env"]
    for key in ("Labels", "Hostname", "Image", "ExposedPorts"):
        assert new["Config"].get(key) == old["Config"].get(key), key
    for key in ("Binds", "PortBindings", "CapAdd", "RestartPolicy", "NetworkMode"):
        assert new["HostConfig"].get(key) == old["HostConfig"].get(key), key
    page = admin_client.get(f"/jobs/{run.id}/")
    assert b"succeeded" in page.content and b"Applied 1 change" in page.content


def test_the_apply_flow_in_chromium(browser_page, live_server, superadmin, config_dir) -> None:  # type: ignore[no-untyped-def]
    page = browser_page
    sign_in(page, live_server.url + "/settings/")
    page.select_option("#s-LOG_LEVEL", "debug")
    page.click("button:has-text('Save settings')")
    page.wait_for_selector(".banner.warn:has-text('1 file changed but not in use yet')")
    page.click(".banner a:has-text('Review and apply')")
    page.wait_for_selector("text=re-created")
    page.click("button:has-text('Apply now')")
    page.wait_for_selector("h1:has-text('Job: apply')")
    assert "queued" in page.inner_text(".job")
    get_worker("default", worker_class="rq.worker.SimpleWorker").work(burst=True)
    # htmx polls the progress fragment every second: the page turns to succeeded by itself.
    page.wait_for_selector(".badge.succeeded", timeout=15_000)
    assert get_mailserver().env().get("LOG_LEVEL") == "debug"
