from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from access.models import ApiToken

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_docker(settings):  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = "unix:///nonexistent/docker.sock"


def test_pages_need_login(client) -> None:  # type: ignore[no-untyped-def]
    for name in ("accounts:relay-list", "token-list"):
        assert client.get(reverse(name))["Location"].startswith("/login/")


def test_relay_page_saves_without_showing_the_password(admin_client, config_dir: Path) -> None:  # type: ignore[no-untyped-def]
    data = {
        "domain": "example.test",
        "host": "smtp.relay.test",
        "port": "587",
        "username": "u",
        "password": "topsecret-pw",
    }
    assert admin_client.post(reverse("accounts:relay-list"), data).status_code == 302
    page = admin_client.get(reverse("accounts:relay-list"))
    assert (
        b"[smtp.relay.test]:587" in page.content
        and b"password set" in page.content
        and b"topsecret-pw" not in page.content
    )
    bad = admin_client.post(reverse("accounts:relay-list"), {**data, "host": "bad host"})
    assert bad.status_code == 400 and b"Enter a host name" in bad.content
    admin_client.post(reverse("accounts:relay-delete", args=["example.test"]))
    assert (config_dir / "postfix-relaymap.cf").read_text() == ""


def test_restriction_add_and_lift(admin_client, config_dir: Path) -> None:  # type: ignore[no-untyped-def]
    admin_client.post(reverse("accounts:restriction-add"), {"address": "bad@example.test", "direction": "send"})
    assert "bad@example.test REJECT" in (config_dir / "postfix-send-access.cf").read_text()
    admin_client.post(reverse("accounts:restriction-delete", args=["send", "bad@example.test"]))
    assert "bad@" not in (config_dir / "postfix-send-access.cf").read_text()


def test_a_token_made_in_the_panel_is_shown_once_and_works(admin_client) -> None:  # type: ignore[no-untyped-def]
    page = admin_client.post(
        reverse("token-list"), {"name": "backup-script", "scope": "read", "domains": "example.test"}
    )
    secret = page.context["secret"]
    assert secret and secret.encode() in page.content
    assert secret.encode() not in admin_client.get(reverse("token-list")).content
    token = ApiToken.objects.get(name="backup-script")
    assert token.digest != secret and secret not in str(token.__dict__)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.get("/api/v1/mailboxes/").status_code == 200
    delete = reverse("token-delete", args=[token.pk])
    assert admin_client.get(delete).status_code == 200
    admin_client.post(delete)
    assert api.get("/api/v1/mailboxes/").status_code == 401
