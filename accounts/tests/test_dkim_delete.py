"""Deleting a DKIM key: the pure table/conf edits, and dkim_delete on a real config folder and history."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse

from accounts import dkim, domains
from accounts.tests.test_dkim import CONF, history_patches, pem_1024, tree, use_rspamd
from accounts.tests.test_domains import bearer
from dms_admin.audit import Actor
from dms_admin.configstore import ConfigStore
from dms_admin.errors import Conflict, FieldError
from dms_admin.models import AuditEntry, PendingChange

pytestmark = pytest.mark.django_db
ADMIN = Actor(name="admin")


# ---- pure ------------------------------------------------------------------------------------------


def test_the_keytable_loses_only_the_domains_entry_for_the_selector() -> None:
    text = (
        "# keys\nmail._domainkey.a.test a.test:mail:/etc/opendkim/keys/a.test/mail.private\n"
        "s2._domainkey.a.test a.test:s2:/etc/opendkim/keys/a.test/s2.private\n"
        "mail._domainkey.b.test b.test:mail:/etc/opendkim/keys/b.test/mail.private\n"
    )
    assert dkim.keytable_without(text, "a.test", "mail") == (
        "# keys\ns2._domainkey.a.test a.test:s2:/etc/opendkim/keys/a.test/s2.private\n"
        "mail._domainkey.b.test b.test:mail:/etc/opendkim/keys/b.test/mail.private\n"
    )
    assert dkim.keytable_without(text, "c.test", "mail") == text


def test_the_signingtable_loses_every_line_signing_with_the_key() -> None:
    text = (
        "# who signs\n*@a.test mail._domainkey.a.test\n*@sub.a.test mail._domainkey.a.test\n"
        "*@a.test s2._domainkey.a.test\n"
    )
    assert dkim.signingtable_without(text, "mail._domainkey.a.test") == "# who signs\n*@a.test s2._domainkey.a.test\n"


def test_a_domain_block_leaves_dkim_signing_conf_and_the_rest_stays() -> None:
    edited = dkim.dkim_signing_remove_domain(CONF, "other.test")
    assert dkim.dkim_signing_domains(edited) == {
        "quoted.test": ("/tmp/docker-mailserver/rspamd/dkim/q.private.txt", "q"),
        "*": ("/tmp/docker-mailserver/rspamd/dkim/rsa-2048-$selector-$domain.private.txt", "fallback"),
    }
    assert edited == CONF.replace(
        '    other.test {\n        path = "/tmp/docker-mailserver/rspamd/dkim/rsa-2048-mail-other.test.private.txt";\n'
        '        selector = "mail";\n    }\n',
        "",
    )
    assert dkim.dkim_signing_remove_domain(edited, "quoted.test").count("{") == 2  # domain { + the comment's
    assert dkim.dkim_signing_remove_domain(CONF, "missing.test") == CONF
    one_line = 'domain { a.test { path = "x"; selector = "m"; } b.test { path = "y"; selector = "n"; } }\n'
    assert dkim.dkim_signing_domains(dkim.dkim_signing_remove_domain(one_line, "a.test")) == {"b.test": ("y", "n")}


# ---- OpenDKIM --------------------------------------------------------------------------------------


def test_delete_removes_the_opendkim_key_and_its_lines_in_one_commit(config_dir: Path, store: ConfigStore) -> None:
    domains.dkim_generate(domain="example.test", bits=1024, actor=ADMIN)
    domains.dkim_generate(domain="other.test", bits=1024, actor=ADMIN)
    PendingChange.objects.all().delete()
    count = store.count()
    saved = domains.dkim_delete(domain="Example.TEST", actor=ADMIN)
    opendkim = config_dir / "opendkim"
    assert (opendkim / "KeyTable").read_text() == dkim.keytable_line("other.test", "mail") + "\n"
    assert (opendkim / "SigningTable").read_text() == dkim.signingtable_line("other.test", "mail") + "\n"
    assert (opendkim / "TrustedHosts").read_text() == dkim.TRUSTED_HOSTS_DEFAULT
    assert not (opendkim / "keys" / "example.test").exists()  # the emptied folder goes too
    assert (opendkim / "keys" / "other.test" / "mail.private").exists()
    assert store.count() == count + 1
    commit = store.history(limit=1)[0]
    assert commit.sha == saved.result.sha and commit.subject == "Delete DKIM key mail for example.test (opendkim)"
    assert set(commit.files) == {"opendkim/KeyTable", "opendkim/SigningTable", "opendkim/keys/example.test/mail.txt"}
    assert "opendkim/keys/example.test/mail.private" in saved.result.files  # deleted, never in the history
    assert "PRIVATE KEY" not in history_patches(config_dir) and "PRIVATE KEY" not in saved.result.diff
    assert saved.outcome and (saved.outcome.apply, saved.outcome.pending) == ("recreate", True)
    assert "opendkim/KeyTable" in PendingChange.objects.values_list("path", flat=True)
    assert AuditEntry.objects.get(action="dkim.delete").object == "mail example.test"
    assert saved.key.name == "mail._domainkey.example.test" and saved.key.value.startswith("v=DKIM1;")
    assert domains.dkim_get("example.test") is None and domains.dkim_get("other.test") is not None


def test_the_last_key_leaves_empty_tables_that_dms_reads_as_none(config_dir: Path) -> None:
    domains.dkim_generate(domain="example.test", bits=1024, actor=ADMIN)
    domains.dkim_delete(domain="example.test", actor=ADMIN)
    # Kept, empty (emptyfiles.RULES): DMS copies opendkim/ only while KeyTable exists.
    assert (config_dir / "opendkim" / "KeyTable").read_text() == ""
    assert (config_dir / "opendkim" / "SigningTable").read_text() == ""
    assert not (config_dir / "opendkim" / "keys").exists()


def test_the_next_selector_signs_once_the_first_is_deleted(config_dir: Path) -> None:
    domains.dkim_generate(domain="example.test", bits=1024, actor=ADMIN)
    domains.dkim_generate(domain="example.test", selector="next", bits=1024, actor=ADMIN)
    assert [(k.selector, k.signing) for k in domains.dkim_keys("example.test")] == [("mail", True), ("next", False)]
    domains.dkim_delete(domain="example.test", selector="mail", actor=ADMIN)
    current = domains.dkim_get("example.test")
    assert current and (current.selector, current.signing) == ("next", True)
    assert [k.selector for k in domains.dkim_keys("example.test")] == ["next"]


def test_a_key_file_another_domain_uses_stays(config_dir: Path) -> None:
    domains.dkim_generate(domain="example.test", bits=1024, actor=ADMIN)
    keytable = config_dir / "opendkim" / "KeyTable"
    shared = "mail._domainkey.alias.test alias.test:mail:/etc/opendkim/keys/example.test/mail.private\n"
    keytable.write_text(keytable.read_text() + shared)
    domains.dkim_delete(domain="example.test", actor=ADMIN)
    assert keytable.read_text() == shared
    assert (config_dir / "opendkim" / "keys" / "example.test" / "mail.private").exists()


def test_a_dry_run_shows_the_removal_and_writes_nothing(config_dir: Path, store: ConfigStore) -> None:
    domains.dkim_generate(domain="example.test", bits=1024, actor=ADMIN)
    before, count = tree(config_dir), store.count()
    saved = domains.dkim_delete(domain="example.test", actor=ADMIN, dry_run=True)
    assert saved.outcome is None and saved.result.sha is None
    assert "-mail._domainkey.example.test example.test:mail:" in saved.result.diff
    assert "+++ /dev/null" in saved.result.diff and "PRIVATE KEY" not in saved.result.diff
    assert "@@ secret file removed; its contents are not shown @@" in saved.result.diff
    assert tree(config_dir) == before and store.count() == count


def test_the_deletion_rolls_back_as_a_commit(config_dir: Path, store: ConfigStore) -> None:
    domains.dkim_generate(domain="example.test", bits=1024, actor=ADMIN)
    tables = {name: (config_dir / "opendkim" / name).read_text() for name in ("KeyTable", "SigningTable")}
    zone = (config_dir / "opendkim" / "keys" / "example.test" / "mail.txt").read_text()
    saved = domains.dkim_delete(domain="example.test", actor=ADMIN)
    assert saved.result.sha
    store.rollback(saved.result.sha, actor="admin")
    assert {name: (config_dir / "opendkim" / name).read_text() for name in tables} == tables
    assert (config_dir / "opendkim" / "keys" / "example.test" / "mail.txt").read_text() == zone
    # The private key never was in the history: only a backup brings it back.
    assert not (config_dir / "opendkim" / "keys" / "example.test" / "mail.private").exists()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"domain": "../etc"}, "domain"),
        ({"domain": "example.test\n"}, "domain"),
        ({"domain": "example.test/../x"}, "domain"),
        ({"selector": ".."}, "selector"),
        ({"selector": "mail/../../x"}, "selector"),
        ({"selector": "mail\n"}, "selector"),
        ({"selector": "mail\x00"}, "selector"),
        ({"selector": "a" * 64}, "selector"),
    ],
)
def test_hostile_input_names_the_field_and_changes_nothing(config_dir: Path, kwargs: dict, field: str) -> None:  # type: ignore[type-arg]
    domains.dkim_generate(domain="example.test", bits=1024, actor=ADMIN)
    before = tree(config_dir)
    with pytest.raises(FieldError) as error:
        domains.dkim_delete(**{"domain": "example.test", **kwargs}, actor=ADMIN)
    assert error.value.field == field and error.value.message
    assert tree(config_dir) == before


def test_a_missing_key_is_a_conflict(config_dir: Path) -> None:
    with pytest.raises(Conflict, match="has no DKIM key"):
        domains.dkim_delete(domain="example.test", actor=ADMIN)
    domains.dkim_generate(domain="example.test", bits=1024, actor=ADMIN)
    with pytest.raises(Conflict, match="with the selector other"):
        domains.dkim_delete(domain="example.test", selector="other", actor=ADMIN)


# ---- Rspamd ----------------------------------------------------------------------------------------


def test_delete_removes_the_rspamd_key_and_its_block(config_dir: Path, store: ConfigStore) -> None:
    use_rspamd(config_dir)
    (config_dir / "rspamd").mkdir()
    (config_dir / "rspamd" / "custom-commands.conf").write_text("enable-module dkim_signing\n")
    domains.dkim_generate(domain="example.test", bits=1024, actor=ADMIN)
    domains.dkim_generate(domain="other.test", selector="s1", bits=1024, actor=ADMIN)
    saved = domains.dkim_delete(domain="example.test", actor=ADMIN)
    conf = (config_dir / "rspamd" / "override.d" / "dkim_signing.conf").read_text()
    assert dkim.dkim_signing_domains(conf) == {
        "other.test": ("/tmp/docker-mailserver/rspamd/dkim/rsa-1024-s1-other.test.private.txt", "s1")
    }
    assert sorted(p.name for p in (config_dir / "rspamd" / "dkim").iterdir()) == [
        "rsa-1024-s1-other.test.private.txt",
        "rsa-1024-s1-other.test.public.dns.txt",
        "rsa-1024-s1-other.test.public.txt",
    ]
    commit = store.history(limit=1)[0]
    assert set(commit.files) == {
        "rspamd/override.d/dkim_signing.conf",
        "rspamd/custom-commands.conf",
        "rspamd/dkim/rsa-1024-mail-example.test.public.txt",
        "rspamd/dkim/rsa-1024-mail-example.test.public.dns.txt",
    }
    # Rspamd reads the keys where the conf names them: the conf change is all it needs (watched).
    assert saved.outcome and (saved.outcome.apply, saved.outcome.pending) == ("watched", False)
    assert domains.dkim_get("example.test") is None


def test_a_key_rspamd_finds_through_the_shared_path_is_refused(config_dir: Path) -> None:
    use_rspamd(config_dir)
    (config_dir / "rspamd" / "override.d").mkdir(parents=True)
    (config_dir / "rspamd" / "override.d" / "dkim_signing.conf").write_text(CONF)
    (config_dir / "rspamd" / "dkim").mkdir()
    (config_dir / "rspamd" / "dkim" / "rsa-2048-fallback-new.test.private.txt").write_text(pem_1024())
    before = tree(config_dir)
    with pytest.raises(Conflict, match="top-level path"):
        domains.dkim_delete(domain="new.test", actor=ADMIN)
    assert tree(config_dir) == before


# ---- the API ---------------------------------------------------------------------------------------


def test_api_delete_answers_the_deleted_key_and_the_change(config_dir: Path, store: ConfigStore) -> None:
    domains.dkim_generate(domain="example.test", bits=1024, actor=ADMIN)
    domains.dkim_generate(domain="example.test", selector="next", bits=1024, actor=ADMIN)
    api = bearer()
    preview = api.delete("/api/v1/domains/example.test/dkim/?dry_run=1")
    assert preview.status_code == 200 and preview.json()["apply"] == "recreate" and preview.json()["dry_run"]
    assert "-*@example.test mail._domainkey.example.test" in preview.json()["diff"]
    assert (config_dir / "opendkim" / "keys" / "example.test" / "mail.private").exists()
    gone = api.delete("/api/v1/domains/example.test/dkim/")
    assert gone.status_code == 200, gone.json()
    body = gone.json()
    assert body["selector"] == "mail" and body["name"] == "mail._domainkey.example.test" and body["value"]
    assert body["change"] == {"commit": store.history(limit=1)[0].sha, "apply": "recreate", "pending": True}
    assert AuditEntry.objects.get(action="dkim.delete").actor == "token:ci"
    now = api.get("/api/v1/domains/example.test/dkim/").json()
    assert now["selector"] == "next" and now["signing"] is True
    assert api.get("/api/v1/domains/example.test/dkim/next/").json()["selector"] == "next"
    assert api.delete("/api/v1/domains/example.test/dkim/next/").status_code == 200
    missing = api.delete("/api/v1/domains/example.test/dkim/")
    assert missing.status_code == 404 and "has no DKIM key" in missing.json()["error"]
    assert api.get("/api/v1/domains/example.test/dkim/next/").status_code == 404


@pytest.mark.parametrize(
    ("url", "codes"),
    [
        ("/api/v1/domains/example.test/dkim/../", {400, 404}),
        ("/api/v1/domains/example.test/dkim/mail%0A/", {400}),
        ("/api/v1/domains/example.test/dkim/mail%00/", {400}),
        ("/api/v1/domains/example.test/dkim/a%2Fb/", {400, 404}),
        ("/api/v1/domains/example.test/dkim/..%2F..%2Fetc/", {400, 404}),
        ("/api/v1/domains/example.test%0A/dkim/", {404}),
        ("/api/v1/domains/..%2Fetc/dkim/", {404}),
    ],
)
def test_api_hostile_delete_is_4xx_and_touches_nothing(config_dir: Path, url: str, codes: set[int]) -> None:
    domains.dkim_generate(domain="example.test", bits=1024, actor=ADMIN)
    before = tree(config_dir)
    answer = bearer().delete(url)
    assert answer.status_code in codes and set(answer.json()) >= {"error", "fields"}
    assert tree(config_dir) == before


def test_a_read_token_or_another_domains_token_cannot_delete(config_dir: Path) -> None:
    domains.dkim_generate(domain="example.test", bits=1024, actor=ADMIN)
    before = tree(config_dir)
    assert bearer(scope="read").delete("/api/v1/domains/example.test/dkim/").status_code == 403
    assert bearer(domains=["other.test"], name="o").delete("/api/v1/domains/example.test/dkim/").status_code == 404
    assert tree(config_dir) == before


# ---- the panel -------------------------------------------------------------------------------------


def test_the_confirm_page_shows_the_record_to_remove_and_post_deletes(admin_client, config_dir: Path) -> None:  # type: ignore[no-untyped-def]
    saved = domains.dkim_generate(domain="example.test", bits=1024, actor=ADMIN)
    detail = admin_client.get(reverse("domains:domain-detail", args=["example.test"])).content.decode()
    url = reverse("domains:dkim-delete", args=["example.test", "mail"])
    assert f'href="{url}"' in detail
    before = tree(config_dir)
    page = admin_client.get(url)
    html = page.content.decode()
    assert page.status_code == 200 and "Then remove this record from DNS" in html
    assert "<code>mail._domainkey.example.test</code>" in html and saved.key.value in html
    assert "-mail._domainkey.example.test example.test:mail:" in html  # the diff preview
    assert tree(config_dir) == before  # GET only shows
    done = admin_client.post(url, follow=True)
    assert done.redirect_chain[-1][0].endswith("/domains/example.test/#dkim")
    assert "Deleted the DKIM key mail of example.test" in done.content.decode()
    assert not (config_dir / "opendkim" / "keys" / "example.test").exists()
    assert domains.dkim_get("example.test") is None


def test_the_confirm_page_refuses_hostile_selectors_and_other_methods(admin_client, config_dir: Path) -> None:  # type: ignore[no-untyped-def]
    domains.dkim_generate(domain="example.test", bits=1024, actor=ADMIN)
    before = tree(config_dir)
    for selector, code in (("..", 400), ("mail%0A", 400), ("Bad_Sel", 400), ("missing", 404)):
        assert admin_client.post(f"/domains/example.test/dkim/{selector}/delete/").status_code == code, selector
    assert admin_client.post("/domains/example.test/dkim/a%2Fb/delete/").status_code == 404
    assert admin_client.put(reverse("domains:dkim-delete", args=["example.test", "mail"])).status_code == 405
    assert tree(config_dir) == before


def test_the_confirm_page_needs_login(client, config_dir: Path) -> None:  # type: ignore[no-untyped-def]
    domains.dkim_generate(domain="example.test", bits=1024, actor=ADMIN)
    before = tree(config_dir)
    answer = client.post(reverse("domains:dkim-delete", args=["example.test", "mail"]))
    assert answer.status_code == 302 and "/login" in answer["Location"]
    assert tree(config_dir) == before
