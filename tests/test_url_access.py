"""Every URL pattern, walked as every persona: who may open what is decided in ACCESS, one table.

A URL pattern without an entry fails here, so nobody adds a page without saying who may open it.
Write methods are sent with an empty or invalid body: the walk checks the authorization outcome
only (anything but 401/403/404/a sign-in redirect is "allowed"); what a write does is for the
feature's own tests. Nothing outside the test answers: no Docker engine, no Redis, no DNS.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, path, reverse
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

pytestmark = pytest.mark.django_db

ALLOWED = "allowed"
# Django's admin and django-rq: third-party trees under /django-admin/, superadmins only as a whole.
THIRD_PARTY = "django-admin/*"


@dataclasses.dataclass(frozen=True)
class Decision:
    role: str  # superadmin | domain | mail-user | public | login
    other: str = ALLOWED  # for other.test's admin and token: "404" when the object is example.test's
    fill: Mapping[str, str] = dataclasses.field(default_factory=dict)  # converter -> world key
    expect: Mapping[str, str] = dataclasses.field(default_factory=dict)  # "persona", "persona METHOD" or "METHOD"


SUPERADMIN = Decision("superadmin")  # whole-server: 403 for domain admins
DOMAIN = Decision("domain")  # any admin; lists and forms show a domain admin only their domains
OBJECT = Decision("domain", other="404")  # one object of example.test: not even there for other.test
MAIL_USER = Decision("mail-user")  # /me/: the signed-in mail user; anyone else to /me/login/
PUBLIC = Decision("public")  # the same answer for everyone, never a refusal or a sign-in redirect
LOGIN = Decision("login")  # signing in and out: the same answer for everyone, never a 401/403

ALIAS = {"address": "alias"}
# A saved change's status line: for the session that saved it (they watch it apply); 404 for anyone else.
WATCHED = Decision("public", fill={"run_id": "confirm_id"}, expect={"superadmin": ALLOWED, "mail_user": ALLOWED})
# To the panel's sign-in, where the second factor and the throttle apply, for everyone.
ADMIN_LOGIN = LOGIN

ACCESS: dict[str, Decision] = {
    "home": DOMAIN,  # a domain admin is sent on to their mailboxes
    "login": LOGIN,
    "login-2fa": LOGIN,
    "two-factor": DOMAIN,  # their own account
    "two-factor-disable": DOMAIN,
    "two-factor-recovery": DOMAIN,
    "first-run": LOGIN,
    "logout": LOGIN,
    "healthz": PUBLIC,
    "favicon.ico": PUBLIC,
    "metrics": PUBLIC,  # 404 until METRICS_TOKEN is set, then its own token (tests/test_health.py)
    "history-list": SUPERADMIN,
    "history-detail": SUPERADMIN,
    "history-rollback": SUPERADMIN,
    "history-restore-file": SUPERADMIN,
    "audit-list": SUPERADMIN,
    "admin-list": SUPERADMIN,
    "admin-delete": SUPERADMIN,
    "apply": SUPERADMIN,
    "settings": SUPERADMIN,
    "health": SUPERADMIN,
    "logs": SUPERADMIN,
    "fail2ban-list": SUPERADMIN,
    "fail2ban-ban": SUPERADMIN,
    "fail2ban-unban": SUPERADMIN,
    "updates": SUPERADMIN,
    "update-start": SUPERADMIN,
    "settings-fix": SUPERADMIN,
    "job-list": DOMAIN,  # a domain admin sees the jobs they started
    "job-detail": OBJECT,  # the job is dana's (example.test's admin)
    "apply-status": WATCHED,
    "job-retry": SUPERADMIN,  # a retry runs the job as it was, without today's domain checks
    "job-cancel": OBJECT,
    "job-stop": OBJECT,
    "accounts:mailbox-list": DOMAIN,
    "accounts:relay-list": SUPERADMIN,
    "accounts:relay-delete": SUPERADMIN,
    "accounts:restriction-add": SUPERADMIN,
    "accounts:restriction-delete": SUPERADMIN,
    "token-list": SUPERADMIN,
    "token-delete": Decision("superadmin", fill={"pk": "token_pk"}),
    "accounts:alias-list": DOMAIN,
    "accounts:regexp-create": SUPERADMIN,  # a pattern can match any domain
    "accounts:regexp-delete": SUPERADMIN,
    "accounts:alias-edit": Decision("domain", other="404", fill=ALIAS),
    "accounts:alias-delete": Decision("domain", other="404", fill=ALIAS),
    "accounts:mailbox-create": DOMAIN,
    "accounts:mailbox-password": OBJECT,
    "accounts:mailbox-quota": OBJECT,
    "accounts:mailbox-delete": OBJECT,
    "domains:domain-list": DOMAIN,
    "domains:domain-detail": OBJECT,
    "domains:dkim-generate": OBJECT,
    "domains:dkim-delete": Decision("domain", other="404", expect={"GET": "404", "POST": "404"}),  # no key yet
    "self:settings": MAIL_USER,
    "self:login": Decision("login", expect={"mail_user GET": "302:/me/"}),  # already signed in
    "self:logout": LOGIN,
    "self:password": MAIL_USER,
    "self:apple-profile": MAIL_USER,
    "mailrules_self:rules": MAIL_USER,
    "mailrules:rules": OBJECT,
    "autoconfig": PUBLIC,
    "autoconfig-well-known": PUBLIC,
    "autodiscover": PUBLIC,
    "Autodiscover/Autodiscover.xml": PUBLIC,
    "backups:policy-list": SUPERADMIN,
    "backups:policy-create": SUPERADMIN,
    "backups:policy-edit": SUPERADMIN,
    "backups:policy-run": SUPERADMIN,
    "backups:archive-list": SUPERADMIN,
    "backups:archive-verify": SUPERADMIN,
    "backups:archive-restore": SUPERADMIN,
    "backups:archive-download": SUPERADMIN,
    "spam:settings": SUPERADMIN,
    "spam:subdomains": SUPERADMIN,
    "spam:rules": SUPERADMIN,
    "spam:schedule-list": SUPERADMIN,
    "spam:schedule-create": SUPERADMIN,
    "spam:schedule-edit": SUPERADMIN,
    "spam:schedule-delete": SUPERADMIN,
    "spam:schedule-run": SUPERADMIN,
    "spam:run-list": SUPERADMIN,
    "spam:bayes": SUPERADMIN,
    # The schema maps every endpoint: for admins (API_DOCS_PUBLIC opens it); the docs page is for people.
    "api-schema": DOMAIN,
    "api-docs": Decision("domain", expect={"anonymous": "login", "mail_user": "login"}),
    "api-mailbox-list": DOMAIN,
    "api-mailbox-detail": OBJECT,
    "api-quota-detail": OBJECT,
    "api-mailbox-vacation": OBJECT,
    "api-mailbox-forwarding": OBJECT,
    "api-mailbox-sieve": OBJECT,
    "api-mailbox-filters": OBJECT,
    "api-mailbox-sieve-validate": OBJECT,
    "api-alias-list": DOMAIN,
    "api-alias-detail": Decision("domain", other="404", fill=ALIAS),
    "api-regexp-list": SUPERADMIN,
    "api-regexp-detail": SUPERADMIN,
    "api-domain-list": DOMAIN,
    "api-domain-dns": OBJECT,
    "api-domain-dkim": Decision("domain", other="404", expect={"GET": "404"}),  # no key yet
    "api-domain-dkim-selector": Decision("domain", other="404", expect={"GET": "404", "DELETE": "404"}),
    "api-relay-list": SUPERADMIN,
    "api-relay-detail": SUPERADMIN,
    "api-restriction-list": SUPERADMIN,
    "api-audit": SUPERADMIN,
    "api-backup-policy-list": SUPERADMIN,
    "api-backup-policy-detail": SUPERADMIN,
    "api-backup-policy-run": SUPERADMIN,
    "api-backup-run-list": SUPERADMIN,
    "api-backup-archive-list": SUPERADMIN,
    "api-backup-archive-verify": SUPERADMIN,
    "api-backup-archive-restore": SUPERADMIN,
    # Carrying every mailbox away is more than reading: a write token even for a GET.
    "api-backup-archive-download": Decision("superadmin", expect={"read_token GET": "403"}),
    "api-spam-rules": SUPERADMIN,
    "api-spam-rules-validate": SUPERADMIN,
    "api-spam-schedule-list": SUPERADMIN,
    "api-spam-schedule-detail": SUPERADMIN,
    "api-spam-schedule-run": SUPERADMIN,
    "api-spam-run-list": SUPERADMIN,
    "api-spam-bayes": SUPERADMIN,
    "api-history-list": SUPERADMIN,
    "api-history-detail": SUPERADMIN,
    "api-history-rollback": SUPERADMIN,
    "api-history-restore-file": SUPERADMIN,
    "api-not-found": PUBLIC,  # anything else under /api/v1/: the JSON 404 for everyone
    "api-apply": SUPERADMIN,
    "api-settings": SUPERADMIN,
    "api-settings-validate": SUPERADMIN,
    "api-container": SUPERADMIN,
    "api-health": SUPERADMIN,
    "api-log-list": SUPERADMIN,
    "api-fail2ban-list": SUPERADMIN,
    "api-fail2ban-ban": SUPERADMIN,
    "api-fail2ban-unban": SUPERADMIN,
    "api-update-list": SUPERADMIN,
    "api-job-list": DOMAIN,  # a limited token sees the jobs it started
    "api-job-detail": OBJECT,
    "api-job-cancel": OBJECT,
    "api-job-stop": OBJECT,
    THIRD_PARTY: SUPERADMIN,
    # ... where the third-party view itself answers otherwise:
    "django-admin/login/": ADMIN_LOGIN,
    "admin:login": ADMIN_LOGIN,  # the admin's own, never reached: the line above comes first
    "admin:logout": Decision("superadmin", expect={"superadmin POST": "login"}),  # signed out
    "admin:autocomplete": Decision("superadmin", expect={"superadmin": "403"}),  # without app_label and model
    "admin:django_rq_dashboard_add": Decision("superadmin", expect={"superadmin": "403"}),  # not a real model
    "admin:auth_user_password_change": Decision("superadmin", fill={"id": "object_id"}),
    "django-admin/(?P<url>.*)$": Decision("superadmin", expect={"superadmin": "404"}),  # no such admin page
}


# ---- walking the URL patterns -----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Pattern:
    key: str  # the URL name with its namespaces, or the route when it has none
    route: str
    name: str | None
    params: tuple[str, ...]


def _walk(resolver: URLResolver, prefix: str = "", namespace: str = "") -> Iterator[Pattern]:
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            inner = namespace + (f"{entry.namespace}:" if entry.namespace else "")
            yield from _walk(entry, prefix + str(entry.pattern), inner)
            continue
        assert isinstance(entry, URLPattern)
        route = prefix + str(entry.pattern)
        name = namespace + entry.name if entry.name else None
        key = THIRD_PARTY if route.startswith("django-admin/") else name or route
        yield Pattern(key=key, route=route, name=name, params=tuple(entry.pattern.regex.groupindex))


def url_patterns() -> list[Pattern]:
    return list(_walk(get_resolver()))


def path_of(pattern: Pattern, values: Mapping[str, str]) -> str:
    kwargs = {p: values[p] for p in pattern.params}
    if pattern.name:
        return reverse(pattern.name, kwargs=kwargs)
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)\??", lambda m: kwargs[m.group(1)], pattern.route)
    path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: kwargs[m.group(1)], path)
    return "/" + path.replace("^", "").replace("$", "").replace("/?", "/")


# ---- the world the walk runs in: real objects for every path converter ------------------------


@pytest.fixture
def world(settings, config_dir: Path, tmp_path: Path, superadmin, domain_admin, other_domain_admin) -> dict[str, str]:  # type: ignore[no-untyped-def]
    from access.models import ApiToken, DomainAdmin
    from accounts import services as account_services
    from backups.models import BackupArchive, BackupPolicy
    from dms_admin.configstore import get_store
    from dms_admin.models import JobRun
    from spam.models import TrainingSchedule

    settings.DOCKER_HOST = "unix:///nonexistent/docker.sock"
    settings.RQ_QUEUES = {name: {"URL": "redis://127.0.0.1:1/0"} for name in ("default", "backups")}
    settings.DNS_RESOLVER = "not-an-address"  # the domain page's live check answers "DNS did not answer"
    settings.METRICS_TOKEN = ""
    (config_dir / "postfix-regexp.cf").write_text("/^info@/ user@example.test\n")
    (config_dir / "postfix-relaymap.cf").write_text("@example.test [smtp.example.test]:587\n")
    virtual = (config_dir / "postfix-virtual.cf").read_text() + "more@example.test user@example.test\n"
    get_store().write("postfix-virtual.cf", virtual, actor="admin", message="Create alias more@example.test")
    policy = BackupPolicy.objects.create(name="nightly", destination=str(tmp_path / "backups"))
    archive = tmp_path / "backups" / "nightly.tar.gz"
    archive.parent.mkdir()
    archive.write_bytes(b"not really a tar")
    token = ApiToken.objects.create(name="victim", scope="read", prefix="victim", digest="-")
    return {
        "sha": get_store().history(limit=1)[0].sha,
        "address": "user@example.test",
        "alias": "alias@example.test",
        "domain": "example.test",
        "selector": "mail",
        "direction": "send",
        "id": account_services.regexp_id(account_services.regexp_list()[0]),
        "pk": str(DomainAdmin.objects.get(user=other_domain_admin).pk),
        "token_pk": str(token.pk),
        "ip": "192.0.2.1",
        "name": "ENABLE_SPAMASSASSIN",
        # dana's job: visible to her and to superadmins; failed, so a superadmin may retry it
        "run_id": str(JobRun.objects.create(kind="backup", created_by="dana", status="failed", func="x.y").id),
        "confirm_id": str(JobRun.objects.create(kind="confirm", created_by="admin", func="x.y").id),
        "policy_id": str(policy.pk),
        "archive_id": str(BackupArchive.objects.create(policy=policy, path=str(archive), sha256="0" * 64).pk),
        "schedule_id": str(TrainingSchedule.objects.create().pk),
        "path": "nothing-here/",
        # Django's admin and django-rq
        "url": "nothing-here/",
        "object_id": str(superadmin.pk),
        "content_type_id": "1",
        "app_label": "auth",
        "queue_index": "0",
        "job_id": "no-such-job",
        "result_id": "no-such-result",
        "key": "no-such-worker",
        "token": "nosuchtoken",
        "scheduler_index": "0",
        "connection_index": "0",
        "scheduler_name": "none",
        "cron_job_name": "none",
    }


# In this order; the ones a write may change come last, and their changes are undone after them.
PERSONAS = (
    "anonymous",
    "mail_user",
    "outsider",
    "other_admin",
    "other_token",
    "read_token",
    "domain_admin",
    "write_token",
    "superadmin",
)
TOKENS = ("other_token", "read_token", "write_token")
FIXTURES = {
    "anonymous": "anonymous_client",
    "mail_user": "mail_user_client",
    "outsider": "outsider_client",
    "other_admin": "other_domain_admin_client",
    "other_token": "other_domain_token_client",
    "read_token": "read_token_client",
    "domain_admin": "domain_admin_client",
    "write_token": "write_token_client",
    "superadmin": "superadmin_client",
}


@pytest.fixture
def personas(request, world) -> dict[str, Client]:  # type: ignore[no-untyped-def]
    from dms_admin.feedback import WATCH_SESSION_KEY

    clients = {name: request.getfixturevalue(fixture) for name, fixture in FIXTURES.items()}
    for name in ("mail_user", "superadmin"):  # they saved a change and watch it apply
        session = clients[name].session
        session[WATCH_SESSION_KEY] = [world["confirm_id"]]
        session.save()
    return clients


# ---- what each persona should get ---------------------------------------------------------------


def verdict(response: Any) -> str:
    if response.status_code in (301, 302):
        location = response["Location"]
        if location.startswith(("/login/", "/django-admin/login/")):
            return "login"
        if location.startswith("/me/login/"):
            return "me-login"
        if location == "/me/":
            return f"{response.status_code}:{location}"
    if response.status_code in (401, 403, 404):
        return str(response.status_code)
    return ALLOWED  # 400 included: past the authorization, the empty body was refused


def expected(decision: Decision, persona: str, method: str, api: bool) -> str | None:
    """The table's answer; None for public and sign-in pages: the same as the anonymous one."""
    for key in (f"{persona} {method}", persona):
        if key in decision.expect:
            return decision.expect[key]
    want = _by_role(decision, persona, method, api)
    if want == ALLOWED and method in decision.expect:
        return decision.expect[method]
    return want


