"""Mail-user self-service (/me/) and mail client autoconfiguration, through the test client."""

from __future__ import annotations

import plistlib
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from django.test import Client
from passlib.hash import bcrypt, ldap_salted_sha512, sha256_crypt, sha512_crypt

from access.models import LoginFailure
from access.throttle import LOCKED_PREFIX
from accounts import selfservice
from accounts.selfservice import Check, password_check
from conftest import TEST_HASH, TEST_PASSWORD
from dms_admin.models import AuditEntry

pytestmark = pytest.mark.django_db

USER = "user@example.test"
NEW_PASSWORD = "brand-new-pass-1"
AUTODISCOVER_NS = "{http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a}"


def sign_in(client: Client, address: str = USER, password: str = TEST_PASSWORD):  # type: ignore[no-untyped-def]
    return client.post("/me/login/", {"address": address, "password": password})


def signed_in_as(client: Client) -> str | None:
    return client.session.get(selfservice.SESSION_ADDRESS)


@pytest.fixture
def mail_client(client: Client) -> Client:
    assert sign_in(client)["Location"] == "/me/"
    return client


def accounts_file(config_dir: Path) -> bytes:
    return (config_dir / "postfix-accounts.cf").read_bytes()


def hash_of(config_dir: Path, address: str) -> str:
    line = next(x for x in accounts_file(config_dir).decode().splitlines() if x.startswith(address + "|"))
    return line.split("|")[1]


# ---- signing in ----------------------------------------------------------------------------------


def test_it_signs_in_with_the_mailbox_password_and_keeps_only_the_address(client: Client) -> None:
    client.get("/me/login/")
    session = client.session
    session["before"] = 1
    session.save()
    old_key = session.session_key
    response = sign_in(client, address=" User@Example.TEST ")
    assert response.status_code == 302 and response["Location"] == "/me/"
    assert client.cookies["sessionid"].value != old_key  # rotated at sign-in
    data = dict(client.session.items())
    assert data[selfservice.SESSION_ADDRESS] == USER
    assert set(data) == {"before", selfservice.SESSION_ADDRESS, selfservice.SESSION_FINGERPRINT}
    assert TEST_HASH not in str(data) and TEST_PASSWORD not in str(data.values())
    assert "_auth_user_id" not in data  # not a Django user
    assert AuditEntry.objects.filter(action="self.login", actor=USER).exists()
    assert client.get("/me/login/")["Location"] == "/me/"


@pytest.mark.parametrize(
    ("address", "password"),
    [(USER, "wrong-password"), ("nobody@example.test", TEST_PASSWORD), ("not an address", TEST_PASSWORD)],
)
def test_wrong_password_and_unknown_address_read_the_same(client: Client, address: str, password: str) -> None:
    response = sign_in(client, address, password)
    assert response.status_code == 200
    assert selfservice.WRONG_MESSAGE in response.content.decode()
    assert signed_in_as(client) is None
    assert client.get("/me/")["Location"] == "/me/login/"
    assert LoginFailure.objects.filter(username=f"mail:{address.lower()}").count() == 1


def test_an_unknown_address_takes_as_long_as_a_wrong_password(client: Client, config_dir: Path, settings) -> None:  # type: ignore[no-untyped-def]
    settings.DMS_PASSWORD_ROUNDS = 60000  # slow enough that a skipped hash check would show
    settings.LOGIN_MAX_FAILURES = 100
    slow = sha512_crypt.using(rounds=60000).hash("slow-password")
    (config_dir / "postfix-accounts.cf").write_text(f"{USER}|{{SHA512-CRYPT}}{slow}\n")

    def fastest(address: str) -> float:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            selfservice.mail_login(address=address, password="wrong-password", ip=None)
            times.append(time.perf_counter() - start)
        return min(times)

    known, unknown = fastest(USER), fastest("nobody@example.test")
    assert unknown > known * 0.5, (known, unknown)


