from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse

from accounts import services

pytestmark = pytest.mark.django_db


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_needs_login(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get(reverse("accounts:alias-list"))["Location"].startswith("/login/")
    assert client.post(reverse("accounts:regexp-create"), {})["Location"].startswith("/login/")


def test_list_add_edit_delete(admin_client, config_dir: Path) -> None:  # type: ignore[no-untyped-def]
    assert b"alias@example.test" in admin_client.get(reverse("accounts:alias-list")).content
    response = admin_client.post(
        reverse("accounts:alias-list"), {"address": "team@example.test", "targets": "user@example.test\nx@other.test"}
    )
    assert response.status_code == 302
    assert "team@example.test user@example.test,x@other.test" in (config_dir / "postfix-virtual.cf").read_text()
    edit = reverse("accounts:alias-edit", args=["team@example.test"])
    admin_client.post(edit, {"address": "ignored@example.test", "targets": "user@example.test"})
    assert "team@example.test user@example.test\n" in (config_dir / "postfix-virtual.cf").read_text()
    delete = reverse("accounts:alias-delete", args=["team@example.test"])
    assert b"-team@example.test" in admin_client.get(delete).content
    admin_client.post(delete)
    assert "team@" not in (config_dir / "postfix-virtual.cf").read_text()


def test_a_catch_all_shows_its_warning(admin_client) -> None:  # type: ignore[no-untyped-def]
    page = admin_client.post(
        reverse("accounts:alias-list"), {"address": "@example.test", "targets": "user@example.test"}, follow=True
    )
    assert b"also catches mail" in page.content


def test_bad_input_shows_the_error_and_writes_nothing(admin_client, config_dir: Path) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(config_dir)
    page = admin_client.post(
        reverse("accounts:alias-list"), {"address": "x@example.test", "targets": "a|b@example.test"}
    )
    assert page.status_code == 200 and b"Use only letters" in page.content
    bad_regexp = admin_client.post(reverse("accounts:regexp-create"), {"pattern": "(", "targets": "user@example.test"})
    assert bad_regexp.status_code == 400 and b"not a valid regular expression" in bad_regexp.content
    assert snapshot(config_dir) == before


def test_regexp_add_and_delete(admin_client, config_dir: Path) -> None:  # type: ignore[no-untyped-def]
    admin_client.post(
        reverse("accounts:regexp-create"),
        {"pattern": "^qa.*@example\\.test$", "flags": "i", "targets": "user@example.test"},
    )
    assert (config_dir / "postfix-regexp.cf").read_text() == "/^qa.*@example\\.test$/i user@example.test\n"
    [entry] = services.regexp_list()
    admin_client.post(reverse("accounts:regexp-delete", args=[services.regexp_id(entry)]))
    assert (config_dir / "postfix-regexp.cf").read_text() == ""