def _by_role(decision: Decision, persona: str, method: str, api: bool) -> str | None:
    if decision.role == "mail-user":
        return ALLOWED if persona == "mail_user" else "me-login"
    if decision.role in ("public", "login"):
        return None
    if persona in ("anonymous", "mail_user") or (persona in TOKENS and not api):
        return "401" if api else "login"  # a token opens no panel page; a mail user no admin one
    if persona == "outsider":
        return "403"
    if persona == "read_token" and method != "GET":
        return "403"
    if decision.role == "superadmin":
        return "403" if persona in ("other_admin", "other_token", "domain_admin") else ALLOWED
    return decision.other if persona in ("other_admin", "other_token") else ALLOWED


def methods_of(client: Client, path: str) -> list[str]:
    """The methods the view answers, from the Allow header of its 405 to a method nobody uses."""
    allow = client.generic("PROBE", path).get("Allow", "")
    methods = [m for m in ("GET", "POST", "PUT", "PATCH", "DELETE") if m in allow]
    return methods or ["GET", "POST"]  # a view that takes any method (the admin's)


def send(client: Client, method: str, path: str, api: bool) -> Any:
    if method == "GET":
        return client.get(path)
    if api:  # valid JSON, but not what any endpoint takes: a 400 at most
        return client.generic(method, path, data="{}", content_type="application/json")
    return client.generic(method, path, data="", content_type="application/x-www-form-urlencoded")