def test_it_locks_out_after_failures_even_with_the_right_password(client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.LOGIN_MAX_FAILURES = 3
    for _ in range(3):
        sign_in(client, password="wrong-password")
    response = sign_in(client)
    assert LOCKED_PREFIX in response.content.decode()
    assert signed_in_as(client) is None
    assert LoginFailure.objects.filter(username=f"mail:{USER}").count() == 3


def test_a_successful_sign_in_clears_the_failures(client: Client) -> None:
    sign_in(client, password="wrong-password")
    sign_in(client)
    assert not LoginFailure.objects.filter(username=f"mail:{USER}").exists()


def test_a_scheme_the_panel_cannot_check_says_so(client: Client, config_dir: Path) -> None:
    (config_dir / "postfix-accounts.cf").write_text(f"{USER}|{{ARGON2ID}}$argon2id$v=19$m=65536,t=3,p=1$x$y\n")
    response = sign_in(client)
    assert selfservice.UNSUPPORTED_MESSAGE in response.content.decode()
    assert signed_in_as(client) is None
    assert LoginFailure.objects.filter(username=f"mail:{USER}").count() == 1  # throttled like a failure


def _bcrypt_case() -> tuple[str, Check]:
    if bcrypt.has_backend():
        return "{BLF-CRYPT}" + bcrypt.using(ident="2y", rounds=4).hash("pw-1"), Check.OK
    return "{BLF-CRYPT}$2y$05$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui", Check.UNSUPPORTED


@pytest.mark.parametrize(
    ("password_hash", "expected"),
    [
        (sha512_crypt.using(rounds=5000).hash("pw-1"), Check.OK),  # bare $6$: DMS's default scheme
        ("{SHA512-CRYPT}" + sha512_crypt.using(rounds=5000).hash("pw-1"), Check.OK),
        ("{sha512-crypt}" + sha512_crypt.using(rounds=5000).hash("pw-1"), Check.OK),
        ("{SHA512-CRYPT}" + sha512_crypt.using(rounds=20000).hash("pw-1"), Check.OK),  # $6$rounds=N$
        ("{SHA256-CRYPT}" + sha256_crypt.using(rounds=5000).hash("pw-1"), Check.OK),
        (ldap_salted_sha512.hash("pw-1"), Check.OK),  # {SSHA512}base64(digest+salt)
        ("{PLAIN}pw-1", Check.OK),
        ("{CLEARTEXT}pw-1", Check.OK),
        ("{PLAIN}pw-2", Check.WRONG),
        ("{SHA512-CRYPT}" + sha512_crypt.using(rounds=5000).hash("pw-2"), Check.WRONG),
        ("{SHA512-CRYPT}$6$broken", Check.UNSUPPORTED),
        ("{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$x$y", Check.UNSUPPORTED),
        ("{MD5}abc", Check.UNSUPPORTED),
        _bcrypt_case(),
    ],
)
def test_password_check_schemes(password_hash: str, expected: Check) -> None:
    assert password_check("pw-1", password_hash) == expected


def test_a_password_with_a_nul_byte_never_matches() -> None:
    assert password_check("pw\x00", "{SHA512-CRYPT}" + sha512_crypt.using(rounds=5000).hash("pw")) == Check.WRONG


# ---- who may go where ------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/me/", "/me/password/", "/me/apple.mobileconfig"])
def test_self_service_pages_need_a_mail_user(client: Client, path: str) -> None:
    assert client.get(path)["Location"] == "/me/login/"


def test_an_admin_is_not_a_mail_user(admin_client: Client) -> None:
    assert admin_client.get("/me/")["Location"] == "/me/login/"
    assert admin_client.get("/me/apple.mobileconfig")["Location"] == "/me/login/"


@pytest.mark.parametrize("path", ["/", "/mailboxes/", "/history/", "/django-admin/"])
def test_a_mail_user_is_sent_to_the_admin_login_for_admin_pages(mail_client: Client, path: str) -> None:
    response = mail_client.get(path)
    assert response.status_code == 302 and "login/" in response["Location"]
    assert not response["Location"].startswith("/me/")


def test_a_mail_user_gets_no_api(mail_client: Client, config_dir: Path) -> None:
    assert mail_client.get("/api/v1/mailboxes/").status_code == 401  # api.md: 401 for no token
    before = accounts_file(config_dir)
    response = mail_client.post(
        "/api/v1/mailboxes/", {"address": "x@example.test", "password": "s3cret-pass"}, content_type="application/json"
    )
    assert response.status_code == 401
    assert accounts_file(config_dir) == before


def test_an_admin_changing_the_password_signs_the_mail_user_out(admin_client: Client, config_dir: Path) -> None:
    mail_client = Client()
    sign_in(mail_client)
    assert mail_client.get("/me/").status_code == 200
    response = admin_client.post(
        f"/mailboxes/{USER}/password/", {"password": "admin-set-pass", "password2": "admin-set-pass"}
    )
    assert response.status_code == 302
    assert mail_client.get("/me/")["Location"] == "/me/login/"
    assert signed_in_as(mail_client) is None


def test_a_deleted_mailbox_signs_the_mail_user_out(mail_client: Client, config_dir: Path) -> None:
    (config_dir / "postfix-accounts.cf").write_text(f"other@example.test|{TEST_HASH}\n")
    assert mail_client.get("/me/")["Location"] == "/me/login/"


def test_sign_out(mail_client: Client) -> None:
    assert mail_client.get("/me/logout/").status_code == 405
    assert mail_client.post("/me/logout/")["Location"] == "/me/login/"
    assert mail_client.get("/me/")["Location"] == "/me/login/"


def test_signing_out_keeps_an_admin_in_the_same_browser_signed_in(admin_client: Client) -> None:
    sign_in(admin_client)
    admin_client.post("/me/logout/")
    assert admin_client.get("/me/")["Location"] == "/me/login/"
    assert admin_client.get("/").status_code == 200


# ---- the settings page and the Apple profile ---------------------------------------------------


def test_the_settings_page_shows_server_ports_and_username(mail_client: Client) -> None:
    page = mail_client.get("/me/").content.decode()
    for text in (
        "mail.example.test",
        USER,
        "993",
        "143",
        "465",
        "587",
        "STARTTLS",
        "SSL/TLS",
        "/me/apple.mobileconfig",
    ):
        assert text in page
    assert 'href="/mailboxes/' not in page  # no admin navigation


def test_without_a_known_hostname_the_page_says_so(mail_client: Client, config_dir: Path, settings) -> None:  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = "unix:///nonexistent/docker.sock"
    (config_dir / "mailserver.env").write_text("ENABLE_SPAMASSASSIN=1\n")
    assert "ask your admin" in mail_client.get("/me/").content.decode()
    assert mail_client.get("/me/apple.mobileconfig")["Location"] == "/me/"
    assert Client().get("/mail/config-v1.1.xml", {"emailaddress": USER}).status_code == 503


def test_the_apple_profile(mail_client: Client, config_dir: Path) -> None:
    response = mail_client.get("/me/apple.mobileconfig")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-apple-aspen-config"
    assert response["Content-Disposition"] == f'attachment; filename="{USER}.mobileconfig"'
    profile = plistlib.loads(response.content)
    assert profile["PayloadType"] == "Configuration"
    (account,) = profile["PayloadContent"]
    assert account["PayloadType"] == "com.apple.mail.managed"
    assert account["EmailAddress"] == account["IncomingMailServerUsername"] == USER
    assert account["IncomingMailServerHostName"] == account["OutgoingMailServerHostName"] == "mail.example.test"
    assert (account["IncomingMailServerPortNumber"], account["IncomingMailServerUseSSL"]) == (993, True)
    assert (account["OutgoingMailServerPortNumber"], account["OutgoingMailServerUseSSL"]) == (465, True)
    assert not any("Password" in key and key != "OutgoingPasswordSameAsIncomingPassword" for key in account)
    assert TEST_PASSWORD.encode() not in response.content and hash_of(config_dir, USER).encode() not in response.content


# ---- changing one's own password -------------------------------------------------------------


def change(client: Client, old: str = TEST_PASSWORD, new: str = NEW_PASSWORD, **extra: str):  # type: ignore[no-untyped-def]
    return client.post("/me/password/", {"old_password": old, "password": new, "password2": new, **extra})


def test_it_changes_its_own_password(mail_client: Client, config_dir: Path) -> None:
    response = change(mail_client)
    assert response.status_code == 302 and response["Location"] == "/me/"
    assert password_check(NEW_PASSWORD, hash_of(config_dir, USER)) is Check.OK
    assert mail_client.get("/me/").status_code == 200  # still signed in, with the new hash
    entry = AuditEntry.objects.get(action="mailbox.password")
    assert (entry.actor, entry.via, entry.object, entry.ip) == (USER, "panel", USER, "127.0.0.1")
    mail_client.post("/me/logout/")
    assert selfservice.WRONG_MESSAGE in sign_in(mail_client).content.decode()
    assert sign_in(mail_client, password=NEW_PASSWORD)["Location"] == "/me/"


def test_an_address_field_is_ignored(mail_client: Client, config_dir: Path) -> None:
    with open(config_dir / "postfix-accounts.cf", "a") as fh:
        fh.write(f"other@example.test|{TEST_HASH}\n")
    assert change(mail_client, address="other@example.test").status_code == 302
    assert hash_of(config_dir, "other@example.test") == TEST_HASH
    assert hash_of(config_dir, USER) != TEST_HASH


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"old": "wrong-password"}, "not your current password"),
        ({"new": "has-a\nnewline-1"}, "Line breaks"),
        ({"new": "short"}, "at least 8"),
    ],
)
def test_a_refused_change_leaves_the_file_alone(
    mail_client: Client, config_dir: Path, data: dict[str, str], message: str
) -> None:
    before = accounts_file(config_dir)
    response = change(mail_client, **data)
    assert response.status_code == 200 and message in response.content.decode()
    assert accounts_file(config_dir) == before


