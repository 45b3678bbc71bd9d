"""Self-service against the real test mail image: a password changed on /me/ works over IMAP."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.tests.test_mailboxes_real import eventually, imap_login
from conftest import TEST_PASSWORD

pytestmark = [pytest.mark.docker, pytest.mark.django_db]

USER = "user@example.test"
NEW_PASSWORD = "self-served-pass-1"


@pytest.fixture
def served(settings, docker_engine, mail_container_served):  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = docker_engine.host
    settings.DMS_CONTAINER_NAME = mail_container_served.container.name
    return mail_container_served


def test_a_password_changed_on_the_self_service_page_works_over_imap(served, client: Client) -> None:  # type: ignore[no-untyped-def]
    assert imap_login(served.imap_port, USER, TEST_PASSWORD)
    assert client.post("/me/login/", {"address": USER, "password": TEST_PASSWORD})["Location"] == "/me/"
    response = client.post(
        "/me/password/", {"old_password": TEST_PASSWORD, "password": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )
    assert response.status_code == 302 and response["Location"] == "/me/"
    took = eventually(lambda: imap_login(served.imap_port, USER, NEW_PASSWORD), timeout=15)
    assert took < 10
    assert not imap_login(served.imap_port, USER, TEST_PASSWORD)
    assert client.get("/me/").status_code == 200  # the user's own change keeps them signed in