@contextlib.contextmanager
def undone(config_dir: Path) -> Iterator[None]:
    """What a persona's writes changed, undone: the database rows and the config folder."""
    from dms_admin import configstore

    saved = config_dir.parent / "config-before"
    shutil.copytree(config_dir, saved, symlinks=True)
    point = transaction.savepoint()
    try:
        yield
    finally:
        transaction.savepoint_rollback(point)
        shutil.rmtree(config_dir)
        saved.rename(config_dir)
        configstore._store = None  # its caches belong to the folder as it was


# ---- the tests ----------------------------------------------------------------------------------

ALL = url_patterns()


def decision_of(pattern: Pattern) -> Decision | None:
    specific = ACCESS.get(pattern.name or pattern.route) if pattern.key == THIRD_PARTY else None
    return specific or ACCESS.get(pattern.key)


def test_every_url_pattern_has_a_decision() -> None:
    missing = sorted({pattern.key for pattern in ALL if decision_of(pattern) is None})
    assert not missing, f"URL patterns without a decision in ACCESS (decide who may open them): {missing}"
    walked = {pattern.key for pattern in ALL} | {pattern.name or pattern.route for pattern in ALL}
    assert not sorted(ACCESS.keys() - walked), "ACCESS names URL patterns that do not exist any more"


