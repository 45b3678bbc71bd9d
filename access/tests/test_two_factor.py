"""Two-factor sign-in: enrolment, the second login step, recovery codes, throttling, the API."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pyotp
import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from access.models import LoginFailure, RecoveryCode, TwoFactor
from access.throttle import LOCKED_PREFIX
from access.tokens import token_create
from access.two_factor import two_factor_enable, two_factor_pending
from conftest import ADMIN_PASSWORD, sign_in
from dms_admin.audit import Actor
from dms_admin.models import AuditEntry

pytestmark = pytest.mark.django_db

CODE_RE = re.compile(r"\b[a-z2-9]{5}-[a-z2-9]{5}\b")


@pytest.fixture(autouse=True)
def _no_docker(settings):  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = "unix:///nonexistent/docker.sock"


def next_code(secret: str) -> str:
    # The code of the next time step (accepted: one step either side); the current one may be used up.
    return pyotp.TOTP(secret).at(time.time() + 30)


@pytest.fixture
def enrolled(superadmin) -> tuple[str, list[str]]:  # type: ignore[no-untyped-def]
    """The superadmin with 2FA on: their secret and recovery codes."""
    secret = two_factor_pending(user=superadmin).secret
    codes = two_factor_enable(user=superadmin, code=pyotp.TOTP(secret).now(), actor=Actor("admin"))
    return secret, codes


def password_step(client) -> object:  # type: ignore[no-untyped-def]
    return client.post(reverse("login"), {"username": "admin", "password": ADMIN_PASSWORD})


def logged_in(client) -> bool:  # type: ignore[no-untyped-def]
    return "_auth_user_id" in client.session


def test_it_logs_in_without_a_second_step_when_not_required_and_not_enrolled(client, superadmin) -> None:  # type: ignore[no-untyped-def]
    response = password_step(client)
    assert response.status_code == 302 and response["Location"] == reverse("home")
    assert logged_in(client)


def test_it_does_not_log_in_with_the_password_alone_when_required(client, superadmin, settings) -> None:  # type: ignore[no-untyped-def]
    settings.REQUIRE_2FA = True
    response = password_step(client)
    assert response["Location"] == reverse("login-2fa") and not logged_in(client)
    assert client.get(reverse("home"))["Location"].startswith(reverse("login"))
    # Not enrolled yet: the second step is the enrolment, QR code included.
    page = client.get(reverse("login-2fa"))
    assert b"<svg" in page.content and b"Set up two-factor" in page.content
    secret = TwoFactor.objects.get(user=superadmin).secret
    assert client.post(reverse("login-2fa"), {"code": "000000"}).status_code == 200 and not logged_in(client)
    done = client.post(reverse("login-2fa"), {"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200 and logged_in(client)
    assert len(CODE_RE.findall(done.content.decode())) == 10
    assert TwoFactor.objects.get(user=superadmin).enabled
    assert AuditEntry.objects.filter(action="2fa.enable", object="admin").exists()


def test_the_django_admin_login_does_not_skip_the_second_step(client, enrolled) -> None:  # type: ignore[no-untyped-def]
    # Django admin's own login form took the password alone: no second factor, no throttle.
    response = client.post(
        "/django-admin/login/?next=/django-admin/", {"username": "admin", "password": ADMIN_PASSWORD}
    )
    assert response.status_code == 302 and response["Location"] == "/login/?next=/django-admin/"
    assert not logged_in(client) and client.get("/settings/").status_code == 302
    response = client.post(response["Location"], {"username": "admin", "password": ADMIN_PASSWORD})
    assert response["Location"] == reverse("login-2fa") and not logged_in(client)  # the panel asks for the code


def test_it_logs_in_with_a_totp_code_and_refuses_a_replayed_one(client, enrolled, settings) -> None:  # type: ignore[no-untyped-def]
    secret, _ = enrolled
    assert password_step(client)["Location"] == reverse("login-2fa") and not logged_in(client)
    code = next_code(secret)
    response = client.post(reverse("login-2fa"), {"code": code})
    assert response.status_code == 302 and response["Location"] == reverse("home") and logged_in(client)
    assert AuditEntry.objects.get(action="login").detail == "second factor: TOTP code"

    client.post(reverse("logout"))
    password_step(client)
    replay = client.post(reverse("login-2fa"), {"code": code})
    assert replay.status_code == 200 and b"That code is not valid." in replay.content and not logged_in(client)


def test_a_recovery_code_works_once(client, enrolled) -> None:  # type: ignore[no-untyped-def]
    _, codes = enrolled
    password_step(client)
    response = client.post(reverse("login-2fa"), {"code": codes[0].upper()})
    assert response.status_code == 302 and logged_in(client)
    assert AuditEntry.objects.get(action="2fa.recovery-used").detail == "9 recovery codes left"
    assert RecoveryCode.objects.filter(used_at__isnull=False).count() == 1

    client.post(reverse("logout"))
    password_step(client)
    again = client.post(reverse("login-2fa"), {"code": codes[0]})
    assert again.status_code == 200 and b"That code is not valid." in again.content and not logged_in(client)
    assert client.post(reverse("login-2fa"), {"code": codes[1]}).status_code == 302 and logged_in(client)


def test_wrong_codes_are_throttled_then_even_the_right_one_fails(client, enrolled, settings) -> None:  # type: ignore[no-untyped-def]
    settings.LOGIN_MAX_FAILURES = 3
    secret, _ = enrolled
    password_step(client)
    for _ in range(3):
        assert b"That code is not valid." in client.post(reverse("login-2fa"), {"code": "123456"}).content
    locked = client.post(reverse("login-2fa"), {"code": next_code(secret)})
    assert locked.status_code == 200 and LOCKED_PREFIX.encode() in locked.content and not logged_in(client)
    assert LoginFailure.objects.filter(username="2fa:admin").count() == 3
    # The window passes: the right code works again.
    LoginFailure.objects.update(at=timezone.now() - timedelta(seconds=settings.LOGIN_FAILURE_WINDOW + 1))
    assert client.post(reverse("login-2fa"), {"code": next_code(secret)}).status_code == 302 and logged_in(client)
    assert not LoginFailure.objects.filter(username="2fa:admin").exists()


def test_the_second_step_expires_after_five_minutes(client, enrolled, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    secret, _ = enrolled
    password_step(client)
    later = time.time() + 301
    monkeypatch.setattr("access.views_2fa.time.time", lambda: later)
    response = client.post(reverse("login-2fa"), {"code": next_code(secret)})
    assert response["Location"] == reverse("login") and not logged_in(client)


def test_the_second_step_needs_the_password_step(client, enrolled) -> None:  # type: ignore[no-untyped-def]
    secret, _ = enrolled
    assert client.post(reverse("login-2fa"), {"code": next_code(secret)})["Location"] == reverse("login")
    assert not logged_in(client)


def test_enrolment_shows_the_qr_without_inline_script_and_the_codes_once(admin_client, superadmin) -> None:  # type: ignore[no-untyped-def]
    page = admin_client.get(reverse("two-factor"))
    body = page.content.decode()
    assert page.status_code == 200 and "<svg" in body and 'class="qr"' in body
    assert "<script>" not in body and " style=" not in body and "unsafe-inline" not in page["Content-Security-Policy"]
    assert "no-store" in page["Cache-Control"]
    secret = TwoFactor.objects.get(user=superadmin).secret
    assert " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)) in body
    # A reload keeps the same secret: an app that already scanned it stays valid.
    assert TwoFactor.objects.get(user=superadmin).secret == secret and admin_client.get(reverse("two-factor"))

    wrong = admin_client.post(reverse("two-factor"), {"code": "000000"})
    assert b"That code is not valid." in wrong.content and not TwoFactor.objects.get(user=superadmin).enabled
    done = admin_client.post(reverse("two-factor"), {"code": pyotp.TOTP(secret).now()})
    codes = CODE_RE.findall(done.content.decode())
    assert len(set(codes)) == 10 and RecoveryCode.objects.filter(user=superadmin).count() == 10
    assert all(codes[0] not in rc.hash for rc in RecoveryCode.objects.all())  # hashed
    reload = admin_client.get(reverse("two-factor"))
    assert b"10 unused recovery codes left" in reload.content and not CODE_RE.findall(reload.content.decode())
    assert secret.encode() not in reload.content
    entry = AuditEntry.objects.get(action="2fa.enable")
    assert secret not in entry.detail and not any(c in entry.detail for c in codes)


def test_new_recovery_codes_replace_the_old_ones(admin_client, enrolled) -> None:  # type: ignore[no-untyped-def]
    secret, old = enrolled
    assert admin_client.get(reverse("two-factor-recovery")).status_code == 200
    bad = admin_client.post(reverse("two-factor-recovery"), {"code": "999999"})
    assert b"That code is not valid." in bad.content
    page = admin_client.post(reverse("two-factor-recovery"), {"code": next_code(secret)})
    new = CODE_RE.findall(page.content.decode())
    assert len(new) == 10 and not set(new) & set(old)
    assert RecoveryCode.objects.count() == 10 and AuditEntry.objects.filter(action="2fa.recovery-renew").exists()


def test_turning_it_off_needs_a_code(admin_client, client, enrolled, superadmin) -> None:  # type: ignore[no-untyped-def]
    _, codes = enrolled
    assert admin_client.get(reverse("two-factor-disable")).status_code == 200
    assert b"That code is not valid." in admin_client.post(reverse("two-factor-disable"), {"code": "111111"}).content
    assert TwoFactor.objects.filter(user=superadmin, enabled=True).exists()
    response = admin_client.post(reverse("two-factor-disable"), {"code": codes[3]})
    assert response["Location"] == reverse("two-factor")
    assert not TwoFactor.objects.exists() and not RecoveryCode.objects.exists()
    assert AuditEntry.objects.filter(action="2fa.disable", object="admin").exists()
    admin_client.post(reverse("logout"))
    assert password_step(client)["Location"] == reverse("home")


def test_account_pages_need_a_login(client) -> None:  # type: ignore[no-untyped-def]
    for name in ("two-factor", "two-factor-disable", "two-factor-recovery"):
        assert client.get(reverse(name))["Location"].startswith(reverse("login"))


def test_the_api_takes_a_bearer_token_with_2fa_required(client, enrolled, settings) -> None:  # type: ignore[no-untyped-def]
    settings.REQUIRE_2FA = True
    _, secret = token_create(name="ci", scope="read", actor=Actor("test"))
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.get("/api/v1/mailboxes/").status_code == 200
    # A half-signed-in panel session is no session for the API.
    password_step(client)
    assert client.get("/api/v1/mailboxes/").status_code == 401


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_enrol_then_sign_in_with_a_code_in_a_browser(browser_page, live_server, superadmin) -> None:  # type: ignore[no-untyped-def]
    page = browser_page
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    sign_in(page, live_server.url + "/login/")
    page.wait_for_selector("h1:has-text('Mail server')")
    page.click(".account-menu summary")
    page.click("text=Two-factor sign-in")
    page.wait_for_selector("h1:has-text('Set up two-factor sign-in')")
    assert page.locator("#qr svg").bounding_box()["width"] >= 150  # type: ignore[index]
    secret = page.inner_text("#totp-secret").replace(" ", "")
    page.fill("#id_code", pyotp.TOTP(secret).now())
    page.click("button:has-text('Turn on two-factor sign-in')")
    page.wait_for_selector("#recovery-codes")
    assert page.locator("#recovery-codes li").count() == 10

    page.click(".account-menu summary")
    page.click("button.link:text-is('Sign out')")
    page.wait_for_selector("#id_username")
    page.fill("#id_username", "admin")
    page.fill("#id_password", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("h1:has-text('Two-factor sign-in')")
    page.fill("#id_code", next_code(secret))
    page.click("button[type=submit]")
    page.wait_for_selector("h1:has-text('Mail server')")
    assert page.url == live_server.url + "/"
    assert not [e for e in errors if "Content Security Policy" in e], errors


def test_require_2fa_also_stops_sessions_opened_before_it(admin_client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.REQUIRE_2FA = True
    response = admin_client.get("/mailboxes/")
    assert response.status_code == 302 and response["Location"] == "/account/2fa/"
    assert admin_client.get("/account/2fa/").status_code == 200