def test_two_different_new_passwords_are_refused(mail_client: Client, config_dir: Path) -> None:
    before = accounts_file(config_dir)
    response = mail_client.post(
        "/me/password/", {"old_password": TEST_PASSWORD, "password": NEW_PASSWORD, "password2": NEW_PASSWORD + "x"}
    )
    assert "differ" in response.content.decode() and accounts_file(config_dir) == before


def test_wrong_old_passwords_are_throttled(mail_client: Client, config_dir: Path, settings) -> None:  # type: ignore[no-untyped-def]
    settings.LOGIN_MAX_FAILURES = 2
    before = accounts_file(config_dir)
    change(mail_client, old="wrong-1")
    change(mail_client, old="wrong-2")
    assert LOCKED_PREFIX in change(mail_client).content.decode()
    assert accounts_file(config_dir) == before


def test_an_anonymous_post_changes_nothing(client: Client, config_dir: Path) -> None:
    before = accounts_file(config_dir)
    assert change(client)["Location"] == "/me/login/"
    assert accounts_file(config_dir) == before


# ---- Thunderbird autoconfig ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/mail/config-v1.1.xml", "/.well-known/autoconfig/mail/config-v1.1.xml"])
def test_autoconfig(client: Client, path: str) -> None:
    response = client.get(path, {"emailaddress": USER})
    assert response.status_code == 200 and response["Content-Type"].startswith("application/xml")
    provider = ET.fromstring(response.content).find("emailProvider")  # noqa: S314 - our own answer
    assert provider is not None and provider.findtext("domain") == "example.test"
    servers = {
        (s.tag, s.get("type"), s.findtext("port"), s.findtext("socketType"))
        for s in provider
        if s.tag in ("incomingServer", "outgoingServer")
    }
    assert servers == {
        ("incomingServer", "imap", "993", "SSL"),
        ("incomingServer", "imap", "143", "STARTTLS"),
        ("outgoingServer", "smtp", "465", "SSL"),
        ("outgoingServer", "smtp", "587", "STARTTLS"),
    }
    for server in provider.iter("hostname"):
        assert server.text == "mail.example.test"
    assert {u.text for u in provider.iter("username")} == {"%EMAILADDRESS%"}