@pytest.mark.parametrize("pattern", ALL, ids=[p.route for p in ALL])
def test_each_persona_gets_the_tables_decision(pattern: Pattern, personas, world, config_dir: Path) -> None:  # type: ignore[no-untyped-def]
    decision = decision_of(pattern)
    if decision is None:
        pytest.fail(f"{pattern.key} has no decision in ACCESS: decide who may open it")
    path = path_of(pattern, {**world, **{param: world[key] for param, key in decision.fill.items()}})
    api = path.startswith("/api/")
    prober = {"mail-user": "mail_user", "public": "anonymous"}.get(decision.role, "superadmin")
    personas[prober].raise_request_exception = False  # django-rq's pages fail without Redis
    methods = methods_of(personas[prober], path)
    wrong, anonymous = [], {}
    for persona in PERSONAS:
        client = personas[persona]
        # The third-party pages need Redis: past their authorization a 500 still means "let in".
        client.raise_request_exception = pattern.key != THIRD_PARTY
        writes = any(m != "GET" and expected(decision, persona, m, api) == ALLOWED for m in methods)
        with undone(config_dir) if writes else contextlib.nullcontext():
            for method in methods:
                got = verdict(send(client, method, path, api))
                want = expected(decision, persona, method, api)
                if persona == "anonymous" and want is None:
                    anonymous[method] = got
                    refusals = ("401", "403") if decision.role == "login" else ("401", "403", "login", "me-login")
                    if got in refusals:
                        wrong.append(f"{method} {path} as anonymous: {got}, but it is {decision.role}")
                    continue
                want = anonymous[method] if want is None else want
                if got != want:
                    said = want if expected(decision, persona, method, api) else f"{want}, as anonymous"
                    wrong.append(f"{method} {path} as {persona}: {got}, the table says {said}")
    assert not wrong, "\n".join(wrong)


