"""Internationalisation: the language comes from the environment, and the panel is ready for catalogs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

from dms_admin.settings import panel_languages

REPO = Path(__file__).resolve().parent.parent

PRINT_LANGUAGE = (
    "import django; django.setup(); from django.conf import settings; "
    "print(settings.LANGUAGE_CODE, [code for code, _ in settings.LANGUAGES])"
)


def start(language: str | None) -> subprocess.CompletedProcess[str]:
    """Start Django with the test settings and LANGUAGE_CODE set to `language` (None: unset)."""
    env = {k: v for k, v in os.environ.items() if k != "LANGUAGE_CODE"}
    env["DJANGO_SETTINGS_MODULE"] = "dms_admin.settings_test"
    if language is not None:
        env["LANGUAGE_CODE"] = language
    command = [sys.executable, "-c", PRINT_LANGUAGE]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, "en-us"), ("", "en-us"), ("de", "de"), ("pt-BR", "pt-br"), ("en-gb", "en-gb"), ("de-ch", "de-ch")],
)
def test_language_code_comes_from_the_environment(value: str | None, expected: str) -> None:
    result = start(value)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == expected
    # No catalog in locale/ yet: the panel offers its own language and no other.
    assert result.stdout.strip().endswith(f"['{expected}']")


@pytest.mark.parametrize("value", ["xx", "klingon", "en_US", "de;rm -rf /", "en-", "de\nfr"])
def test_a_language_django_does_not_know_stops_the_start(value: str) -> None:
    result = start(value)
    assert result.returncode != 0
    assert "ImproperlyConfigured: LANGUAGE_CODE must be a language code Django knows" in result.stderr
    assert repr(value) in result.stderr


def test_a_compiled_catalog_in_locale_adds_its_language(tmp_path: Path) -> None:
    for name, compiled in (("de", True), ("pt_BR", True), ("fr", False), ("xx", True)):
        folder = tmp_path / name / "LC_MESSAGES"
        folder.mkdir(parents=True)
        (folder / "django.po").write_text("")
        if compiled:
            (folder / "django.mo").write_bytes(b"")
    expected = [("en-us", "English"), ("de", "German"), ("pt-br", "Brazilian Portuguese")]
    assert panel_languages("en-us", tmp_path) == expected
    assert panel_languages("de", tmp_path)[0] == ("de", "German")
    assert panel_languages("en-us", tmp_path / "missing") == [("en-us", "English")]


def test_locale_folder_and_middleware_are_set(settings) -> None:  # type: ignore[no-untyped-def]
    assert settings.USE_I18N is True
    assert settings.LOCALE_PATHS == [REPO / "locale"]
    middleware = settings.MIDDLEWARE
    locale = middleware.index("django.middleware.locale.LocaleMiddleware")
    assert middleware.index("django.contrib.sessions.middleware.SessionMiddleware") < locale
    assert locale < middleware.index("django.middleware.common.CommonMiddleware")


def test_a_browser_asking_for_german_gets_one_language_not_a_mix(admin_client) -> None:  # type: ignore[no-untyped-def]
    # Django ships German for its own strings ("Dieses Feld ist zwingend erforderlich."); the panel
    # has no German catalog, so the whole page stays in LANGUAGE_CODE.
    url = reverse("accounts:mailbox-create")
    response = admin_client.post(url, {"address": "", "password": ""}, HTTP_ACCEPT_LANGUAGE="de")
    assert response.status_code in (200, 400)
    assert response["Content-Language"] == "en-us"
    assert "Accept-Language" in response["Vary"]
    body = response.content.decode()
    assert "This field is required." in body
    assert "erforderlich" not in body
