from __future__ import annotations

from pathlib import Path

import pytest
from rest_framework.test import APIClient

from access.tokens import token_create
from accounts import services
from accounts.files import Alias, parse_virtual
from accounts.services import _insert_alias
from dms_admin.audit import Actor
from dms_admin.errors import Conflict, FieldError

pytestmark = pytest.mark.django_db
ADMIN = Actor(name="admin")


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def api(scope: str = "write", domains: list[str] | None = None) -> APIClient:
    _, secret = token_create(name=f"t-{scope}-{domains}", scope=scope, domains=domains, actor=ADMIN)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def test_a_specific_alias_goes_above_its_domains_catch_all(config_dir: Path) -> None:
    (config_dir / "postfix-virtual.cf").write_text("# hand comment\n@example.test user@example.test\n")
    services.alias_save(address="Sales@Example.test", targets=["user@example.test", "x@other.test"], actor=ADMIN)
    assert (config_dir / "postfix-virtual.cf").read_text() == (
        "# hand comment\nsales@example.test user@example.test,x@other.test\n@example.test user@example.test\n"
    )


def test_a_new_alias_is_appended_exactly_as_a_full_parse_would_write_it(config_dir: Path) -> None:
    """The quick path (key scans, no parse) and the full parse give the same bytes."""
    messy = "# hand comment\r\nkeep@example.test user@example.test\r\n\r\n  spaced@other.test x@y.test  \r\nno-newline"
    (config_dir / "postfix-virtual.cf").write_bytes(messy.encode())
    services.alias_save(address="New@Example.test", targets=["user@example.test", "x@other.test"], actor=ADMIN)
    virtual = parse_virtual(messy)
    _insert_alias(virtual, Alias("new@example.test", ("user@example.test", "x@other.test")))
    assert (config_dir / "postfix-virtual.cf").read_text() == virtual.render()
    # A key differing only in case, or a hand-written catch-all of the domain, takes the full parse.
    with pytest.raises(Conflict, match="exists already"):
        services.alias_save(address="KEEP@example.test", targets=["x@other.test"], actor=ADMIN)
    (config_dir / "postfix-virtual.cf").write_text("@OTHER.test x@y.test\n")
    services.alias_save(address="a@other.test", targets=["x@y.test"], actor=ADMIN)
    assert (config_dir / "postfix-virtual.cf").read_text() == "a@other.test x@y.test\n@OTHER.test x@y.test\n"


def test_a_catch_all_warns_about_the_mailboxes_it_shadows(config_dir: Path) -> None:
    saved = services.alias_save(address="@example.test", targets=["user@example.test"], actor=ADMIN)
    assert saved.warnings and "user@example.test" in saved.warnings[0]


@pytest.mark.parametrize(
    ("address", "targets", "field"),
    [
        ("a\nb@example.test", ["user@example.test"], "address"),
        ("a@example.test", ["user@example.test\n@evil.test x@y.test"], "targets"),
        ("a@example.test", ["u1@example.test,u2@example.test"], "targets"),
        ("a@example.test", [], "targets"),
        ("a@example.test", ["a@example.test"], "targets"),
        ("a b@example.test", ["user@example.test"], "address"),
        ("@", ["user@example.test"], "address"),
    ],
)
def test_bad_aliases_are_refused_and_nothing_changes(
    config_dir: Path, address: str, targets: list[str], field: str
) -> None:
    before = snapshot(config_dir)
    with pytest.raises(FieldError) as error:
        services.alias_save(address=address, targets=targets, actor=ADMIN)
    assert error.value.field == field
    assert snapshot(config_dir) == before


def test_an_alias_cannot_be_a_mailbox_or_exist_twice(config_dir: Path) -> None:
    before = snapshot(config_dir)
    with pytest.raises(Conflict, match="is a mailbox"):
        services.alias_save(address="user@example.test", targets=["x@other.test"], actor=ADMIN)
    with pytest.raises(Conflict, match="exists already"):
        services.alias_save(address="alias@example.test", targets=["x@other.test"], actor=ADMIN)
    assert snapshot(config_dir) == before


