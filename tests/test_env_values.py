"""mailserver.env values checked by their type, unknown variables, and bounded quotas: API and panel."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from access.tokens import token_create
from accounts import services
from dms_admin.audit import Actor
from dms_admin.errors import FieldError
from dms_admin.mailserver_env import catalogue as dmsenv
from dms_admin.mailserver_env.service import settings_read, settings_update

pytestmark = pytest.mark.django_db
ADMIN = Actor(name="admin")
ENV = "mailserver.env"


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


@pytest.fixture(autouse=True)
def _no_docker(settings) -> None:  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = "unix:///nonexistent/docker.sock"


@pytest.fixture
def api() -> APIClient:
    _, secret = token_create(name="env", scope="write", actor=ADMIN)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


BAD = [
    ("TZ", "../../../etc/passwd", "time zone"),
    ("TZ", "Not/AZone", "time zone"),
    ("TZ", "Europe/Berlin ", "time zone"),
    ("RELAY_PORT", "0", "port between 1 and 65535"),
    ("RELAY_PORT", "65536", "port between 1 and 65535"),
    ("RELAY_PORT", "25a", "port"),
    ("DMS_CONFIG_POLL", "0", "between 1 and"),
    ("DMS_VMAIL_UID", "0", "between 1 and"),
    ("POSTGREY_DELAY", "-5", "between 0 and"),
    ("POSTFIX_MESSAGE_SIZE_LIMIT", "99999999999999999999999", "between 0 and"),
    ("POSTFIX_MESSAGE_SIZE_LIMIT", "10M", "whole number"),
    ("LOGROTATE_COUNT", "1" * 30, "between 0 and"),
    ("CLAMAV_MESSAGE_SIZE_LIMIT", "5000M", "at most 4000M"),
    ("CLAMAV_MESSAGE_SIZE_LIMIT", "25 MB", "size like 25M"),
    ("UPDATE_CHECK_INTERVAL", "1 week", "like 1d"),
    ("UPDATE_CHECK_INTERVAL", "0d", "like 1d"),
    ("ENABLE_CLAMAV", "true", "one of: 0, 1"),
    ("ENABLE_POP3", "2", "one of: 0, 1"),
    ("SSL_CERT_PATH", "../../etc/shadow", "absolute path"),
    ("SSL_KEY_PATH", "/etc/ssl/../../root/key.pem", "without '..'"),
    ("RELAY_HOST", "smtp.example.com:25", "host name"),
    ("RELAY_HOST", "smtp..example.com", "host name"),
    ("DEFAULT_RELAY_HOST", "[smtp.example.com]:99999", "[smtp.example.com]:587"),
    ("DEFAULT_RELAY_HOST", "smtp example.com", "[smtp.example.com]:587"),
    ("OVERRIDE_HOSTNAME", "😀.example", "full host name"),
    ("POSTMASTER_ADDRESS", "a b@example.com", "mail address"),
    ("POSTMASTER_ADDRESS", "pm@😀.example", "mail address"),
    ("SA_TAG", "1e400", "number like 6.31"),
    ("SPAM_SUBJECT", "x" * 2000, "at most 1000"),
]


@pytest.mark.parametrize(("name", "value", "message"), BAD)
def test_bad_values_are_refused_by_type(name: str, value: str, message: str) -> None:
    with pytest.raises(FieldError, match=message.replace("[", r"\[").replace("]", r"\]")) as error:
        dmsenv.validate(name, value)
    assert error.value.field == name


@pytest.mark.parametrize(
    ("name", "value", "stored"),
    [
        ("TZ", "Europe/Berlin", "Europe/Berlin"),
        ("TZ", "UTC", "UTC"),
        ("RELAY_PORT", "587", "587"),
        ("POSTGREY_DELAY", "0300", "300"),  # no leading zero a shell would read as octal
        ("POSTFIX_MESSAGE_SIZE_LIMIT", "0", "0"),
        ("CLAMAV_MESSAGE_SIZE_LIMIT", "4000M", "4000M"),
        ("UPDATE_CHECK_INTERVAL", "12h", "12h"),
        ("OVERRIDE_HOSTNAME", "mail.bücher.example", "mail.xn--bcher-kva.example"),
        ("POSTMASTER_ADDRESS", "pm+dms@bücher.example", "pm+dms@xn--bcher-kva.example"),
        ("RELAY_HOST", "[smtp.example.com]", "smtp.example.com"),
        ("DEFAULT_RELAY_HOST", "[smtp.example.com]:587", "[smtp.example.com]:587"),
        ("DEFAULT_RELAY_HOST", "192.0.2.1:25", "192.0.2.1:25"),
        ("SSL_CERT_PATH", "/etc/letsencrypt/live/mail/fullchain.pem", "/etc/letsencrypt/live/mail/fullchain.pem"),
        ("SPAM_SUBJECT", "[SPAM] |:", "[SPAM] |:"),
        ("TZ", "", ""),  # empty: DMS's default
    ],
)
def test_good_values_are_stored_normalised(name: str, value: str, stored: str) -> None:
    assert dmsenv.validate(name, value) == stored


def test_api_refuses_a_path_as_time_zone_and_says_so_in_validate(api: APIClient, config_dir: Path) -> None:
    # Before: TZ=../../../etc/passwd was written, and validate/ called Not/AZone fine.
    before = snapshot(config_dir)
    response = api.patch("/api/v1/settings/", {"TZ": "../../../etc/passwd"}, format="json")
    assert response.status_code == 400 and "TZ" in response.json()["fields"]
    checked = api.post("/api/v1/settings/validate/", {"TZ": "Not/AZone", "ENABLE_CLAMAV": "1"}, format="json").json()
    assert checked["ok"] is False and list(checked["fields"]) == ["TZ"]
    assert snapshot(config_dir) == before


def test_api_answers_every_bad_variable_at_once(api: APIClient, config_dir: Path) -> None:
    before = snapshot(config_dir)
    body = {"TZ": "Not/AZone", "RELAY_PORT": "0", "ENABLE_CLAMAV": "1", "EVIL_VAR": "1"}
    response = api.patch("/api/v1/settings/", body, format="json")
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"TZ", "RELAY_PORT", "EVIL_VAR"}
    assert snapshot(config_dir) == before


def test_unknown_variables_need_allow_unknown_and_come_with_a_warning(api: APIClient, config_dir: Path) -> None:
    # Before: EVIL_VAR went into the file without a word.
    before = snapshot(config_dir)
    refused = api.patch("/api/v1/settings/", {"EVIL_VAR": "1"}, format="json")
    assert refused.status_code == 400 and "allow_unknown" in refused.json()["fields"]["EVIL_VAR"][0]
    checked = api.post("/api/v1/settings/validate/", {"EVIL_VAR": "1"}, format="json").json()
    assert checked["ok"] is False and "EVIL_VAR" in checked["fields"]
    assert api.post("/api/v1/settings/validate/", {"EVIL_VAR": "1", "allow_unknown": True}, format="json").json() == {
        "ok": True,
        "fields": {},
    }
    assert snapshot(config_dir) == before
    bad = api.patch("/api/v1/settings/", {"EVIL_VAR": "a\nENABLE_CLAMAV=1", "allow_unknown": True}, format="json")
    assert bad.status_code == 400 and snapshot(config_dir) == before  # the file's syntax is still checked
    written = api.patch("/api/v1/settings/", {"MY_HOOK": "on", "allow_unknown": True}, format="json")
    assert written.status_code == 200 and "MY_HOOK" in written.json()["warnings"][0]
    assert (config_dir / ENV).read_text().endswith("MY_HOOK=on\n")
    removed = api.patch("/api/v1/settings/", {"MY_HOOK": None}, format="json")  # removing needs no flag
    assert removed.status_code == 200 and "MY_HOOK" not in (config_dir / ENV).read_text()


def test_unknown_variables_in_the_file_are_labelled_and_kept(admin_client, config_dir: Path) -> None:  # type: ignore[no-untyped-def]
    (config_dir / ENV).write_text("MY_VAR=keep me\nENABLE_CLAMAV=0\n")
    rows, _ = settings_read(version="v15.1.0")
    unknown = next(r for r in rows if r.name == "MY_VAR")
    assert unknown.label == "unknown to DMS v15.1.0" and unknown.value == "keep me"
    assert next(r for r in rows if r.name == "ENABLE_CLAMAV").label == ""
    assert admin_client.post(reverse("settings"), {"ENABLE_CLAMAV": "1", "MY_VAR": "changed"}).status_code == 302
    assert (config_dir / ENV).read_text() == "MY_VAR=keep me\nENABLE_CLAMAV=1\n"
    settings_update(updates={"ENABLE_POP3": "1"}, actor=ADMIN)  # the service keeps it as well
    assert "MY_VAR=keep me\n" in (config_dir / ENV).read_text()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [("TZ", "../../../etc/passwd", "time zone"), ("RELAY_PORT", "70000", "port between"), ("DMS_VMAIL_UID", "0", "")],
)
def test_the_panel_shows_the_field_error_and_writes_nothing(  # type: ignore[no-untyped-def]
    admin_client, config_dir: Path, name: str, value: str, message: str
) -> None:
    before = snapshot(config_dir)
    response = admin_client.post(reverse("settings"), {name: value})
    assert response.status_code == 400
    assert message in response.context["errors"][name]
    assert message in response.content.decode()
    assert snapshot(config_dir) == before


# ---- quotas ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("quota", ["99999999999999999999999T", "1025T", "1048577G", "5 G", "5g", "5GB", "-1G", "00"])
def test_quotas_beyond_a_petabyte_or_outside_dms_syntax_are_refused(config_dir: Path, quota: str) -> None:
    # Before: 99999999999999999999999T went into dovecot-quotas.cf.
    services.mailbox_create(address="q@example.test", password="long-pass-1", actor=ADMIN)
    before = snapshot(config_dir)
    with pytest.raises(FieldError) as error:
        services.quota_set(address="q@example.test", quota=quota, actor=ADMIN)
    assert error.value.field == "quota"
    assert snapshot(config_dir) == before


@pytest.mark.parametrize("quota", ["1024T", "500M", "5G", "0", "1048576G", "10k", "100B"])
def test_quotas_within_bounds_are_written(config_dir: Path, quota: str) -> None:
    services.mailbox_create(address="q@example.test", password="long-pass-1", actor=ADMIN)
    services.quota_set(address="q@example.test", quota=quota, actor=ADMIN)
    assert (config_dir / "dovecot-quotas.cf").read_text() == f"q@example.test:{quota}\n"


def test_quota_bounds_hold_in_the_api_and_the_panel(api: APIClient, admin_client, config_dir: Path) -> None:  # type: ignore[no-untyped-def]
    services.mailbox_create(address="q@example.test", password="long-pass-1", actor=ADMIN)
    before = snapshot(config_dir)
    huge = "99999999999999999999999T"
    assert api.put("/api/v1/quotas/q@example.test/", {"quota": huge}, format="json").status_code == 400
    patched = api.patch("/api/v1/mailboxes/q@example.test/", {"quota": huge}, format="json")
    assert patched.status_code == 400 and "1 PB" in patched.json()["fields"]["quota"][0]
    created = api.post(
        "/api/v1/mailboxes/", {"address": "n@example.test", "password": "long-pass-1", "quota": huge}, format="json"
    )
    assert created.status_code == 400
    page = admin_client.post(reverse("accounts:mailbox-quota", args=["q@example.test"]), {"quota": huge})
    assert page.status_code == 200 and "1 PB" in page.content.decode()  # the form again, with the error
    assert page.context["form"].errors["quota"]
    assert snapshot(config_dir) == before
