"""Roles: a domain admin sees and changes only their domains; an outsider reaches nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from access.models import DomainAdmin
from access.tokens import token_create
from conftest import TEST_HASH
from dms_admin.audit import Actor

pytestmark = pytest.mark.django_db


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


@pytest.fixture(autouse=True)
def two_domains(config_dir: Path, settings) -> None:  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = "unix:///nonexistent/docker.sock"
    (config_dir / "postfix-accounts.cf").write_text(f"ann@a.example|{TEST_HASH}\nbob@b.example|{TEST_HASH}\n")
    (config_dir / "postfix-virtual.cf").write_text("sales@a.example ann@a.example\nsales@b.example bob@b.example\n")


@pytest.fixture
def domain_admin_client(client, django_user_model):  # type: ignore[no-untyped-def]
    user = django_user_model.objects.create_user("alice", password="x-" * 8, is_staff=True)
    DomainAdmin.objects.create(user=user, domains=["a.example"])
    client.force_login(user)
    return client


@pytest.fixture
def outsider_client(client, django_user_model):  # type: ignore[no-untyped-def]
    client.force_login(django_user_model.objects.create_user("eve", password="x-" * 8))
    return client


def test_lists_show_only_their_domain(domain_admin_client) -> None:  # type: ignore[no-untyped-def]
    mailboxes = domain_admin_client.get(reverse("accounts:mailbox-list")).content
    assert b"ann@a.example" in mailboxes and b"bob@b.example" not in mailboxes
    aliases = domain_admin_client.get(reverse("accounts:alias-list")).content
    assert b"sales@a.example" in aliases and b"sales@b.example" not in aliases and b"Regexp aliases" not in aliases
    domains = domain_admin_client.get(reverse("domains:domain-list")).content
    assert b"a.example" in domains and b"b.example" not in domains
    assert domain_admin_client.get(reverse("home"))["Location"] == reverse("accounts:mailbox-list")


def test_another_domains_objects_are_404_and_writes_are_refused(domain_admin_client, config_dir: Path) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(config_dir)
    for url in (
        reverse("accounts:mailbox-password", args=["bob@b.example"]),
        reverse("accounts:mailbox-quota", args=["bob@b.example"]),
        reverse("accounts:mailbox-delete", args=["bob@b.example"]),
        reverse("accounts:alias-edit", args=["sales@b.example"]),
        reverse("accounts:alias-delete", args=["sales@b.example"]),
        reverse("domains:dkim-generate", args=["b.example"]),
    ):
        assert domain_admin_client.get(url).status_code == 404, url
        assert domain_admin_client.post(url, {"password": "p" * 12, "password2": "p" * 12}).status_code == 404, url
    assert domain_admin_client.get(reverse("domains:domain-detail", args=["b.example"])).status_code == 404
    created = domain_admin_client.post(
        reverse("accounts:mailbox-create"), {"address": "x@b.example", "password": "p" * 12, "password2": "p" * 12}
    )
    assert created.status_code == 200 and b"You may not manage addresses of b.example" in created.content
    alias = domain_admin_client.post(
        reverse("accounts:alias-list"), {"address": "y@b.example", "targets": "ann@a.example"}
    )
    assert b"You may not manage" in alias.content
    assert snapshot(config_dir) == before


def test_their_own_domain_works(domain_admin_client, config_dir: Path) -> None:  # type: ignore[no-untyped-def]
    response = domain_admin_client.post(
        reverse("accounts:mailbox-create"), {"address": "new@a.example", "password": "p" * 12, "password2": "p" * 12}
    )
    assert response.status_code == 302 and "new@a.example|" in (config_dir / "postfix-accounts.cf").read_text()


WHOLE_SERVER = [
    "/settings/",
    "/apply/",
    "/history/",
    "/audit/",
    "/backups/",
    "/spam/",
    "/health/",
    "/mailboxes/relays/",
    "/mailboxes/tokens/",
    "/django-admin/",
]


@pytest.mark.parametrize("url", WHOLE_SERVER)
def test_whole_server_pages_are_403(domain_admin_client, url: str) -> None:  # type: ignore[no-untyped-def]
    assert domain_admin_client.get(url).status_code == 403


def test_a_domain_admin_sees_and_stops_only_the_jobs_they_started(domain_admin_client) -> None:  # type: ignore[no-untyped-def]
    from dms_admin.models import JobRun

    theirs = JobRun.objects.create(kind="mailbox-purge", created_by="alice", status="running", func="x.y")
    other = JobRun.objects.create(kind="backup", created_by="admin", status="running", func="x.y")
    listed = domain_admin_client.get(reverse("job-list")).content.decode()
    assert f"job-{theirs.id}" in listed and f"job-{other.id}" not in listed and ">Jobs</a>" in listed
    assert domain_admin_client.get(reverse("job-detail", args=[other.id])).status_code == 404
    assert domain_admin_client.post(reverse("job-stop", args=[other.id])).status_code == 404
    assert domain_admin_client.post(reverse("job-cancel", args=[other.id])).status_code == 404
    assert domain_admin_client.post(reverse("job-retry", args=[theirs.id])).status_code == 403  # superadmins only
    domain_admin_client.post(reverse("job-stop", args=[theirs.id]))
    theirs.refresh_from_db()
    other.refresh_from_db()
    assert theirs.stop_requested_by == "alice" and other.stop_requested_by == ""
    _, secret = token_create(name="limited", scope="write", domains=["a.example"], actor=Actor("t"))
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.get("/api/v1/jobs/").json()["count"] == 0  # a token sees the jobs it started
    assert api.get(f"/api/v1/jobs/{other.id}/").status_code == 404


def test_api_with_their_session(domain_admin_client) -> None:  # type: ignore[no-untyped-def]
    api = APIClient()
    api.cookies = domain_admin_client.cookies  # the panel's session
    listed = api.get("/api/v1/mailboxes/").json()
    assert [m["address"] for m in listed["results"]] == ["ann@a.example"]
    assert api.get("/api/v1/mailboxes/bob@b.example/").status_code == 404
    assert api.get("/api/v1/settings/").status_code == 403
    assert api.get("/api/v1/history/").status_code == 403


def test_a_domain_limited_token_cannot_reach_whole_server_endpoints() -> None:
    _, secret = token_create(name="limited", scope="write", domains=["a.example"], actor=Actor("t"))
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.get("/api/v1/mailboxes/").json()["count"] == 1
    for path in (
        "/api/v1/settings/",
        "/api/v1/apply/",
        "/api/v1/history/",
        "/api/v1/backups/policies/",
        "/api/v1/relays/",
    ):
        assert api.get(path).status_code == 403, path


def test_an_outsider_reaches_nothing(outsider_client) -> None:  # type: ignore[no-untyped-def]
    assert outsider_client.get(reverse("accounts:mailbox-list")).status_code == 403
    assert outsider_client.get(reverse("home")).status_code == 403
    api = APIClient()
    api.cookies = outsider_client.cookies
    assert api.get("/api/v1/mailboxes/").status_code == 403


def test_a_superadmin_creates_and_removes_a_domain_admin(admin_client, django_user_model) -> None:  # type: ignore[no-untyped-def]
    bad = admin_client.post(
        reverse("admin-list"), {"username": "dora", "password": "correct-horse-9", "domains": "not a domain"}
    )
    assert bad.status_code == 200 and not django_user_model.objects.filter(username="dora").exists()
    admin_client.post(
        reverse("admin-list"), {"username": "dora", "password": "correct-horse-9", "domains": "A.example\n"}
    )
    row = DomainAdmin.objects.get(user__username="dora")
    assert row.domains == ["a.example"] and row.user.is_staff and not row.user.is_superuser
    dora = Client()
    assert dora.login(username="dora", password="correct-horse-9")
    assert b"bob@b.example" not in dora.get(reverse("accounts:mailbox-list")).content
    assert dora.get(reverse("admin-list")).status_code == 403
    admin_client.post(reverse("admin-delete", args=[row.pk]))
    assert not django_user_model.objects.filter(username="dora").exists()
