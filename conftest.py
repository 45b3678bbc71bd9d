"""Root fixtures: a fresh DMS config folder per test, and the personas."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from dms_admin.configstore import ConfigStore

pytest_plugins = ["tests.realenv.fixtures"]

# SHA512-CRYPT of "secret" (5000 rounds), as `doveadm pw -s SHA512-CRYPT` makes it.
TEST_PASSWORD = "secret"  # noqa: S105
TEST_HASH = (
    "{SHA512-CRYPT}$6$4n7RALBQ5AdOhg0k$"
    "GP4gAcNiShmnFmcF2vHhwcT2YyeUe.NHgDO9KB8Fft2LfnIy/7Sp4xa6.eiUYWo8rC6N8ABJdgmpL9qkHMNPe1"
)
ADMIN_PASSWORD = "correct-horse-battery-staple"  # noqa: S105


def sign_in(page, url: str, username: str = "admin", password: str = ADMIN_PASSWORD) -> None:  # type: ignore[no-untyped-def]
    """Open `url` in the browser (the login form when signed out) and sign in there."""
    page.goto(url)
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")


def wait_until(page, function: str, arg: object = None, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    """Poll a JavaScript function in the page until it returns true (awaiting a promise it returns).

    Not Playwright's wait_for_function: when its first check is false it polls by evaluating a
    string inside the page, which our Content-Security-Policy (script-src 'self') forbids.
    page.evaluate goes through the DevTools protocol, which the policy does not govern.
    """
    deadline = time.monotonic() + timeout
    while not page.evaluate(function, arg):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout} s: {function}")
        page.wait_for_timeout(100)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):  # type: ignore[no-untyped-def]
    """In CI nothing skips: a skip there is a failure with its reason."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") == "true" and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where every test must run: {report.longrepr}"


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A minimal DMS config folder: one account, so DMS (and our test image) starts."""
    folder = tmp_path / "config"
    folder.mkdir()
    (folder / "postfix-accounts.cf").write_text(f"user@example.test|{TEST_HASH}\n")
    (folder / "postfix-virtual.cf").write_text("# aliases\nalias@example.test user@example.test\n")
    # Exists at start, so Postfix uses it (DMS hooks access tables in only at startup).
    (folder / "postfix-send-access.cf").write_text("# senders refused\n")
    (folder / "mailserver.env").write_text("OVERRIDE_HOSTNAME=mail.example.test\nENABLE_SPAMASSASSIN=1\n")
    return folder


@pytest.fixture
def store(config_dir: Path) -> ConfigStore:
    return ConfigStore(config_dir)


@pytest.fixture(autouse=True)
def _config_settings(settings, config_dir: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    settings.DMS_CONFIG_DIR = config_dir
    settings.DMS_HISTORY_DIR = config_dir / ".dms-admin" / "history.git"
    settings.DATA_DIR = tmp_path / "data"
    # Backup destinations must lie inside BACKUP_ROOTS: a test's own folder (not its data, config
    # or mail folders, which stay refused).
    settings.BACKUP_ROOTS = [tmp_path]


@pytest.fixture
def superadmin(django_user_model):  # type: ignore[no-untyped-def]
    return django_user_model.objects.create_superuser("admin", "admin@example.test", ADMIN_PASSWORD)


@pytest.fixture
def admin_client(client, superadmin):  # type: ignore[no-untyped-def]
    client.force_login(superadmin)
    return client


# ---- the personas (style.md §11): each its own client, so one test may use several ----------------


@pytest.fixture
def anonymous_client():  # type: ignore[no-untyped-def]
    from django.test import Client

    return Client()


@pytest.fixture
def superadmin_client(superadmin):  # type: ignore[no-untyped-def]
    from django.test import Client

    client = Client()
    client.force_login(superadmin)
    return client


def make_domain_admin(username: str, *domains: str):  # type: ignore[no-untyped-def]
    """A staff user with a DomainAdmin row: what the admins page creates."""
    from django.contrib.auth import get_user_model

    from access.models import DomainAdmin

    user = get_user_model().objects.create_user(username, password=ADMIN_PASSWORD, is_staff=True)
    DomainAdmin.objects.create(user=user, domains=list(domains))
    return user


@pytest.fixture
def domain_admin(db):  # type: ignore[no-untyped-def]
    return make_domain_admin("dana", "example.test")


@pytest.fixture
def domain_admin_client(domain_admin):  # type: ignore[no-untyped-def]
    from django.test import Client

    client = Client()
    client.force_login(domain_admin)
    return client


@pytest.fixture
def other_domain_admin(db):  # type: ignore[no-untyped-def]
    return make_domain_admin("olga", "other.test")


@pytest.fixture
def other_domain_admin_client(other_domain_admin):  # type: ignore[no-untyped-def]
    """A domain admin of other.test: none of config_dir's mailboxes and aliases are theirs."""
    from django.test import Client

    client = Client()
    client.force_login(other_domain_admin)
    return client


@pytest.fixture
def outsider_client(django_user_model):  # type: ignore[no-untyped-def]
    """A staff user with no DomainAdmin row: signed in, but with no role anywhere."""
    from django.test import Client

    client = Client()
    client.force_login(django_user_model.objects.create_user("eve", password=ADMIN_PASSWORD, is_staff=True))
    return client


@pytest.fixture
def mail_user_client(db, config_dir: Path):  # type: ignore[no-untyped-def]
    """user@example.test signed in on /me/ with its mailbox password (a mail user, no Django user)."""
    from django.test import Client

    client = Client()
    response = client.post("/me/login/", {"address": "user@example.test", "password": TEST_PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/me/", response
    return client


def token_client(*, name: str, scope: str, domains: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    from rest_framework.test import APIClient

    from access.tokens import token_create
    from dms_admin.audit import Actor

    _, secret = token_create(name=name, scope=scope, domains=list(domains), actor=Actor("test"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.fixture
def read_token_client(db):  # type: ignore[no-untyped-def]
    return token_client(name="persona-read", scope="read")


@pytest.fixture
def write_token_client(db):  # type: ignore[no-untyped-def]
    return token_client(name="persona-write", scope="write")


@pytest.fixture
def other_domain_token_client(db):  # type: ignore[no-untyped-def]
    """A write token limited to other.test."""
    return token_client(name="persona-other", scope="write", domains=("other.test",))


CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps calling out, which this network refuses.
# Kept by hand (fmt: skip): the flags packed, not one a line.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]  # fmt: skip


@pytest.fixture
def browser_page(monkeypatch):  # type: ignore[no-untyped-def]
    """A page in a real headless Chromium (Debian's, driven by Playwright)."""
    if not shutil.which(CHROMIUM):
        pytest.skip("Chromium is not installed (make test installs it as root)")
    # Playwright's sync API runs an event loop in this thread; our ORM calls here are still sync.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser.new_page()
        finally:
            browser.close()


@pytest.fixture(autouse=True)
def _fresh_health_cache():  # type: ignore[no-untyped-def]
    """Home and /metrics keep the container's part of the health report for seconds: not across tests."""
    from dms_admin.ops.health import forget_cached_report

    forget_cached_report()
    yield
    forget_cached_report()
