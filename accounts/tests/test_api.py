from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from access.models import ApiToken
from access.tokens import token_create
from dms_admin.audit import Actor, forget_old_api_calls
from dms_admin.configstore import ConfigStore
from dms_admin.models import AuditEntry, JobRun

pytestmark = pytest.mark.django_db


def bearer(scope: str = "write", domains: list[str] | None = None, name: str = "ci") -> APIClient:
    _, secret = token_create(name=name, scope=scope, domains=domains, actor=Actor("test"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_no_token_is_401_in_the_error_shape() -> None:
    response = APIClient().get("/api/v1/mailboxes/")
    assert response.status_code == 401
    assert set(response.json()) == {"error", "fields"} and response["WWW-Authenticate"] == "Bearer"


def test_create_list_get_patch_delete(config_dir: Path, store: ConfigStore) -> None:
    api = bearer()
    created = api.post(
        "/api/v1/mailboxes/", {"address": "Ann@Example.test", "password": "s3cret-pass", "quota": "1G"}, format="json"
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["address"] == "ann@example.test" and body["quota"] == "1G" and "password" not in body
    assert body["change"]["apply"] == "watched" and body["change"]["pending"] is False
    assert body["change"]["commit"] == store.history(limit=1)[0].sha
    assert AuditEntry.objects.get(action="mailbox.create").actor == "token:ci"

    listed = api.get("/api/v1/mailboxes/", {"search": "ann"}).json()
    assert listed["count"] == 1 and listed["results"][0]["address"] == "ann@example.test"
    assert api.get("/api/v1/mailboxes/ann@example.test/").json()["scheme"] == "SHA512-CRYPT"

    patched = api.patch("/api/v1/mailboxes/ann@example.test/", {"quota": "2G"}, format="json")
    assert patched.status_code == 200 and patched.json()["quota"] == "2G"
    assert api.put("/api/v1/quotas/ann@example.test/", {"quota": "3G"}, format="json").status_code == 200
    quota = api.get("/api/v1/quotas/ann@example.test/").json()
    assert quota["quota"] == "3G" and quota["limit_bytes"] == 3 * 1024**3 and "used_bytes" in quota

    deleted = api.delete("/api/v1/mailboxes/ann@example.test/")
    assert deleted.status_code == 200 and deleted.json()["change"]["apply"] == "watched"
    assert api.get("/api/v1/mailboxes/ann@example.test/").status_code == 404


def test_bulk_create_is_one_commit(store: ConfigStore) -> None:
    count = store.count() or 1
    rows = [{"address": f"u{i}@bulk.test", "password": "s3cret-pass"} for i in range(5)]
    response = bearer().post("/api/v1/mailboxes/", rows, format="json")
    assert response.status_code == 201 and len(response.json()) == 5
    assert store.count() == count + 1


def test_bulk_with_one_bad_item_writes_nothing(config_dir: Path) -> None:
    before = snapshot(config_dir)
    rows = [
        {"address": "ok@bulk.test", "password": "s3cret-pass"},
        {"address": "bad|x@bulk.test", "password": "s3cret-pass"},
    ]
    response = bearer().post("/api/v1/mailboxes/", rows, format="json")
    assert response.status_code == 400 and "1.address" in response.json()["fields"]
    assert snapshot(config_dir) == before


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"address": "a\nb@x.test", "password": "s3cret-pass"}, "address"),
        ({"address": "a@x.test", "password": "short"}, "password"),
        ({"address": "a@x.test", "password": "s3cret-pass", "quota": "lots"}, "quota"),
        ({"password": "s3cret-pass"}, "address"),
        ({"address": "user@example.test", "password": "s3cret-pass"}, "address"),
    ],
)
def test_bad_input_is_400_or_409_with_the_field_and_nothing_changes(
    config_dir: Path, payload: dict, field: str
) -> None:  # type: ignore[type-arg]
    before = snapshot(config_dir)
    response = bearer().post("/api/v1/mailboxes/", payload, format="json")
    assert response.status_code in (400, 409) and field in response.json()["fields"], response.json()
    assert response.json()["error"]
    assert snapshot(config_dir) == before


def test_dry_run_answers_the_diff_and_writes_nothing(config_dir: Path) -> None:
    before = snapshot(config_dir)
    response = bearer().post(
        "/api/v1/mailboxes/?dry_run=1", {"address": "dry@x.test", "password": "s3cret-pass"}, format="json"
    )
    assert response.status_code == 200 and response.json()["apply"] == "watched"
    assert "+dry@x.test|{SHA512-CRYPT}" in response.json()["diff"]
    assert snapshot(config_dir) == before


def test_a_read_token_cannot_write() -> None:
    api = bearer(scope="read")
    assert api.get("/api/v1/mailboxes/").status_code == 200
    response = api.post("/api/v1/mailboxes/", {"address": "r@x.test", "password": "s3cret-pass"}, format="json")
    assert response.status_code == 403 and response.json()["error"]


