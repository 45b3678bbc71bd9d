"""IDN domains against the real test mail image: Dovecot and Postfix read the punycode we store."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from access.tokens import token_create
from accounts.tests.test_mailboxes_real import eventually, imap_login
from dms_admin.audit import Actor

pytestmark = [pytest.mark.docker, pytest.mark.django_db]
PUNY = "xn--bcher-kva.example"


@pytest.fixture
def served(settings, docker_engine, mail_container_served):  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = docker_engine.host
    settings.DMS_CONTAINER_NAME = mail_container_served.container.name
    return mail_container_served


def test_a_unicode_domain_typed_in_the_api_works_in_dovecot_and_postfix(served) -> None:  # type: ignore[no-untyped-def]
    _, secret = token_create(name="idn", scope="write", actor=Actor("admin"))
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    made = api.post("/api/v1/mailboxes/", {"address": "info@bücher.example", "password": "idn-pass-12"}, format="json")
    assert made.status_code == 201, made.content
    relay = api.post("/api/v1/relays/", {"domain": "bücher.example", "host": "smtp.x.test", "port": 587}, format="json")
    assert relay.status_code == 201, relay.content
    # Dovecot knows the mailbox by its ASCII name, the one mail clients send (no SMTPUTF8).
    eventually(lambda: imap_login(served.imap_port, f"info@{PUNY}", "idn-pass-12"))
    # Postfix finds the sender domain's relay in the file as DMS hands it over.
    lookup = served.container.exec_run(
        ["postmap", "-q", f"@{PUNY}", "texthash:/tmp/docker-mailserver/postfix-relaymap.cf"]
    )
    assert lookup.exit_code == 0 and lookup.output.decode().strip() == "[smtp.x.test]:587"
