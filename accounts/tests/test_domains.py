"""Domains: the derived list, the panel pages and the REST endpoints (domains/, dns/, dkim/)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from access.tokens import token_create
from accounts import dkim, domains
from accounts.jobs import dkim_generate_job
from dms_admin.audit import Actor
from dms_admin.configstore import ConfigStore
from dms_admin.models import AuditEntry, JobRun

# The marker goes once dms_admin/urls.py and dms_admin/api/urls.py include the domain URLs.
pytestmark = [pytest.mark.django_db]
ADMIN = Actor(name="admin")
HASH = "{SHA512-CRYPT}$6$x$y"


def tree(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and ".dms-admin" not in p.relative_to(folder).parts
    }


def bearer(scope: str = "write", domains: list[str] | None = None, name: str = "ci") -> APIClient:
    _, secret = token_create(name=name, scope=scope, domains=domains, actor=Actor("test"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.fixture
def two_domains(config_dir: Path) -> Path:
    (config_dir / "postfix-accounts.cf").write_text(
        f"# accounts\nuser@example.test|{HASH}\nAnn@Example.TEST|{HASH}\nbob@other.test|{HASH}\nbroken line\n"
    )
    (config_dir / "postfix-virtual.cf").write_text(
        "# aliases\nalias@example.test user@example.test\n@catch.test user@example.test\n"
        "postmaster user@example.test\nsales@other.test bob@other.test,x@elsewhere.test\n"
    )
    return config_dir


# ---- the service -----------------------------------------------------------------------------------


def test_the_list_comes_from_accounts_and_aliases_with_counts(two_domains: Path) -> None:
    domains.dkim_generate(domain="other.test", bits=1024, actor=ADMIN)
    assert domains.domain_list() == [
        domains.Domain("catch.test", mailboxes=0, aliases=1, catch_all=True),
        domains.Domain("example.test", mailboxes=2, aliases=1),
        domains.Domain("other.test", mailboxes=1, aliases=1, dkim_selector="mail"),
    ]  # alias targets (elsewhere.test) and bare local aliases are not domains of ours
    assert [d.name for d in domains.domain_list(search="OTH")] == ["other.test"]
    assert domains.domain_get("Example.TEST.") == domains.Domain("example.test", mailboxes=2, aliases=1)
    assert domains.domain_get("elsewhere.test") is None and domains.domain_get("not a domain") is None


def test_the_list_shows_rspamd_selectors_when_rspamd_signs(two_domains: Path) -> None:
    with open(two_domains / "mailserver.env", "a") as fh:
        fh.write("ENABLE_RSPAMD=1\nENABLE_OPENDKIM=0\n")
    domains.dkim_generate(domain="example.test", selector="r1", bits=1024, actor=ADMIN)
    assert {d.name: d.dkim_selector for d in domains.domain_list()}["example.test"] == "r1"


# ---- the API ---------------------------------------------------------------------------------------


def test_api_lists_domains_with_counts(two_domains: Path) -> None:
    api = bearer(scope="read")
    body = api.get("/api/v1/domains/").json()
    assert body["count"] == 3 and body["next"] is None
    assert body["results"][1] == {
        "domain": "example.test",
        "mailboxes": 2,
        "aliases": 1,
        "catch_all": False,
        "dkim_selector": None,
    }
    assert [d["domain"] for d in api.get("/api/v1/domains/", {"search": "catch"}).json()["results"]] == ["catch.test"]


def test_a_domain_token_sees_only_its_domains(two_domains: Path) -> None:
    api = bearer(domains=["other.test"])
    assert [d["domain"] for d in api.get("/api/v1/domains/").json()["results"]] == ["other.test"]
    for url in ("/api/v1/domains/example.test/dns/?check=0", "/api/v1/domains/example.test/dkim/"):
        response = api.get(url)
        assert response.status_code == 404 and set(response.json()) == {"error", "fields"}
    denied = api.post("/api/v1/domains/example.test/dkim/", {"bits": 1024}, format="json")
    assert denied.status_code == 404 and not (two_domains / "opendkim").exists()
    assert api.post("/api/v1/domains/other.test/dkim/", {"bits": 1024}, format="json").status_code == 201


def test_api_dkim_get_post_and_conflict(config_dir: Path, store: ConfigStore) -> None:
    api = bearer()
    missing = api.get("/api/v1/domains/example.test/dkim/")
    assert missing.status_code == 404 and "no DKIM key yet" in missing.json()["error"]
    created = api.post("/api/v1/domains/Example.test/dkim/", {"selector": "s1", "bits": 1024}, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["domain"] == "example.test" and body["selector"] == "s1" and body["bits"] == 1024
    assert body["engine"] == "opendkim" and body["name"] == "s1._domainkey.example.test" and body["signing"] is True
    assert body["value"].startswith("v=DKIM1; h=sha256; k=rsa; p=MIGfMA0")
    assert dkim.zone_value(body["zone"]) == body["value"]
    assert body["change"] == {"commit": store.history(limit=1)[0].sha, "apply": "recreate", "pending": True}
    assert AuditEntry.objects.get(action="dkim.generate").actor == "token:ci"
    shown = api.get("/api/v1/domains/example.test/dkim/").json()
    assert {k: shown[k] for k in ("selector", "bits", "value")} == {k: body[k] for k in ("selector", "bits", "value")}
    again = api.post("/api/v1/domains/example.test/dkim/", {"selector": "s1"}, format="json")
    assert again.status_code == 409 and "selector" in again.json()["fields"]
    forced = api.post("/api/v1/domains/example.test/dkim/", {"selector": "s1", "force": True}, format="json")
    assert forced.status_code == 201 and forced.json()["bits"] == 2048 and forced.json()["value"] != body["value"]


def test_api_dkim_dry_run_answers_the_diff_and_writes_nothing(config_dir: Path) -> None:
    before = tree(config_dir)
    response = bearer().post("/api/v1/domains/example.test/dkim/?dry_run=1", {"bits": 1024}, format="json")
    assert response.status_code == 200 and response.json()["apply"] == "recreate"
    assert "+*@example.test mail._domainkey.example.test" in response.json()["diff"]
    assert "PRIVATE KEY" not in response.json()["diff"]
    assert tree(config_dir) == before


@pytest.mark.parametrize(
    ("payload", "field"),
    [({"bits": 512}, "bits"), ({"selector": "no_good"}, "selector"), ({"force": "maybe"}, "force")],
)
def test_api_bad_input_is_400_with_the_field(config_dir: Path, payload: dict, field: str) -> None:  # type: ignore[type-arg]
    before = tree(config_dir)
    response = bearer().post("/api/v1/domains/example.test/dkim/", payload, format="json")
    assert response.status_code == 400 and field in response.json()["fields"] and response.json()["error"]
    assert tree(config_dir) == before


def test_a_read_token_can_look_but_not_generate(config_dir: Path) -> None:
    api = bearer(scope="read")
    assert api.get("/api/v1/domains/example.test/dns/?check=0").status_code == 200
    response = api.post("/api/v1/domains/example.test/dkim/", {"bits": 1024}, format="json")
    assert response.status_code == 403 and response.json()["error"]
    assert not (config_dir / "opendkim").exists()


def test_api_dns_lists_the_records_without_and_with_the_check(config_dir: Path, settings) -> None:  # type: ignore[no-untyped-def]
    api = bearer()
    body = api.get("/api/v1/domains/example.test/dns/", {"check": "0"}).json()
    assert body["domain"] == "example.test" and body["checked"] is False
    assert [(r["kind"], r["ok"], r["status"]) for r in body["records"]] == [
        ("MX", None, "not checked"),
        ("SPF", None, "not checked"),
        ("DKIM", None, "not checked"),
        ("DMARC", None, "not checked"),
    ]
    assert body["records"][0]["expected"] == "10 mail.example.test"
    settings.DNS_RESOLVER = "not-an-address"  # the check still answers, record by record
    checked = api.get("/api/v1/domains/example.test/dns/").json()
    assert checked["checked"] is True and all(r["ok"] is False for r in checked["records"])
    assert [r["status"] for r in checked["records"]] == [
        "DNS did not answer",
        "DNS did not answer",
        "unknown",
        "DNS did not answer",
    ]
    assert checked["records"][2]["fix"].startswith("Generate a DKIM key")  # no key yet: that comes first
    assert all(r["answer"] == "DNS did not answer" and r["found"] == [] for r in checked["records"])
    assert api.get("/api/v1/domains/nowhere.test/dns/").status_code == 404


def test_no_token_is_401() -> None:
    response = APIClient().get("/api/v1/domains/")
    assert response.status_code == 401 and set(response.json()) == {"error", "fields"}


def test_the_schema_describes_the_domain_endpoints(admin_client) -> None:  # type: ignore[no-untyped-def]
    paths = admin_client.get("/api/v1/schema/?format=json").json()["paths"]
    assert {"/api/v1/domains/", "/api/v1/domains/{domain}/dns/", "/api/v1/domains/{domain}/dkim/"} <= set(paths)


# ---- the panel -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "args"), [("domain-list", []), ("domain-detail", ["example.test"]), ("dkim-generate", ["example.test"])]
)
def test_pages_need_login(client, name: str, args: list[str]) -> None:  # type: ignore[no-untyped-def]
    assert client.get(reverse(f"domains:{name}", args=args))["Location"].startswith("/login/")


def test_anonymous_post_writes_nothing(client, config_dir: Path) -> None:  # type: ignore[no-untyped-def]
    before = tree(config_dir)
    client.post(reverse("domains:dkim-generate", args=["example.test"]), {"selector": "mail", "bits": "1024"})
    assert tree(config_dir) == before


def test_list_page_shows_domains_with_counts(admin_client, two_domains: Path) -> None:  # type: ignore[no-untyped-def]
    page = admin_client.get(reverse("domains:domain-list")).content.decode()
    assert "example.test" in page and "catch-all" in page and "no key" in page
    assert reverse("domains:domain-detail", args=["other.test"]) in page


def test_list_query_count_does_not_grow_with_domains(
    admin_client, config_dir: Path, django_assert_max_num_queries
) -> None:  # type: ignore[no-untyped-def]
    with open(config_dir / "postfix-accounts.cf", "a") as fh:
        for i in range(200):
            fh.write(f"u@d{i}.example.test|{HASH}\n")
    with django_assert_max_num_queries(4):
        response = admin_client.get(reverse("domains:domain-list"))
    assert response.status_code == 200 and b"d199.example.test" in response.content


def test_detail_page_shows_the_records_and_the_generate_form(admin_client) -> None:  # type: ignore[no-untyped-def]
    page = admin_client.get(reverse("domains:domain-detail", args=["example.test"])).content.decode()
    assert "_dmarc.example.test" in page and "v=spf1 mx -all" in page and "10 mail.example.test" in page
    assert "Check DNS now" in page and "No DKIM key yet" in page and 'name="selector"' in page
    assert admin_client.get(reverse("domains:domain-detail", args=["nowhere.test"])).status_code == 404
    assert admin_client.get(reverse("domains:domain-detail", args=["bad domain"])).status_code == 404


def test_check_dns_now_answers_the_records_fragment_to_htmx(admin_client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.DNS_RESOLVER = "not-an-address"
    url = reverse("domains:domain-detail", args=["example.test"])
    fragment = admin_client.get(url, {"check": "1"}, headers={"HX-Request": "true"}).content.decode()
    assert fragment.startswith('<div id="dns-records">') and "<html" not in fragment
    assert fragment.count("DNS did not answer") >= 4 and "Checked just now" in fragment


def test_generate_page_previews_then_post_generates(admin_client, config_dir: Path) -> None:  # type: ignore[no-untyped-def]
    url = reverse("domains:dkim-generate", args=["example.test"])
    before = tree(config_dir)
    preview = admin_client.get(url).content.decode()
    assert "+mail._domainkey.example.test example.test:mail:" in preview and "secret file changed" in preview
    assert tree(config_dir) == before  # GET only previews
    response = admin_client.post(url, {"selector": "s1", "bits": "1024"})
    run = JobRun.objects.get(kind="dkim")  # making the key is a job, with progress on its page
    assert response.status_code == 302 and response["Location"] == reverse("job-detail", args=[run.id])
    assert tree(config_dir) == before
    dkim_generate_job(str(run.id), *run.args)  # what the worker does
    assert (config_dir / "opendkim" / "keys" / "example.test" / "s1.private").exists()
    job_page = admin_client.get(response["Location"]).content.decode()
    detail = reverse("domains:domain-detail", args=["example.test"])
    assert "DKIM key s1 generated" in job_page and f'href="{detail}"' in job_page
    key = domains.dkim_get("example.test")
    assert key and key.value in admin_client.get(detail).content.decode()
    assert AuditEntry.objects.filter(action="dkim.generate", actor="admin").exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [({"selector": "Not Valid", "bits": "1024"}, "letters a-z"), ({"selector": "mail", "bits": "512"}, "valid choice")],
)
def test_generate_bad_input_shows_the_error_and_writes_nothing(
    admin_client, config_dir: Path, data: dict, message: str
) -> None:  # type: ignore[no-untyped-def,type-arg]
    before = tree(config_dir)
    response = admin_client.post(reverse("domains:dkim-generate", args=["example.test"]), data)
    assert response.status_code == 200 and message in response.content.decode()
    assert tree(config_dir) == before


def test_generate_refuses_to_replace_a_key_unless_asked(admin_client, config_dir: Path) -> None:  # type: ignore[no-untyped-def]
    url = reverse("domains:dkim-generate", args=["example.test"])
    admin_client.post(url, {"selector": "mail", "bits": "1024"})
    busy = admin_client.post(url, {"selector": "other", "bits": "1024"})  # while the first is queued
    assert busy.status_code == 200 and "already being generated" in busy.content.decode()
    run = JobRun.objects.get(kind="dkim")
    dkim_generate_job(str(run.id), *run.args)
    before = tree(config_dir)
    refused = admin_client.post(url, {"selector": "mail", "bits": "1024"})
    assert refused.status_code == 200 and "already" in refused.content.decode() and tree(config_dir) == before
    assert admin_client.post(url, {"selector": "mail", "bits": "1024", "force": "on"}).status_code == 302
    forced = JobRun.objects.get(kind="dkim", status="queued")
    dkim_generate_job(str(forced.id), *forced.args)
    assert tree(config_dir) != before


def test_generate_page_is_get_or_post_only(admin_client) -> None:  # type: ignore[no-untyped-def]
    assert admin_client.put(reverse("domains:dkim-generate", args=["example.test"])).status_code == 405
    assert admin_client.post(reverse("domains:domain-detail", args=["example.test"])).status_code == 405