def test_every_token_call_is_audited_once_under_the_token_name(config_dir: Path, settings) -> None:  # type: ignore[no-untyped-def]
    api = bearer(name="monitoring")
    AuditEntry.objects.all().delete()
    assert api.get("/api/v1/mailboxes/?search=x").status_code == 200
    assert (
        api.post("/api/v1/mailboxes/", {"address": "a@x.test", "password": "s3cret-pass"}, format="json").status_code
        == 201
    )
    assert (
        api.post("/api/v1/mailboxes/", {"address": "bad", "password": "s3cret-pass"}, format="json").status_code == 400
    )
    rows = [(e.actor, e.via, e.action, e.object, e.detail) for e in AuditEntry.objects.order_by("id")]
    assert rows[0] == ("token:monitoring", "api", "api.call", "GET /api/v1/mailboxes/?search=x", "HTTP 200")
    assert rows[1][:4] == ("token:monitoring", "api", "mailbox.create", "a@x.test")  # the change audits itself, once
    assert rows[2] == ("token:monitoring", "api", "api.call", "POST /api/v1/mailboxes/", "HTTP 400")
    assert len(rows) == 3
    # The panel's own pages and anonymous calls add nothing; old read rows go, changes stay.
    APIClient().get("/api/v1/mailboxes/")
    assert AuditEntry.objects.count() == 3
    AuditEntry.objects.update(at=timezone.now() - timedelta(days=settings.AUDIT_API_CALL_DAYS + 1))
    assert forget_old_api_calls() == 2
    assert list(AuditEntry.objects.values_list("action", flat=True)) == ["mailbox.create"]


def test_a_domain_token_sees_only_its_domain(config_dir: Path) -> None:
    bearer(name="setup").post(
        "/api/v1/mailboxes/", {"address": "b@other.test", "password": "s3cret-pass"}, format="json"
    )
    api = bearer(domains=["other.test"])
    assert [m["address"] for m in api.get("/api/v1/mailboxes/").json()["results"]] == ["b@other.test"]
    assert api.get("/api/v1/mailboxes/user@example.test/").status_code == 404
    assert api.delete("/api/v1/mailboxes/user@example.test/").status_code == 404
    denied = api.post("/api/v1/mailboxes/", {"address": "c@example.test", "password": "s3cret-pass"}, format="json")
    assert denied.status_code == 403


def test_an_expired_token_is_401() -> None:
    api = bearer()
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    AuditEntry.objects.all().delete()
    response = api.get("/api/v1/mailboxes/")
    assert response.status_code == 401 and "expired" in response.json()["error"]
    # Audited under its name, once, so whoever still runs it can be found.
    assert list(AuditEntry.objects.values_list("actor", "action", "detail")) == [
        ("token:ci", "api.call", "HTTP 401 (the token has expired)")
    ]


def test_a_wrong_token_is_401() -> None:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION="Bearer dms_deadbeef_nope")
    assert api.get("/api/v1/mailboxes/").status_code == 401


def test_the_panel_session_works_and_needs_csrf_for_writes(superadmin) -> None:  # type: ignore[no-untyped-def]
    api = APIClient(enforce_csrf_checks=True)
    api.force_login(superadmin)
    assert api.get("/api/v1/mailboxes/").status_code == 200
    assert (
        api.post("/api/v1/mailboxes/", {"address": "s@x.test", "password": "s3cret-pass"}, format="json").status_code
        == 403
    )


def test_history_and_rollback_over_the_api(config_dir: Path, store: ConfigStore) -> None:
    api = bearer()
    created = api.post("/api/v1/mailboxes/", {"address": "h@x.test", "password": "s3cret-pass"}, format="json").json()
    sha = created["change"]["commit"]
    history = api.get("/api/v1/history/").json()
    assert history["results"][0]["sha"] == sha and history["results"][0]["author"] == "token:ci"
    assert "+h@x.test|" in api.get(f"/api/v1/history/{sha}/").json()["diff"]
    rolled = api.post(f"/api/v1/history/{sha}/rollback/")
    assert rolled.status_code == 200 and rolled.json()["files"] == ["postfix-accounts.cf"]
    assert "h@x.test" not in (config_dir / "postfix-accounts.cf").read_text()
    assert api.get("/api/v1/history/0000000000/").status_code == 404


def test_apply_and_jobs(settings) -> None:  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = "unix:///nonexistent/docker.sock"
    api = bearer()
    assert api.get("/api/v1/apply/").json() == {"needs": "none", "changes": []}
    refused = api.post("/api/v1/apply/")
    assert refused.status_code == 503 and "cannot be reached" in refused.json()["error"]
    run = JobRun.objects.create(kind="apply")
    assert api.get(f"/api/v1/jobs/{run.id}/").json()["kind"] == "apply"
    assert api.get("/api/v1/jobs/").json()["count"] == 1


def test_container_unreachable_is_503(settings) -> None:  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = "unix:///nonexistent/docker.sock"
    response = bearer().get("/api/v1/container/")
    assert response.status_code == 503 and "cannot be reached" in response.json()["error"]


def test_schema_and_docs_are_served(superadmin, client) -> None:  # type: ignore[no-untyped-def]
    client.force_login(superadmin)
    schema = client.get("/api/v1/schema/?format=json")
    assert schema.status_code == 200 and "/api/v1/mailboxes/" in schema.json()["paths"]
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200 and b"cdn." not in docs.content
