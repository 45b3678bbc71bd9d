from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from access.tokens import token_create
from dms_admin.audit import Actor
from dms_admin.configstore import ConfigStore
from dms_admin.models import PendingChange

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_docker(settings):  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = "unix:///nonexistent/docker.sock"


@pytest.fixture
def api() -> APIClient:
    _, secret = token_create(name="settings", scope="write", actor=Actor("t"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def test_page_needs_login(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get(reverse("settings"))["Location"].startswith("/login/")


def test_saving_changes_only_what_changed_and_marks_a_recreate_pending(admin_client, config_dir: Path) -> None:  # type: ignore[no-untyped-def]
    (config_dir / "mailserver.env").write_text(
        "# mine\nOVERRIDE_HOSTNAME=mail.example.test\nENABLE_SPAMASSASSIN=1\nMY_VAR=keep me\n"
    )
    page = admin_client.get(reverse("settings"))
    assert b"ENABLE_CLAMAV" in page.content and b"MY_VAR=keep me" in page.content
    response = admin_client.post(
        reverse("settings"), {"OVERRIDE_HOSTNAME": "mail.example.test", "ENABLE_CLAMAV": "1", "SPAM_SUBJECT": "[SPAM] "}
    )
    assert response.status_code == 302
    assert (config_dir / "mailserver.env").read_text() == (
        "# mine\nOVERRIDE_HOSTNAME=mail.example.test\nENABLE_SPAMASSASSIN=1\nMY_VAR=keep me\n"
        "ENABLE_CLAMAV=1\nSPAM_SUBJECT='[SPAM] '\n"
    )
    assert PendingChange.objects.get().action == "recreate"


def test_bad_values_are_refused_and_the_file_is_unchanged(admin_client, config_dir: Path) -> None:  # type: ignore[no-untyped-def]
    before = (config_dir / "mailserver.env").read_bytes()
    response = admin_client.post(reverse("settings"), {"SA_TAG": "lots"})
    assert response.status_code == 400 and b"must be a number" in response.content
    assert (config_dir / "mailserver.env").read_bytes() == before


def test_deprecated_variables_are_flagged_with_a_one_click_fix(admin_client, config_dir: Path) -> None:  # type: ignore[no-untyped-def]
    (config_dir / "mailserver.env").write_text("SA_SPAM_SUBJECT=undef\nONE_DIR=1\n")
    page = admin_client.get(reverse("settings"))
    assert b"SA_SPAM_SUBJECT</strong>" in page.content and b"ONE_DIR</strong>" in page.content
    admin_client.post(reverse("settings-fix", args=["SA_SPAM_SUBJECT"]))
    admin_client.post(reverse("settings-fix", args=["ONE_DIR"]))
    assert (config_dir / "mailserver.env").read_text() == "SPAM_SUBJECT=\n"


def test_api_lists_every_variable_and_hides_secrets(api: APIClient, config_dir: Path) -> None:
    (config_dir / "mailserver.env").write_text("RELAY_PASSWORD=hunter2\nENABLE_CLAMAV=1\n")
    body = api.get("/api/v1/settings/").json()
    by_name = {v["name"]: v for v in body["variables"]}
    assert by_name["ENABLE_CLAMAV"] == {**by_name["ENABLE_CLAMAV"], "value": "1", "type": "bool", "choices": ["0", "1"]}
    assert by_name["RELAY_PASSWORD"]["value"] is None and by_name["RELAY_PASSWORD"]["set"] is True
    assert "hunter2" not in str(body)


def test_api_patch_validate_and_hostile_values(api: APIClient, config_dir: Path, store: ConfigStore) -> None:
    before = (config_dir / "mailserver.env").read_bytes()
    for body, field in (
        ({"SPAM_SUBJECT": "a\nENABLE_CLAMAV=1"}, "SPAM_SUBJECT"),
        ({"BAD=NAME": "1"}, "BAD=NAME"),
        ({"POSTFIX_MESSAGE_SIZE_LIMIT": "ten"}, "POSTFIX_MESSAGE_SIZE_LIMIT"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL"),
    ):
        response = api.patch("/api/v1/settings/", body, format="json")
        assert response.status_code == 400 and field in response.json()["fields"], response.json()
    assert (config_dir / "mailserver.env").read_bytes() == before
    problems = api.post("/api/v1/settings/validate/", {"SA_TAG": "x", "ENABLE_CLAMAV": "1"}, format="json").json()
    assert problems == {"ok": False, "fields": {"SA_TAG": ["SA_TAG must be a number like 6.31."]}}
    preview = api.patch("/api/v1/settings/?dry_run=1", {"ENABLE_CLAMAV": "1"}, format="json").json()
    assert preview["apply"] == "recreate" and "+ENABLE_CLAMAV=1" in preview["diff"]
    done = api.patch("/api/v1/settings/", {"ENABLE_CLAMAV": "1", "ENABLE_SPAMASSASSIN": None}, format="json").json()
    assert done["change"] == {"commit": store.history(limit=1)[0].sha, "apply": "recreate", "pending": True}
    assert (config_dir / "mailserver.env").read_text() == "OVERRIDE_HOSTNAME=mail.example.test\nENABLE_CLAMAV=1\n"


def test_a_submit_with_one_bad_field_keeps_every_value_marks_the_bad_ones_and_writes_nothing(  # type: ignore[no-untyped-def]
    admin_client, config_dir: Path
) -> None:
    before = (config_dir / "mailserver.env").read_bytes()
    posted = {
        "SA_TAG": "lots",  # bad
        "POSTMASTER_ADDRESS": "not-an-address",  # bad too: both errors show at once
        "SPAM_SUBJECT": "[SPAM] ",  # good text field
        "LOG_LEVEL": "debug",  # good select
        "POSTFIX_MESSAGE_SIZE_LIMIT": "50M",  # good size
    }
    response = admin_client.post(reverse("settings"), posted)
    assert response.status_code == 400
    assert (config_dir / "mailserver.env").read_bytes() == before
    assert not PendingChange.objects.exists()
    page = response.content.decode()
    assert "must be a number" in page and "must be a mail address" in page
    assert 'class="field has-error"' in page and page.count('aria-invalid="true"') == 2
    assert 'value="[SPAM] "' in page and 'value="50M"' in page and 'value="lots"' in page
    assert '<option value="debug" selected>' in page
    assert "Nothing was saved" in page and 'href="#s-SA_TAG"' in page


def test_byte_sizes_take_50m_and_are_stored_in_bytes_shown_both_ways(admin_client, config_dir: Path) -> None:  # type: ignore[no-untyped-def]
    response = admin_client.post(
        reverse("settings"), {"POSTFIX_MESSAGE_SIZE_LIMIT": "50M", "POSTFIX_MAILBOX_SIZE_LIMIT": "5G"}
    )
    assert response.status_code == 302
    text = (config_dir / "mailserver.env").read_text()
    assert "POSTFIX_MESSAGE_SIZE_LIMIT=52428800\n" in text and "POSTFIX_MAILBOX_SIZE_LIMIT=5368709120\n" in text
    page = admin_client.get(reverse("settings")).content.decode()
    assert "Now 52428800 bytes = 50 MB." in page and "Now 5368709120 bytes = 5 GB." in page
    assert "a size like 50M or 5G" in page
    bad = admin_client.post(reverse("settings"), {"POSTFIX_MESSAGE_SIZE_LIMIT": "50 parsecs"})
    assert bad.status_code == 400 and "is not a size" in bad.content.decode()
    assert "POSTFIX_MESSAGE_SIZE_LIMIT=52428800\n" in (config_dir / "mailserver.env").read_text()


def test_a_variable_dms_does_not_know_is_shown_as_such_and_kept(admin_client, config_dir, settings) -> None:  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = "unix:///nonexistent/docker.sock"
    (config_dir / "mailserver.env").write_text("OVERRIDE_HOSTNAME=mail.example.test\nMY_OWN_VAR=1\n")
    page = admin_client.get("/settings/").content.decode()
    assert '<code>MY_OWN_VAR=1</code> <span class="badge warn">unknown to DMS</span>' in page