# ---- a page in no table: superadmins only, unless its view decides ------------------------------


def _new_page(request: HttpRequest) -> HttpResponse:
    return HttpResponse("a page someone added")


@api_view(["GET"])
def _new_endpoint(request: Request) -> Response:
    return Response({"added": True})


def _urlpatterns() -> list[Any]:
    from dms_admin.urls import urlpatterns as project

    return [path("new-page/", _new_page), path("api/v1/new-endpoint/", _new_endpoint), *project]


urlpatterns = _urlpatterns()  # for pytest.mark.urls below: the project's URLs and two new ones


@pytest.mark.urls(__name__)
def test_a_page_in_no_table_is_for_superadmins_only(  # type: ignore[no-untyped-def]
    domain_admin_client, other_domain_token_client, superadmin_client, read_token_client
) -> None:
    # It used to fall back to what a domain admin may see: now a new page must say who may open it.
    assert domain_admin_client.get("/new-page/").status_code == 403
    assert superadmin_client.get("/new-page/").content == b"a page someone added"
    refused = other_domain_token_client.get("/api/v1/new-endpoint/")
    assert refused.status_code == 403 and "superadmin" in refused.json()["error"]
    assert domain_admin_client.get("/api/v1/new-endpoint/").status_code == 403
    assert read_token_client.get("/api/v1/new-endpoint/").json() == {"added": True}


