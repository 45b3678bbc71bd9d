from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from access.tokens import token_create
from accounts import relays
from dms_admin.audit import Actor
from dms_admin.configstore import ConfigStore
from dms_admin.errors import Conflict, FieldError
from dms_admin.models import PendingChange

pytestmark = pytest.mark.django_db
ADMIN = Actor(name="admin")


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


@pytest.fixture
def api() -> APIClient:
    _, secret = token_create(name="relay", scope="write", actor=ADMIN)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def test_relay_with_credentials_keeps_the_password_out_of_answers_and_history(
    config_dir: Path, store: ConfigStore, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = "unix:///nonexistent/docker.sock"
    relays.relay_save(
        domain="example.test", host="smtp.mailgun.org", port=587, username="apikey", password="hunter2:x", actor=ADMIN
    )
    assert (config_dir / "postfix-relaymap.cf").read_text() == "@example.test [smtp.mailgun.org]:587\n"
    assert (config_dir / "postfix-sasl-password.cf").read_text() == "@example.test apikey:hunter2:x\n"
    [relay] = relays.relay_list()
    assert relay == relays.Relay("example.test", "smtp.mailgun.org", 587, "apikey", True)
    # A change without a password keeps the stored one.
    relays.relay_save(domain="example.test", host="smtp.mailgun.org", port=2525, username="apikey", actor=ADMIN)
    assert (config_dir / "postfix-sasl-password.cf").read_text() == "@example.test apikey:hunter2:x\n"
    log = subprocess.run(["git", f"--git-dir={store.history_dir}", "log", "-p"], capture_output=True, text=True).stdout
    assert "hunter2" not in log and "2525" in log


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"host": "smtp.x.test\n@evil x"}, "host"),
        ({"host": "smtp x.test"}, "host"),
        ({"port": 70000}, "port"),
        ({"username": "a:b", "password": "p"}, "username"),
        ({"username": "u", "password": "p\nq"}, "password"),
        ({"username": "u"}, "password"),
        ({"domain": "bad domain"}, "domain"),
    ],
)
def test_bad_relays_are_refused(config_dir: Path, kwargs: dict, field: str) -> None:  # type: ignore[type-arg]
    before = snapshot(config_dir)
    args = {"domain": "example.test", "host": "smtp.x.test", "port": 587, **kwargs}
    with pytest.raises(FieldError) as error:
        relays.relay_save(**args, actor=ADMIN)
    assert error.value.field == field and snapshot(config_dir) == before


def test_relay_api_never_answers_the_password(api: APIClient) -> None:
    created = api.post(
        "/api/v1/relays/",
        {"domain": "example.test", "host": "smtp.x.test", "port": 587, "username": "u", "password": "pw-secret"},
        format="json",
    )
    assert created.status_code == 201 and "pw-secret" not in created.content.decode()
    assert created.json()["has_password"] is True and created.json()["change"]["apply"] == "watched"
    assert "pw-secret" not in api.get("/api/v1/relays/").content.decode()
    assert api.put("/api/v1/relays/example.test/", {"host": "", "port": 25}, format="json").json()["host"] == ""
    assert api.delete("/api/v1/relays/example.test/").status_code == 200
    assert api.get("/api/v1/relays/example.test/").status_code == 404


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ([1], "Expected a dictionary, but got list."),
        (["host", "x"], "Expected a dictionary, but got list."),
        ("smtp.x.test", "Expected a dictionary, but got str."),
        (5, "Expected a dictionary, but got int."),
        (None, "host: This field is required."),  # no body at all
    ],
)
def test_a_relay_update_that_is_not_a_json_object_is_a_400(
    api: APIClient, config_dir: Path, body: object, error: str
) -> None:
    created = api.post("/api/v1/relays/", {"domain": "example.test", "host": "smtp.x.test", "port": 587}, format="json")
    assert created.status_code == 201
    before = snapshot(config_dir)
    answer = api.put("/api/v1/relays/example.test/", body, format="json")  # a list was a 500 (TypeError)
    assert answer.status_code == 400 and answer.json()["error"].endswith(error), answer.content
    assert snapshot(config_dir) == before


def test_restrictions_reload_postfix_or_wait_for_a_recreate(config_dir: Path, settings) -> None:  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = "unix:///nonexistent/docker.sock"
    saved = relays.restriction_add(address="Spammer@Example.test", direction="send", actor=ADMIN)
    assert (config_dir / "postfix-send-access.cf").read_text() == "# senders refused\nspammer@example.test REJECT\n"
    # No engine here: the reload could not run, so the change waits as pending.
    assert saved.outcome and saved.outcome.apply == "reload" and saved.outcome.pending
    created = relays.restriction_add(address="x@example.test", direction="receive", actor=ADMIN)
    assert created.outcome and created.outcome.apply == "recreate"  # a new access file is read only at start
    assert set(PendingChange.objects.values_list("path", flat=True)) == {
        "postfix-send-access.cf",
        "postfix-receive-access.cf",
    }
    with pytest.raises(Conflict):
        relays.restriction_add(address="spammer@example.test", direction="send", actor=ADMIN)
    relays.restriction_delete(address="spammer@example.test", direction="send", actor=ADMIN)
    assert "spammer" not in (config_dir / "postfix-send-access.cf").read_text()


def test_restriction_api(api: APIClient, settings) -> None:  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = "unix:///nonexistent/docker.sock"
    assert (
        api.post("/api/v1/restrictions/", {"address": "s@example.test", "direction": "send"}, format="json").status_code
        == 201
    )
    assert api.get("/api/v1/restrictions/").json() == [
        {"address": "s@example.test", "direction": "send", "action": "REJECT"}
    ]
    bad = api.post("/api/v1/restrictions/", {"address": "s@example.test", "direction": "sideways"}, format="json")
    assert bad.status_code == 400 and "direction" in bad.json()["fields"]
    assert (
        api.delete(
            "/api/v1/restrictions/", {"address": "s@example.test", "direction": "send"}, format="json"
        ).status_code
        == 200
    )
