"""History in the panel and over the API: one-change rollback, its conflicts, restoring a file, filters."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from access.tokens import token_create
from dms_admin.audit import Actor
from dms_admin.configstore import ConfigStore
from dms_admin.models import AuditEntry

pytestmark = pytest.mark.django_db

VIRTUAL = "postfix-virtual.cf"
A = "a@example.test"
B = "b@example.test"


@pytest.fixture(autouse=True)
def _no_docker(settings):  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = "unix:///nonexistent/docker.sock"


def bearer(scope: str = "write") -> APIClient:
    _, secret = token_create(name=f"ci-{scope}", scope=scope, domains=None, actor=Actor("test"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def alias_lines(config_dir: Path) -> list[str]:
    return [line for line in (config_dir / VIRTUAL).read_text().splitlines() if line.startswith(("a@", "b@"))]


# ---- the issue's acceptance scenario -------------------------------------------------------


def test_acceptance_over_the_api(config_dir: Path, store: ConfigStore) -> None:
    api = bearer()
    create_a = api.post("/api/v1/aliases/", {"address": A, "targets": ["user@example.test"]}, format="json")
    assert create_a.status_code == 201, create_a.json()
    sha_a = create_a.json()["change"]["commit"]
    assert (
        api.post("/api/v1/aliases/", {"address": B, "targets": ["user@example.test"]}, format="json").status_code == 201
    )
    # Roll back "create A": only A's line goes, B (a later change, right below it) stays.
    rolled = api.post(f"/api/v1/history/{sha_a}/rollback/")
    assert rolled.status_code == 200, rolled.json()
    assert rolled.json()["files"] == [VIRTUAL] and rolled.json()["change"]["commit"]
    assert alias_lines(config_dir) == [f"{B} user@example.test"]
    assert store.history(limit=1)[0].author == "token:ci-write"
    assert AuditEntry.objects.filter(action="history.rollback", object=sha_a).exists()

    # Create A again, change its targets, roll back the creation: the later change touched A's line.
    sha_a2 = api.post("/api/v1/aliases/", {"address": A, "targets": ["user@example.test"]}, format="json")
    sha_a2 = sha_a2.json()["change"]["commit"]
    assert (
        api.put(f"/api/v1/aliases/{A}/", {"address": A, "targets": ["other@example.test"]}, format="json").status_code
        == 200
    )
    before, count = (config_dir / VIRTUAL).read_bytes(), store.count()
    refused = api.post(f"/api/v1/history/{sha_a2}/rollback/")
    assert refused.status_code == 409
    body = refused.json()
    assert set(body) == {"error", "fields", "conflicts"} and "later change" in body["error"]
    [conflict] = body["conflicts"]
    assert conflict["path"] == VIRTUAL
    assert [(line["number"], line["text"]) for line in conflict["now"]] == [(4, f"{A} other@example.test")]
    assert [line["text"] for line in conflict["change"]] == [f"{A} user@example.test"]
    assert body["fields"] == {VIRTUAL: [f"line 4: {A} other@example.test"]}
    assert (config_dir / VIRTUAL).read_bytes() == before and store.count() == count
    # A dry run says the same without writing.
    assert api.post(f"/api/v1/history/{sha_a2}/rollback/?dry_run=1").status_code == 409


def test_the_issues_scenario_create_a_create_b_delete_a_roll_back_create_a_keeps_b(
    config_dir: Path, store: ConfigStore
) -> None:
    api = bearer()
    new = {"targets": ["user@example.test"]}
    sha_a = api.post("/api/v1/aliases/", {"address": A, **new}, format="json").json()["change"]["commit"]
    api.post("/api/v1/aliases/", {"address": B, **new}, format="json")
    api.delete(f"/api/v1/aliases/{A}/")
    # The delete put B's line where A's was: A is gone already, so undoing "create A" is no
    # conflict (git would refuse it) and leaves B alone.
    same = api.post(f"/api/v1/history/{sha_a}/rollback/")
    assert same.status_code == 200 and same.json()["files"] == [] and same.json()["change"]["commit"] is None
    assert alias_lines(config_dir) == [f"{B} user@example.test"]
    # The same with nothing below A's line.
    sha_c = api.post("/api/v1/aliases/", {"address": "c@example.test", **new}, format="json").json()["change"]["commit"]
    api.delete("/api/v1/aliases/c@example.test/")
    assert api.post(f"/api/v1/history/{sha_c}/rollback/").status_code == 200
    assert alias_lines(config_dir) == [f"{B} user@example.test"]


def test_acceptance_in_the_panel(admin_client, config_dir: Path, store: ConfigStore) -> None:  # type: ignore[no-untyped-def]
    for address in (A, B):
        response = admin_client.post(
            reverse("accounts:alias-list"), {"address": address, "targets": "user@example.test"}
        )
        assert response.status_code == 302
    sha_a = store.history(limit=2)[1].sha
    confirm = admin_client.get(reverse("history-rollback", args=[sha_a]))
    assert confirm.status_code == 200 and f"-{A} user@example.test".encode() in confirm.content
    assert f"-{B}".encode() not in confirm.content  # the old whole-file restore removed B too
    response = admin_client.post(reverse("history-rollback", args=[sha_a]), follow=True)
    assert b"Rolled back" in response.content
    assert alias_lines(config_dir) == [f"{B} user@example.test"]
    assert store.history(limit=1)[0].author == "admin"

    # A conflicting rollback: the confirm page shows the lines and offers no button; a POST is refused.
    admin_client.post(reverse("accounts:alias-list"), {"address": A, "targets": "user@example.test"})
    sha_a2 = store.history(limit=1)[0].sha
    admin_client.post(reverse("accounts:alias-edit", args=[A]), {"address": A, "targets": "other@example.test"})
    confirm = admin_client.get(reverse("history-rollback", args=[sha_a2]))
    assert b"Not rolled back" in confirm.content and b"a@example.test other@example.test" in confirm.content
    assert b'type="submit" class="danger"' not in confirm.content
    before, count = (config_dir / VIRTUAL).read_bytes(), store.count()
    refused = admin_client.post(reverse("history-rollback", args=[sha_a2]))
    assert refused.status_code == 409 and b"a@example.test user@example.test" in refused.content
    assert (config_dir / VIRTUAL).read_bytes() == before and store.count() == count


# ---- first commit, adoption ----------------------------------------------------------------


def test_the_adoption_commit_explains_why_it_cannot_be_rolled_back(admin_client, store: ConfigStore) -> None:  # type: ignore[no-untyped-def]
    adopted = store.record_external_changes() or ""
    detail = admin_client.get(reverse("history-detail", args=[adopted]))
    assert b"would empty the folder" in detail.content and b"Roll back this change" not in detail.content
    assert b"Restore this file as of this version" in detail.content
    page = admin_client.get(reverse("history-rollback", args=[adopted]))
    assert page.status_code == 200 and b"would empty the" in page.content
    count = store.count()
    assert admin_client.post(reverse("history-rollback", args=[adopted])).status_code == 400
    refused = bearer().post(f"/api/v1/history/{adopted}/rollback/")
    assert refused.status_code == 400 and "would empty the" in refused.json()["error"]
    assert store.count() == count


def test_the_first_change_in_an_empty_folder_rolls_back(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "empty"
    settings.DMS_CONFIG_DIR = folder
    settings.DMS_HISTORY_DIR = folder / ".dms-admin" / "history.git"
    api = bearer()
    created = api.post("/api/v1/aliases/", {"address": A, "targets": ["x@elsewhere.test"]}, format="json")
    assert created.status_code == 201, created.json()
    sha = created.json()["change"]["commit"]
    rolled = api.post(f"/api/v1/history/{sha}/rollback/")
    assert rolled.status_code == 200, rolled.json()
    assert not (folder / VIRTUAL).exists()


# ---- restore one file ----------------------------------------------------------------------


def test_restore_file_in_the_panel_lists_what_it_undoes(admin_client, config_dir: Path, store: ConfigStore) -> None:  # type: ignore[no-untyped-def]
    first = store.write(VIRTUAL, f"{A} user@example.test\n", actor="alice", message="Only A").sha or ""
    later = store.write(VIRTUAL, f"{B} user@example.test\n", actor="bob", message="Only B").sha or ""
    detail = admin_client.get(reverse("history-detail", args=[first]))
    url = reverse("history-restore-file", args=[first])
    assert f'{url}?path={VIRTUAL}"'.encode() in detail.content
    preview = admin_client.get(url, {"path": VIRTUAL})
    assert preview.status_code == 200 and b"Only B" in preview.content and later[:10].encode() in preview.content
    assert b"every later change" in preview.content and store.read(VIRTUAL) == f"{B} user@example.test\n"
    response = admin_client.post(url, {"path": VIRTUAL}, follow=True)
    assert b"Restored" in response.content and store.read(VIRTUAL) == f"{A} user@example.test\n"
    assert AuditEntry.objects.get(action="history.restore-file").actor == "admin"
    assert admin_client.get(url, {"path": "postfix-accounts.cf"}).status_code == 404
    assert admin_client.get(url, {"path": "../etc/passwd"}).status_code == 400
    assert admin_client.get(url, {"path": "/etc/passwd"}).status_code == 400
    assert admin_client.get(reverse("history-restore-file", args=["0" * 40]), {"path": VIRTUAL}).status_code == 404


def test_restore_file_over_the_api(config_dir: Path, store: ConfigStore) -> None:
    first = store.write(VIRTUAL, f"{A} user@example.test\n", actor="alice", message="Only A").sha or ""
    later = store.write(VIRTUAL, f"{B} user@example.test\n", actor="bob", message="Only B").sha or ""
    api = bearer()
    url = f"/api/v1/history/{first}/restore-file/"
    preview = api.post(url + "?dry_run=1", {"path": VIRTUAL}, format="json")
    assert preview.status_code == 200, preview.json()
    body = preview.json()
    assert body["dry_run"] and [c["sha"] for c in body["undone"]] == [later]
    assert set(body["undone"][0]) >= {"sha", "author", "message", "at"} and body["undone"][0]["author"] == "bob"
    assert store.read(VIRTUAL) == f"{B} user@example.test\n"
    done = api.post(url, {"path": VIRTUAL}, format="json")
    assert done.status_code == 200 and done.json()["change"]["commit"] == store.history(limit=1)[0].sha
    assert store.read(VIRTUAL) == f"{A} user@example.test\n"
    snapshot = (config_dir / VIRTUAL).read_bytes()
    for bad in ("../x", "/etc/passwd", "a/../../b", "x\x00y", "x\ny"):
        refused = api.post(url, {"path": bad}, format="json")
        assert refused.status_code == 400 and set(refused.json()) == {"error", "fields"}, bad
        assert "path" in refused.json()["fields"]
    assert api.post(url, {"path": "postfix-accounts.cf"}, format="json").status_code == 404
    assert api.post(url, {}, format="json").status_code == 400
    assert api.post(url, ["x"], format="json").status_code == 400
    assert api.post(url, {"path": 5}, format="json").status_code == 400
    assert (
        api.post("/api/v1/history/" + "0" * 40 + "/restore-file/", {"path": VIRTUAL}, format="json").status_code == 404
    )
    assert bearer("read").post(url, {"path": VIRTUAL}, format="json").status_code == 403
    assert (config_dir / VIRTUAL).read_bytes() == snapshot


# ---- filters -------------------------------------------------------------------------------


def _three_changes(store: ConfigStore) -> None:
    store.record_external_changes()
    store.write(VIRTUAL, f"{A} u@example.test\n", actor="alice", message=f"Create alias {A}")
    store.write("postfix-regexp.cf", "/x/ u@example.test\n", actor="bob", message="Create regexp alias /x/")


def test_history_page_filters(admin_client, store: ConfigStore) -> None:  # type: ignore[no-untyped-def]
    _three_changes(store)
    page = admin_client.get(reverse("history-list"), {"author": "bob"})
    assert b"Create regexp alias" in page.content and b"Create alias a@" not in page.content
    assert b"1 change match" in page.content
    page = admin_client.get(reverse("history-list"), {"file": VIRTUAL, "action": "create"})
    assert b"Create alias a@example.test</a>" in page.content and b"Create regexp alias /x/</a>" not in page.content
    page = admin_client.get(reverse("history-list"), {"search": "/x/"})
    assert (
        b"Create regexp alias /x/</a>" in page.content and b"Adopted the existing configuration</a>" not in page.content
    )
    page = admin_client.get(reverse("history-list"), {"after": "2000-01-01", "before": "2000-01-02"})
    assert b"No changes recorded" in page.content
    assert b"inside the config folder" in admin_client.get(reverse("history-list"), {"file": "../x"}).content
    bad = admin_client.get(reverse("history-list"), {"after": "yesterday"})
    assert bad.status_code == 200 and b"must be a date" in bad.content
    assert b"Create regexp alias /x/</a>" in bad.content  # the list, unfiltered, under the message


def test_history_pager_keeps_the_filters(admin_client, store: ConfigStore, settings) -> None:  # type: ignore[no-untyped-def]
    from dms_admin.activity import views

    store.record_external_changes()
    for i in range(4):
        store.write(VIRTUAL, f"{A} u{i}@example.test\n", actor="alice", message=f"Change alias {A} {i}")
    views.HISTORY_PAGE_SIZE, size = 2, views.HISTORY_PAGE_SIZE
    try:
        page = admin_client.get(reverse("history-list"), {"author": "alice"})
        assert b"Page 1 of 2" in page.content and b"author=alice&amp;page=2" in page.content
        second = admin_client.get(reverse("history-list"), {"author": "alice", "page": "2"})
        assert b"Change alias a@example.test 0</a>" in second.content
        assert b"Adopted the existing configuration</a>" not in second.content
    finally:
        views.HISTORY_PAGE_SIZE = size


def test_history_api_filters(store: ConfigStore) -> None:
    _three_changes(store)
    api = bearer()
    body = api.get("/api/v1/history/", {"author": "alice"}).json()
    assert body["count"] == 1 and body["results"][0]["message"] == f"Create alias {A}"
    assert api.get("/api/v1/history/", {"file": "postfix-regexp.cf"}).json()["count"] == 1
    assert api.get("/api/v1/history/", {"action": "adopted"}).json()["count"] == 1
    assert api.get("/api/v1/history/", {"search": "REGEXP"}).json()["count"] == 1
    assert api.get("/api/v1/history/", {"after": "2099-01-01"}).json()["count"] == 0
    assert api.get("/api/v1/history/", {"before": "2099-01-01T00:00:00+00:00"}).json()["count"] == 3
    assert api.get("/api/v1/history/", {"before": "2000-01-01"}).json()["count"] == 0
    paged = api.get("/api/v1/history/", {"action": "create", "page_size": 1}).json()
    assert paged["count"] == 2 and "action=create" in paged["next"]
    for params, field in (
        ({"after": "soon"}, "after"),
        ({"file": "../etc"}, "file"),
        ({"author": "x\ny"}, "author"),
        ({"search": "a" * 201}, "search"),
        ({"search": "\x00"}, "search"),
        ({"after": "2025-01-02", "before": "2025-01-01"}, "before"),
        ({"after": "2999-01-01"}, "after"),
        ({"before": "1969-12-31"}, "before"),
    ):
        refused = api.get("/api/v1/history/", params)
        assert refused.status_code == 400 and field in refused.json()["fields"], params


def test_the_schema_documents_restore_file_and_the_409(admin_client) -> None:  # type: ignore[no-untyped-def]
    schema = admin_client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    restore = schema["paths"]["/api/v1/history/{sha}/restore-file/"]["post"]
    assert "undone" in str(schema["components"]["schemas"]["RestoreFileResult"])
    rollback = schema["paths"]["/api/v1/history/{sha}/rollback/"]["post"]
    assert "RollbackConflict" in str(rollback["responses"]["409"])
    assert "conflicts" in schema["components"]["schemas"]["RollbackConflict"]["properties"]
    assert "404" in restore["responses"]
    params = {p["name"] for p in schema["paths"]["/api/v1/history/"]["get"]["parameters"]}
    assert {"author", "file", "action", "search", "after", "before"} <= params


def test_restore_file_while_another_write_holds_the_lock_is_503(store: ConfigStore, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from dms_admin import configstore

    first = store.write(VIRTUAL, f"{A} user@example.test\n", actor="alice", message="Only A").sha or ""

    def busy(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise configstore.ConfigLockTimeout("Another change to the mail configuration is in progress.")

    monkeypatch.setattr(configstore.ConfigStore, "restore_file", busy)
    answer = bearer().post(f"/api/v1/history/{first}/restore-file/", {"path": VIRTUAL}, format="json")
    assert answer.status_code == 503 and "in progress" in answer.json()["error"]