@pytest.mark.parametrize("url", ["/spam/", "/spam/rules/", "/backups/", "/backups/archives/"])
def test_superadmin_pages_refuse_a_domain_admin_by_their_own_check(  # type: ignore[no-untyped-def]
    url: str, domain_admin_client, outsider_client, superadmin_client, monkeypatch, settings
) -> None:
    # superadmin_required checks the Scope itself, even where the middleware would let one pass;
    # the admin_only copies it replaced let any staff user in.
    from access import roles

    settings.DOCKER_HOST = "unix:///nonexistent/docker.sock"
    monkeypatch.setattr(roles, "decides_itself", lambda view: True)
    response = domain_admin_client.get(url)
    assert response.status_code == 403 and b"Only a superadmin may do this." in response.content
    assert outsider_client.get(url).status_code == 403
    assert superadmin_client.get(url).status_code == 200


# ---- every view of ours carries its decision in its code ----------------------------------------

OURS = ("dms_admin", "access", "accounts", "spam", "backups")


def _views(resolver: URLResolver, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from _views(entry, prefix + str(entry.pattern))
        else:
            yield prefix + str(entry.pattern), entry.callback


def unmarked_views(resolver: URLResolver, ours: tuple[str, ...] = OURS) -> list[str]:
    """Our views with none of access.roles' marks (they would be superadmin-only by default)."""
    from access.roles import ANY_USER, decides_itself, is_public

    missing = []
    for route, view in _views(resolver):
        api_class = getattr(view, "cls", None)  # @api_view's class carries the function's module
        module = (api_class or view).__module__
        if not module.startswith(ours):
            continue
        # DRF marks every API view public for Django's login middleware: there the marks decide.
        public = is_public(view) and api_class is None
        if not (decides_itself(view) or public or getattr(view, ANY_USER, False)):
            missing.append(f"{route} ({module})")
    return missing


def test_every_view_of_ours_says_who_may_open_it() -> None:
    missing = unmarked_views(get_resolver())
    assert not missing, f"mark these with superadmin_required, domain_scoped, …: {missing}"


@pytest.mark.urls(__name__)
def test_an_unmarked_view_is_found() -> None:
    # The two new views above carry no mark: the test above would name them.
    from django.urls import get_resolver as resolver_of

    missing = unmarked_views(resolver_of(__name__), ours=(*OURS, __name__))
    assert any(entry.startswith("new-page/") for entry in missing)
    assert any(entry.startswith("api/v1/new-endpoint/") for entry in missing)
