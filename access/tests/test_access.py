"""Issue 14: sign-in throttling per (username, address), safe admin usernames and commit authors,
and the API schema/docs behind a sign-in."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from pathlib import Path

import pygit2
import pyotp
import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db.models import F
from django.test import Client, RequestFactory
from django.urls import reverse
from rest_framework.test import APIClient

from access.models import DomainAdmin, LoginFailure
from access.tokens import token_create
from access.two_factor import two_factor_enable, two_factor_pending
from conftest import ADMIN_PASSWORD, TEST_PASSWORD
from dms_admin.audit import Actor, client_ip
from dms_admin.configstore import ConfigStore
from dms_admin.models import AuditEntry

pytestmark = pytest.mark.django_db

A, B = "203.0.113.5", "198.51.100.7"
PAIR_LOCKED = "Too many failed sign-ins from your address for this account; try again in"
ADDRESS_LOCKED = "Too many failed sign-ins from your address; try again in"
WRONG = "Wrong username or password."


def post_login(username: str, password: str, ip: str, client: Client | None = None) -> str:
    response = (client or Client()).post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip)
    return "signed in" if response.status_code == 302 else response.content.decode()


def fail(username: str, ip: str, times: int) -> None:
    for _ in range(times):
        assert WRONG in post_login(username, "wrong", ip)


def wait(seconds: int) -> None:
    """As if `seconds` had passed since every failure so far."""
    LoginFailure.objects.update(at=F("at") - timedelta(seconds=seconds))


# ---- finding 2: nobody can lock out an account from elsewhere -----------------------------------


def test_failures_from_one_address_never_refuse_the_owner_at_another(superadmin) -> None:  # type: ignore[no-untyped-def]
    fail("admin", A, 5)
    assert post_login("admin", ADMIN_PASSWORD, B) == "signed in"
    # From the attacking address even the right password is refused, and says for how long.
    refused = post_login("admin", ADMIN_PASSWORD, A)
    assert f"{PAIR_LOCKED} 2 seconds" in refused and "signed in" not in refused


def test_the_delay_doubles_with_each_further_failure_up_to_the_cap(superadmin, settings) -> None:  # type: ignore[no-untyped-def]
    settings.LOGIN_MAX_FAILURES, settings.LOGIN_LOCK_MAX = 3, 10
    fail("admin", A, 3)
    for seconds in (2, 4, 8, 10, 10):  # after failures 3, 4, 5, 6, 7: 2^1, 2^2, 2^3, then the cap
        assert f"{PAIR_LOCKED} {seconds} seconds" in post_login("admin", ADMIN_PASSWORD, A)
        wait(seconds)
        assert WRONG in post_login("admin", "wrong", A)  # the lock is over: this one counts again
    assert f"{PAIR_LOCKED} 10 seconds" in post_login("admin", ADMIN_PASSWORD, A)
    # Once the lock has run out the right password works, and forgets that pair's failures.
    wait(10)
    assert post_login("admin", ADMIN_PASSWORD, A) == "signed in"
    assert not LoginFailure.objects.filter(username="admin", ip=A).exists()


def test_the_same_refusal_for_an_account_that_does_not_exist(superadmin) -> None:  # type: ignore[no-untyped-def]
    fail("ghost", A, 5)
    assert f"{PAIR_LOCKED} 2 seconds" in post_login("ghost", "x", A)


def test_one_address_trying_many_usernames_is_capped(superadmin, settings) -> None:  # type: ignore[no-untyped-def]
    settings.LOGIN_MAX_FAILURES, settings.LOGIN_ADDRESS_MAX_FAILURES = 3, 6
    for name in ("ann", "bob", "cid"):
        fail(name, A, 2)  # no pair reaches 3
    refused = post_login("admin", ADMIN_PASSWORD, A)  # a pair that never failed
    assert f"{ADDRESS_LOCKED} 2 seconds" in refused
    assert post_login("admin", ADMIN_PASSWORD, B) == "signed in"


def test_every_lock_is_audited(superadmin, settings) -> None:  # type: ignore[no-untyped-def]
    settings.LOGIN_MAX_FAILURES, settings.LOGIN_ADDRESS_MAX_FAILURES = 3, 5
    fail("admin", A, 3)
    lock = AuditEntry.objects.get(action="login.lock")
    assert (lock.object, lock.ip, lock.actor) == ("admin", A, "anonymous")
    assert lock.detail == f"3 failed sign-ins from {A}; refused for 2 s"
    wait(2)
    fail("admin", A, 1)
    assert AuditEntry.objects.filter(action="login.lock").count() == 2
    fail("bob", A, 1)  # the fifth failure from A: the whole address waits
    address = AuditEntry.objects.get(action="login.lock-address")
    assert (address.object, address.ip) == (A, A) and address.detail.endswith("refused for 2 s")


def test_the_second_step_is_throttled_per_address_too(superadmin) -> None:  # type: ignore[no-untyped-def]
    secret = two_factor_pending(user=superadmin).secret
    two_factor_enable(user=superadmin, code=pyotp.TOTP(secret).now(), actor=Actor("admin"))
    attacker = Client(REMOTE_ADDR=A)
    assert attacker.post(reverse("login"), {"username": "admin", "password": ADMIN_PASSWORD}).status_code == 302
    for _ in range(5):
        assert b"That code is not valid." in attacker.post(reverse("login-2fa"), {"code": "000000"}).content
    assert PAIR_LOCKED in attacker.post(reverse("login-2fa"), {"code": "000000"}).content.decode()
    owner = Client(REMOTE_ADDR=B)
    owner.post(reverse("login"), {"username": "admin", "password": ADMIN_PASSWORD})
    assert owner.post(reverse("login-2fa"), {"code": pyotp.TOTP(secret).at(time.time() + 30)}).status_code == 302
    assert "_auth_user_id" in owner.session


def test_a_mail_user_attacked_elsewhere_still_signs_in(config_dir: Path) -> None:
    for _ in range(5):
        Client().post("/me/login/", {"address": "user@example.test", "password": "nope"}, REMOTE_ADDR=A)
    locked = Client().post("/me/login/", {"address": "user@example.test", "password": TEST_PASSWORD}, REMOTE_ADDR=A)
    assert PAIR_LOCKED in locked.content.decode()
    owner = Client().post("/me/login/", {"address": "user@example.test", "password": TEST_PASSWORD}, REMOTE_ADDR=B)
    assert owner.status_code == 302 and owner["Location"] == "/me/"


def _request(peer: str, forwarded: str | None = None):  # type: ignore[no-untyped-def]
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    return RequestFactory().get("/", REMOTE_ADDR=peer, **extra)


def test_x_forwarded_for_counts_only_from_a_trusted_proxy_behind_tls(settings) -> None:  # type: ignore[no-untyped-def]
    settings.BEHIND_TLS, settings.TRUSTED_PROXIES = True, ["127.0.0.1", "172.16.0.0/12"]
    # The proxy appends the peer it saw: the right-most entry not of our proxies is the client.
    assert client_ip(_request("127.0.0.1", "6.6.6.6, 203.0.113.9")) == "203.0.113.9"
    assert client_ip(_request("172.18.0.1", f"{A}, 127.0.0.1")) == A
    assert client_ip(_request(B, "6.6.6.6")) == B  # not our proxy: its header is the client's word
    assert client_ip(_request("127.0.0.1", "not-an-address")) == "127.0.0.1"
    assert client_ip(_request("127.0.0.1", "")) == "127.0.0.1"
    settings.BEHIND_TLS = False
    assert client_ip(_request("127.0.0.1", "203.0.113.9")) == "127.0.0.1"


def test_a_made_up_forwarded_address_does_not_escape_the_lock(superadmin, settings) -> None:  # type: ignore[no-untyped-def]
    settings.BEHIND_TLS, settings.SECURE_SSL_REDIRECT, settings.TRUSTED_PROXIES = True, False, ["127.0.0.1"]
    fail("admin", A, 5)
    spoofed = Client().post(
        reverse("login"), {"username": "admin", "password": ADMIN_PASSWORD}, REMOTE_ADDR=A, HTTP_X_FORWARDED_FOR=B
    )
    assert PAIR_LOCKED in spoofed.content.decode()
    proxied = Client().post(
        reverse("login"),
        {"username": "admin", "password": ADMIN_PASSWORD},
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_FORWARDED_FOR=B,
    )
    assert proxied.status_code == 302


# ---- finding 7: admin usernames and commit authors ------------------------------------------------

HOSTILE = ["evil\nadmin", "evil\radmin", "a\x00b", "<script>alert(1)</script>", "x" * 151, "tab\tname", "ann smith"]
RESERVED = ["external", "dms-admin", "Anonymous"]
# The username field, marked as wrong, with a message under it.
USERNAME_ERROR = re.compile(
    r'<div class="field has-error">\s*<label for="id_username">(?:(?!class="field).)*<div class="error" role="alert">',
    re.S,
)


@pytest.mark.parametrize("username", HOSTILE + RESERVED)
def test_first_run_refuses_a_hostile_username(client, username: str) -> None:  # type: ignore[no-untyped-def]
    data = {"username": username, "password": ADMIN_PASSWORD, "password2": ADMIN_PASSWORD}
    response = client.post(reverse("first-run"), data)
    assert response.status_code == 200 and USERNAME_ERROR.search(response.content.decode())
    assert not get_user_model().objects.exists()


@pytest.mark.parametrize("username", HOSTILE + RESERVED)
def test_the_admin_page_refuses_a_hostile_username(admin_client, username: str) -> None:  # type: ignore[no-untyped-def]
    data = {"username": username, "password": ADMIN_PASSWORD, "domains": "example.test"}
    response = admin_client.post(reverse("admin-list"), data)
    assert response.status_code == 200 and USERNAME_ERROR.search(response.content.decode())
    assert get_user_model().objects.count() == 1 and not DomainAdmin.objects.exists()


@pytest.mark.parametrize("username", ["evil\nadmin", "<b>x</b>", "dms-admin"])
def test_ensure_admin_refuses_a_hostile_username(username: str) -> None:
    with pytest.raises(CommandError, match="user name"):
        call_command("ensure_admin", "--username", username)
    assert not get_user_model().objects.exists()


def test_a_plain_username_is_still_accepted(admin_client) -> None:  # type: ignore[no-untyped-def]
    data = {"username": "ann.smith@corp", "password": ADMIN_PASSWORD, "domains": "example.test"}
    assert admin_client.post(reverse("admin-list"), data).status_code == 302
    assert DomainAdmin.objects.get().user.username == "ann.smith@corp"


@pytest.mark.parametrize(
    "actor",
    [
        "mallory\nAuthor: Alice <alice@example.com>",
        "mallory\x1eforged\x1fsha",
        "token:CI <ci@corp>\r\n\x00\u2028\u0085\u200b",
    ],
)
def test_a_hostile_actor_cannot_forge_a_commit_author(store: ConfigStore, config_dir: Path, actor: str) -> None:
    store.write("postfix-virtual.cf", "a@example.test b@example.test\n", actor=actor, message="x")
    [latest] = store.history(limit=1)
    repo = pygit2.Repository(str(store.history_dir))
    author = repo[latest.sha].author
    for text in (latest.author, author.name, author.email):
        assert not re.search(r"[\x00-\x1f\x7f<>\u0085\u2028\u200b]", text), text
    assert re.fullmatch(r"[A-Za-z0-9._+-]+@dms-admin", author.email), author.email
    assert "<alice@example.com>" not in latest.author and latest.author == author.name
    raw = repo.odb.read(repo[latest.sha].id)[1].decode()
    assert len([line for line in raw.splitlines() if line.startswith("author ")]) == 1


def test_a_plain_actor_keeps_its_author_name(store: ConfigStore) -> None:
    store.write("postfix-virtual.cf", "a@example.test b@example.test\n", actor="alice", message="x")
    assert store.history(limit=1)[0].author == "alice"


# ---- finding 8: the API schema and docs need a sign-in -------------------------------------------


def test_anonymous_gets_401_json_for_the_schema_and_the_login_page_for_the_docs() -> None:
    for url in ("/api/v1/schema/", "/api/v1/schema/?format=json"):
        response = APIClient().get(url)
        assert response.status_code == 401, url
        assert response["Content-Type"].startswith("application/json")
        assert set(response.json()) == {"error", "fields"}
    docs = Client().get("/api/v1/docs/")
    assert docs.status_code == 302 and docs["Location"] == "/login/?next=/api/v1/docs/"


def test_a_session_or_a_token_may_read_the_schema_and_docs(admin_client) -> None:  # type: ignore[no-untyped-def]
    assert admin_client.get("/api/v1/schema/?format=json").json()["openapi"].startswith("3")
    assert admin_client.get("/api/v1/docs/").status_code == 200
    _, secret = token_create(name="docs", scope="read", actor=Actor("test"))
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert "/api/v1/mailboxes/" in api.get("/api/v1/schema/?format=json").json()["paths"]
    assert api.get("/api/v1/docs/").status_code == 200


def test_a_signed_in_user_without_a_role_gets_no_schema(client, django_user_model) -> None:  # type: ignore[no-untyped-def]
    client.force_login(django_user_model.objects.create_user("nobody", password=ADMIN_PASSWORD))
    assert client.get("/api/v1/schema/?format=json").status_code == 403


def test_api_docs_public_opens_both(settings) -> None:  # type: ignore[no-untyped-def]
    settings.API_DOCS_PUBLIC = True
    assert APIClient().get("/api/v1/schema/?format=json").status_code == 200
    assert Client().get("/api/v1/docs/").status_code == 200