def test_autoconfig_does_not_tell_whether_an_address_exists(client: Client) -> None:
    known = client.get("/mail/config-v1.1.xml", {"emailaddress": USER})
    unknown = client.get("/mail/config-v1.1.xml", {"emailaddress": "nobody@example.test"})
    assert known.content == unknown.content


@pytest.mark.parametrize("address", ["not-an-address", "a|b@example.test", "x@example.test\n"])
def test_autoconfig_refuses_an_invalid_address(client: Client, address: str) -> None:
    assert client.get("/mail/config-v1.1.xml", {"emailaddress": address}).status_code == 400


# ---- Outlook autodiscover ------------------------------------------------------------------------

REQUEST = """<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>{address}</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>"""


def autodiscover(client: Client, body: str | bytes):  # type: ignore[no-untyped-def]
    return client.post("/autodiscover/autodiscover.xml", body, content_type="text/xml")


def test_autodiscover(client: Client) -> None:
    client = Client(enforce_csrf_checks=True)
    response = autodiscover(client, REQUEST.format(address="User@example.test"))
    assert response.status_code == 200
    root = ET.fromstring(response.content)  # noqa: S314 - our own answer
    assert root.tag == "{http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006}Autodiscover"
    protocols = {
        p.findtext(f"{AUTODISCOVER_NS}Type"): (
            p.findtext(f"{AUTODISCOVER_NS}Server"),
            p.findtext(f"{AUTODISCOVER_NS}Port"),
            p.findtext(f"{AUTODISCOVER_NS}SSL"),
            p.findtext(f"{AUTODISCOVER_NS}LoginName"),
        )
        for p in root.iter(f"{AUTODISCOVER_NS}Protocol")
    }
    assert protocols == {
        "IMAP": ("mail.example.test", "993", "on", USER),
        "SMTP": ("mail.example.test", "465", "on", USER),
    }
    assert client.post("/Autodiscover/Autodiscover.xml", REQUEST.format(address=USER), "text/xml").status_code == 200


