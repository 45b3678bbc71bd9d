from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse

from dms_admin.models import JobRun

pytestmark = pytest.mark.django_db


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


@pytest.mark.parametrize("name", ["mailbox-list", "mailbox-create"])
def test_pages_need_login(client, name: str) -> None:  # type: ignore[no-untyped-def]
    assert client.get(reverse(f"accounts:{name}"))["Location"].startswith("/login/")


def test_anonymous_post_changes_nothing(client, config_dir: Path) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(config_dir)
    client.post(
        reverse("accounts:mailbox-create"),
        {"address": "x@example.test", "password": "s3cret-pass", "password2": "s3cret-pass"},
    )
    assert snapshot(config_dir) == before


def test_list_and_search(admin_client) -> None:  # type: ignore[no-untyped-def]
    page = admin_client.get(reverse("accounts:mailbox-list"))
    assert b"user@example.test" in page.content
    assert b"user@example.test" not in admin_client.get(reverse("accounts:mailbox-list"), {"search": "nobody"}).content


def test_list_query_count_does_not_grow_with_mailboxes(
    admin_client, config_dir: Path, django_assert_max_num_queries
) -> None:  # type: ignore[no-untyped-def]
    with open(config_dir / "postfix-accounts.cf", "a") as fh:
        for i in range(200):
            fh.write(f"u{i}@example.test|{{SHA512-CRYPT}}$6$x$y\n")
    with django_assert_max_num_queries(4):
        assert admin_client.get(reverse("accounts:mailbox-list")).status_code == 200


def test_create_happy_path(admin_client, config_dir: Path) -> None:  # type: ignore[no-untyped-def]
    response = admin_client.post(
        reverse("accounts:mailbox-create"),
        {"address": "New@Example.test", "password": "s3cret-pass", "password2": "s3cret-pass", "quota": "1G"},
    )
    assert response.status_code == 302
    assert "new@example.test|{SHA512-CRYPT}$6$" in (config_dir / "postfix-accounts.cf").read_text()
    assert "new@example.test:1G" in (config_dir / "dovecot-quotas.cf").read_text()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"address": "bad|x@example.test", "password": "s3cret-pass", "password2": "s3cret-pass"}, b"Use only letters"),
        ({"address": "user@example.test", "password": "s3cret-pass", "password2": "s3cret-pass"}, b"exists already"),
        (
            {"address": "q@example.test", "password": "s3cret-pass", "password2": "s3cret-pass", "quota": "big"},
            b"whole number",
        ),
        ({"address": "q@example.test", "password": "s3cret-pass", "password2": "other-pass"}, b"passwords differ"),
    ],
)
def test_bad_input_shows_the_error_and_writes_nothing(
    admin_client, config_dir: Path, data: dict, message: bytes
) -> None:  # type: ignore[no-untyped-def,type-arg]
    before = snapshot(config_dir)
    response = admin_client.post(reverse("accounts:mailbox-create"), data)
    assert response.status_code == 200 and message in response.content
    assert snapshot(config_dir) == before


def test_password_change(admin_client, config_dir: Path) -> None:  # type: ignore[no-untyped-def]
    before = (config_dir / "postfix-accounts.cf").read_text()
    url = reverse("accounts:mailbox-password", args=["user@example.test"])
    assert admin_client.post(url, {"password": "new-pass-123", "password2": "new-pass-123"}).status_code == 302
    assert (config_dir / "postfix-accounts.cf").read_text() != before
    assert admin_client.get(reverse("accounts:mailbox-password", args=["ghost@example.test"])).status_code == 404


def test_delete_confirms_with_a_diff_then_deletes_and_can_purge(admin_client, config_dir: Path) -> None:  # type: ignore[no-untyped-def]
    url = reverse("accounts:mailbox-delete", args=["user@example.test"])
    confirm = admin_client.get(url)
    assert (
        b"-user@example.test|" in confirm.content
        and "user@example.test" in (config_dir / "postfix-accounts.cf").read_text()
    )
    response = admin_client.post(url, {"purge": "on"})
    run = JobRun.objects.get(kind="mailbox-purge")
    assert response["Location"] == reverse("job-detail", args=[run.id])
    assert "user@example.test" not in (config_dir / "postfix-accounts.cf").read_text()


def test_quota_page_sets_and_clears(admin_client, config_dir: Path) -> None:  # type: ignore[no-untyped-def]
    url = reverse("accounts:mailbox-quota", args=["user@example.test"])
    admin_client.post(url, {"quota": "3G"})
    assert (config_dir / "dovecot-quotas.cf").read_text() == "user@example.test:3G\n"
    admin_client.post(url, {"quota": ""})
    assert (config_dir / "dovecot-quotas.cf").read_text() == ""
