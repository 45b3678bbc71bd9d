"""Hostile request bodies: deep JSON, huge bodies, wrong types. Always a 4xx in the API's error shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from django.core.exceptions import RequestDataTooBig
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from access.tokens import token_create
from dms_admin.api.errors import handler
from dms_admin.api.parsers import MAX_DEPTH
from dms_admin.audit import Actor

pytestmark = pytest.mark.django_db
WRITES = [("post", "/api/v1/mailboxes/"), ("post", "/api/v1/aliases/"), ("patch", "/api/v1/settings/")]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def error_shape(response) -> dict:  # type: ignore[no-untyped-def, type-arg]
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    body = response.json()
    assert set(body) == {"error", "fields"} and isinstance(body["error"], str) and body["error"]
    return body  # type: ignore[no-any-return]


@pytest.fixture(autouse=True)
def _no_docker(settings) -> None:  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = "unix:///nonexistent/docker.sock"


@pytest.fixture
def api() -> APIClient:
    _, secret = token_create(name="input", scope="write", actor=Actor("t"))
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.mark.parametrize(("method", "path"), WRITES)
@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deeply_nested_json_is_a_400(api: APIClient, config_dir: Path, method: str, path: str, depth: int) -> None:
    # Before: RecursionError out of the JSON decoder, a 500.
    before = snapshot(config_dir)
    response = getattr(api, method)(path, "[" * depth + "]" * depth, content_type="application/json")
    assert response.status_code == 400
    assert "nested" in error_shape(response)["error"]
    assert snapshot(config_dir) == before


def test_the_depth_limit_is_exact(api: APIClient) -> None:
    def nested(levels: int) -> str:
        return "[" * (levels - 1) + '{"address": "a@example.test"}' + "]" * (levels - 1)

    inside = api.post("/api/v1/aliases/", nested(MAX_DEPTH), content_type="application/json")
    assert inside.status_code == 400 and "nested" not in inside.json()["error"]  # the serializer's answer
    over = api.post("/api/v1/aliases/", nested(MAX_DEPTH + 1), content_type="application/json")
    assert over.status_code == 400 and "nested" in over.json()["error"]


@pytest.mark.parametrize(("method", "path"), [*WRITES, ("post", "/api/v1/relays/")])
def test_a_body_over_the_upload_limit_is_a_413_in_json(
    api: APIClient, config_dir: Path, method: str, path: str
) -> None:
    # Before: Django's RequestDataTooBig, an HTML 400 page.
    before = snapshot(config_dir)
    body = json.dumps({"address": "a@example.test", "password": "x" * (20 * 1024 * 1024)})
    response = getattr(api, method)(path, body, content_type="application/json")
    assert response.status_code == 413
    assert "larger than" in error_shape(response)["error"]
    assert snapshot(config_dir) == before


def test_a_large_form_post_to_the_api_is_json_too(superadmin, settings) -> None:  # type: ignore[no-untyped-def]
    # A session's form post with CSRF checks on: DRF's CSRF check parses the form, refused as 415.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    client = Client(enforce_csrf_checks=True)
    client.force_login(superadmin)
    client.cookies["csrftoken"] = "a" * 32  # with a cookie, the check goes on to read the form's token
    response = client.post("/api/v1/mailboxes/", "a=" + "x" * 5000, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415 and error_shape(response)


def test_a_body_django_read_first_is_a_413_in_json() -> None:
    # Defensive: should anything read request.body before the parser, Django's refusal is ours too.
    response = handler(RequestDataTooBig("too big"), {})
    assert response is not None and response.status_code == 413 and set(response.data) == {"error", "fields"}


def test_a_huge_panel_post_is_django_s_400_not_a_500(admin_client, config_dir: Path, settings) -> None:  # type: ignore[no-untyped-def]
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100_000
    before = snapshot(config_dir)
    response = admin_client.post(reverse("settings"), {"SPAM_SUBJECT": "x" * 200_000})
    assert response.status_code == 400
    assert snapshot(config_dir) == before


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/mailboxes/", {"address": 5, "password": "long-pass-1"}, "address"),
        ("/api/v1/mailboxes/", {"address": "n@example.test", "password": 12345678}, "password"),
        ("/api/v1/mailboxes/", {"address": ["n@example.test"], "password": "long-pass-1"}, "address"),
        ("/api/v1/mailboxes/", [{"address": True, "password": "long-pass-1"}], "0.address"),
        ("/api/v1/aliases/", {"address": "a@example.test", "targets": {"x": "user@example.test"}}, "targets"),
        ("/api/v1/aliases/", {"address": "a@example.test", "targets": [7]}, "targets.0"),
        ("/api/v1/aliases/", {"address": "a@example.test", "targets": "user@example.test"}, "targets"),
        ("/api/v1/relays/", [{"domain": "example.test", "host": "smtp.x.test"}], "non_field_errors"),
        ("/api/v1/relays/", {"domain": 1.5, "host": "smtp.x.test"}, "domain"),
        ("/api/v1/restrictions/", {"address": {"a": 1}, "direction": "send"}, "address"),
        ("/api/v1/aliases/", "just a string", "non_field_errors"),
        ("/api/v1/aliases/", {"address": "a@example.test", "targets": ["x\u0000@example.test"]}, "targets.0"),
    ],
)
def test_wrong_types_are_a_400_naming_the_field(
    api: APIClient, config_dir: Path, path: str, body: object, field: str
) -> None:
    before = snapshot(config_dir)
    response = api.post(path, body, format="json")
    assert response.status_code == 400, response.content
    assert field in error_shape(response)["fields"], response.json()
    assert snapshot(config_dir) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"POSTGREY_DELAY": 300}, "POSTGREY_DELAY"),
        ({"ENABLE_CLAMAV": True}, "ENABLE_CLAMAV"),
        ({"ENABLE_CLAMAV": ["1"]}, "ENABLE_CLAMAV"),
        ({"ENABLE_CLAMAV": "1", "allow_unknown": "yes"}, "allow_unknown"),
        ([{"ENABLE_CLAMAV": "1"}], "settings"),
    ],
)
def test_settings_take_strings_only(api: APIClient, config_dir: Path, body: object, field: str) -> None:
    before = snapshot(config_dir)
    for path, method in (("/api/v1/settings/", api.patch), ("/api/v1/settings/validate/", api.post)):
        response = method(path, body, format="json")
        assert response.status_code == 400 and field in error_shape(response)["fields"], response.content
    assert snapshot(config_dir) == before


@pytest.mark.parametrize("text", ["{", '{"address": NaN}', '{"a": 1}{', "\udcff"])
def test_broken_json_is_a_400(api: APIClient, text: str) -> None:
    response = api.post("/api/v1/aliases/", text.encode("utf-8", "surrogateescape"), content_type="application/json")
    assert response.status_code == 400 and error_shape(response)


@pytest.mark.django_db(transaction=True)
def test_over_real_http_the_limits_answer_json(live_server, settings) -> None:  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = "unix:///nonexistent/docker.sock"
    _, secret = token_create(name="http", scope="write", actor=Actor("t"))
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    url = live_server.url + "/api/v1/mailboxes/"
    big = requests.post(url, data=b'{"address": "' + b"x" * (20 * 1024 * 1024) + b'"}', headers=headers, timeout=60)
    assert big.status_code == 413 and big.json()["fields"] == {}
    deep = requests.post(url, data="[" * 50_000 + "]" * 50_000, headers=headers, timeout=60)
    assert deep.status_code == 400 and "nested" in deep.json()["error"]