def test_autodiscover_does_not_tell_whether_an_address_exists(client: Client) -> None:
    known = autodiscover(client, REQUEST.format(address=USER)).content
    unknown = autodiscover(client, REQUEST.format(address="nobody@example.test")).content
    assert known.replace(USER.encode(), b"X") == unknown.replace(b"nobody@example.test", b"X")


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<Autodiscover><Request><EMailAddress>&lol2;@example.test</EMailAddress></Request></Autodiscover>"""
EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<Autodiscover><Request><EMailAddress>&x;</EMailAddress></Request></Autodiscover>"""


@pytest.mark.parametrize(
    "body",
    [
        BILLION_LAUGHS,
        EXTERNAL,
        BILLION_LAUGHS.replace('<?xml version="1.0"?>', "").encode("utf-16"),  # hidden from a byte search
        BILLION_LAUGHS.replace('<?xml version="1.0"?>', "").encode("utf-16-le"),  # no BOM: valid UTF-8
        "<Autodiscover><Request><EMailAddress>user@example.test</EMailAddress>",  # not well-formed
        "<Autodiscover><Request></Request></Autodiscover>",  # no address
        REQUEST.format(address="not an address"),
        b"\xff\xfe\x00garbage",
        "",
    ],
)
def test_autodiscover_refuses_bad_requests(client: Client, body: str | bytes) -> None:
    assert autodiscover(client, body).status_code == 400


def test_autodiscover_refuses_a_large_request(client: Client) -> None:
    body = REQUEST.format(address=USER).replace("<Request>", "<Request>" + "<!-- x -->" * 1100)
    assert autodiscover(client, body).status_code == 413


def test_autodiscover_only_answers_post(client: Client) -> None:
    assert client.get("/autodiscover/autodiscover.xml").status_code == 405


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-16-le"])
def test_the_parser_itself_refuses_a_doctype_in_any_encoding(encoding: str) -> None:
    # The text check in front of it is the first line; this is the one that must not be fooled.
    parser = ET.XMLParser(target=selfservice._NoDoctype())  # noqa: S314
    with pytest.raises(ValueError, match="DOCTYPE"):
        parser.feed(BILLION_LAUGHS.replace('<?xml version="1.0"?>', "").encode(encoding))
