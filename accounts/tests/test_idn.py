"""Internationalised domain names: stored as punycode (A-labels), found by either form, bad ones refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from access.tokens import token_create
from accounts import relays, services
from accounts.validation import normalize_address
from dms_admin.audit import Actor
from dms_admin.errors import FieldError
from dms_admin.mailnames import address_key, domain_key, normalize_domain

pytestmark = pytest.mark.django_db
ADMIN = Actor(name="admin")
PUNY = "xn--bcher-kva.example"


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


@pytest.fixture(autouse=True)
def _no_docker(settings) -> None:  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = "unix:///nonexistent/docker.sock"


@pytest.fixture
def api() -> APIClient:
    _, secret = token_create(name="idn", scope="write", actor=ADMIN)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("bücher.example", PUNY),
        ("BÜCHER.Example.", PUNY),
        ("bücher\u3002example", PUNY),  # an ideographic full stop is a dot in UTS 46
        (PUNY, PUNY),
        ("XN--BCHER-KVA.EXAMPLE", PUNY),
        # UTS 46 non-transitional (IDNA 2008): ß stays ß; Python's own idna codec (IDNA 2003) made "strasse".
        ("straße.de", "xn--strae-oqa.de"),
        ("\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.com", "example.com"),  # full-width letters
    ],
)
def test_domains_are_stored_as_punycode(typed: str, stored: str) -> None:
    assert normalize_domain(typed) == stored
    assert domain_key(typed) == stored


@pytest.mark.parametrize(
    "bad", ["😀.example", "xn--zz.example", "bü cher.example", "bücher..example", "-bücher.example", "ü" * 300 + ".de"]
)
def test_invalid_international_names_are_refused_with_the_field(bad: str) -> None:
    with pytest.raises(FieldError) as error:
        normalize_domain(bad, field="domain")
    assert error.value.field == "domain" and "domain name" in error.value.message


def test_addresses_keep_an_ascii_local_part_and_a_punycode_domain() -> None:
    assert normalize_address("Info@Bücher.example") == f"info@{PUNY}"
    assert address_key("info@bücher.example") == address_key(f"INFO@{PUNY}") == f"info@{PUNY}"
    assert address_key("@bücher.example") == f"@{PUNY}"
    with pytest.raises(FieldError, match="ASCII"):
        normalize_address("jürgen@example.test")


def test_a_relay_for_an_idn_domain_is_created_once_and_found_by_either_name(api: APIClient, config_dir: Path) -> None:
    # Before: the relay was written, then looked up by its Unicode name, not found: 500; a retry did it again.
    body = {"domain": "bücher.example", "host": "smtp.x.com", "port": 587}
    created = api.post("/api/v1/relays/", body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["domain"] == PUNY
    assert (config_dir / "postfix-relaymap.cf").read_text() == f"@{PUNY} [smtp.x.com]:587\n"
    before = snapshot(config_dir)
    again = api.post("/api/v1/relays/", body, format="json")
    assert again.status_code == 409 and again.json()["fields"] == {"domain": ["exists"]}
    assert snapshot(config_dir) == before
    for name in ("bücher.example", PUNY):
        assert api.get(f"/api/v1/relays/{name}/").json()["domain"] == PUNY
    changed = api.put(
        "/api/v1/relays/bücher.example/", {"domain": "x", "host": "smtp.y.com", "port": 25}, format="json"
    )
    assert changed.status_code == 200
    assert (config_dir / "postfix-relaymap.cf").read_text() == f"@{PUNY} [smtp.y.com]:25\n"
    assert relays.relay_get(domain="BÜCHER.example") is not None


@pytest.mark.parametrize("domain", ["😀.example", "xn--zz.example", "bü cher.example"])
def test_invalid_idn_relays_are_a_400_with_the_field_and_write_nothing(
    api: APIClient, config_dir: Path, domain: str
) -> None:
    before = snapshot(config_dir)
    response = api.post("/api/v1/relays/", {"domain": domain, "host": "smtp.x.com", "port": 587}, format="json")
    assert response.status_code == 400, response.content
    assert "domain" in response.json()["fields"] and "domain name" in response.json()["error"]
    assert snapshot(config_dir) == before


def test_mailboxes_aliases_and_filters_take_either_form(api: APIClient, config_dir: Path) -> None:
    made = api.post("/api/v1/mailboxes/", {"address": "info@bücher.example", "password": "long-pass-1"}, format="json")
    assert made.status_code == 201 and made.json()["address"] == f"info@{PUNY}"
    assert f"info@{PUNY}|" in (config_dir / "postfix-accounts.cf").read_text()
    assert api.get("/api/v1/mailboxes/info@bücher.example/").status_code == 200
    assert api.put("/api/v1/quotas/info@bücher.example/", {"quota": "5G"}, format="json").status_code == 200
    assert (config_dir / "dovecot-quotas.cf").read_text() == f"info@{PUNY}:5G\n"
    for form in ("bücher.example", PUNY, "BÜCHER.EXAMPLE"):
        listed = api.get("/api/v1/mailboxes/", {"domain": form}).json()
        assert [m["address"] for m in listed["results"]] == [f"info@{PUNY}"], form
    alias = api.post(
        "/api/v1/aliases/", {"address": "@bücher.example", "targets": ["info@bücher.example"]}, format="json"
    )
    assert alias.status_code == 201 and alias.json()["address"] == f"@{PUNY}"
    assert f"@{PUNY} info@{PUNY}" in (config_dir / "postfix-virtual.cf").read_text()
    assert api.get("/api/v1/aliases/@bücher.example/").status_code == 200
    assert api.get("/api/v1/aliases/", {"domain": "bücher.example"}).json()["count"] == 1
    restricted = api.post(
        "/api/v1/restrictions/", {"address": "info@bücher.example", "direction": "send"}, format="json"
    )
    assert restricted.status_code == 201
    assert f"info@{PUNY} REJECT" in (config_dir / "postfix-send-access.cf").read_text()
    dns = api.get("/api/v1/domains/bücher.example/dns/", {"check": "0"})
    assert dns.status_code == 200 and dns.json()["domain"] == PUNY


@pytest.mark.parametrize("path", ["/api/v1/mailboxes/", "/api/v1/aliases/"])
def test_an_invalid_domain_filter_is_a_400(api: APIClient, path: str) -> None:
    response = api.get(path, {"domain": "😀.example"})
    assert response.status_code == 400 and "domain" in response.json()["fields"]


def test_a_token_limited_to_an_idn_domain_may_use_its_unicode_name(config_dir: Path) -> None:
    _, secret = token_create(name="limited", scope="write", domains=["bücher.example"], actor=ADMIN)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    made = client.post("/api/v1/mailboxes/", {"address": "a@bücher.example", "password": "long-pass-1"}, format="json")
    assert made.status_code == 201, made.content
    assert client.get("/api/v1/mailboxes/a@bücher.example/").status_code == 200
    other = client.post("/api/v1/mailboxes/", {"address": "a@example.test", "password": "long-pass-1"}, format="json")
    assert other.status_code == 403


def test_the_panel_relay_form_stores_punycode_and_refuses_bad_names(admin_client, config_dir: Path) -> None:  # type: ignore[no-untyped-def]
    url = reverse("accounts:relay-list")
    saved = admin_client.post(url, {"domain": "bücher.example", "host": "smtp.x.com", "port": 587})
    assert saved.status_code == 302
    assert (config_dir / "postfix-relaymap.cf").read_text() == f"@{PUNY} [smtp.x.com]:587\n"
    before = snapshot(config_dir)
    refused = admin_client.post(url, {"domain": "😀.example", "host": "smtp.x.com", "port": 587})
    assert refused.status_code == 400 and "not a valid internationalised domain name" in refused.content.decode()
    assert snapshot(config_dir) == before
    assert admin_client.get(reverse("accounts:mailbox-list")).status_code == 200
    services.mailbox_create(address="x@bücher.example", password="long-pass-1", actor=ADMIN)
    page = admin_client.get(reverse("accounts:mailbox-quota", args=["x@bücher.example"]))
    assert page.status_code == 200  # the panel's pages find it by the Unicode name too
