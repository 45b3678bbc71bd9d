"""Root fixtures: a fresh DMS config folder per test, and the personas."""

from __future__ import annotations

import os
import shutil
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


CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps calling out, which this network refuses.
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