def test_replace_and_delete_keep_other_lines(config_dir: Path) -> None:
    (config_dir / "postfix-virtual.cf").write_text("# keep me\nalias@example.test user@example.test\nweird line\n")
    services.alias_save(address="alias@example.test", targets=["x@other.test"], replace=True, actor=ADMIN)
    assert (config_dir / "postfix-virtual.cf").read_text() == "# keep me\nalias@example.test x@other.test\nweird line\n"
    services.alias_delete(address="alias@example.test", actor=ADMIN)
    assert (config_dir / "postfix-virtual.cf").read_text() == "# keep me\nweird line\n"


def test_regexp_aliases(config_dir: Path) -> None:
    services.regexp_save(pattern="^test[0-9]+@example\\.test$", targets=["user@example.test"], actor=ADMIN)
    assert (config_dir / "postfix-regexp.cf").read_text() == "/^test[0-9]+@example\\.test$/ user@example.test\n"
    [entry] = services.regexp_list()
    services.regexp_save(
        pattern="/^qa-.*@example\\.test$/i", targets=["user@example.test"], id=services.regexp_id(entry), actor=ADMIN
    )
    assert (config_dir / "postfix-regexp.cf").read_text() == "/^qa-.*@example\\.test$/i user@example.test\n"


@pytest.mark.parametrize(
    ("pattern", "field"), [("^(unclosed@x$", "pattern"), ("a/b", "pattern"), ("x\ny", "pattern"), ("", "pattern")]
)
def test_bad_regexps_are_refused(config_dir: Path, pattern: str, field: str) -> None:
    before = snapshot(config_dir)
    with pytest.raises(FieldError) as error:
        services.regexp_save(pattern=pattern, targets=["user@example.test"], actor=ADMIN)
    assert error.value.field == field and snapshot(config_dir) == before


def test_alias_api_round_trip() -> None:
    client = api()
    created = client.post(
        "/api/v1/aliases/", {"address": "team@example.test", "targets": ["user@example.test"]}, format="json"
    )
    assert created.status_code == 201 and created.json()["change"]["apply"] == "watched"
    assert client.get("/api/v1/aliases/team@example.test/").json()["targets"] == ["user@example.test"]
    put = client.put("/api/v1/aliases/team@example.test/", {"targets": ["a@x.test", "b@x.test"]}, format="json")
    assert put.json()["targets"] == ["a@x.test", "b@x.test"]
    assert client.get("/api/v1/aliases/", {"search": "team"}).json()["count"] == 1
    assert client.delete("/api/v1/aliases/team@example.test/").status_code == 200
    assert client.get("/api/v1/aliases/team@example.test/").status_code == 404
    bad = client.post("/api/v1/aliases/", {"address": "x@example.test", "targets": ["not an address"]}, format="json")
    assert bad.status_code == 400 and "targets" in bad.json()["fields"]


def test_regexp_api_and_domain_tokens() -> None:
    client = api()
    created = client.post(
        "/api/v1/regexp-aliases/", {"pattern": "^qa.*@example\\.test$", "targets": ["user@example.test"]}, format="json"
    )
    assert created.status_code == 201
    rid = created.json()["id"]
    assert client.get(f"/api/v1/regexp-aliases/{rid}/").json()["pattern"] == "^qa.*@example\\.test$"
    bad = client.post("/api/v1/regexp-aliases/", {"pattern": "(", "targets": ["user@example.test"]}, format="json")
    assert bad.status_code == 400 and "pattern" in bad.json()["fields"]
    assert api(domains=["example.test"]).get("/api/v1/regexp-aliases/").status_code == 403
    limited = api(domains=["other.test"])
    assert limited.get("/api/v1/aliases/alias@example.test/").status_code == 404
    assert limited.get("/api/v1/aliases/").json()["count"] == 0
