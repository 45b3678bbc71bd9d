"""The logs page and API: tail, filters, and the FAQ's known errors written into the real container's log."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.ops_helpers import UNREACHABLE, api_client, use_real_engine, write_log
from tests.test_logscan import SAMPLES

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def real(settings, docker_engine, mail_container):  # type: ignore[no-untyped-def]
    use_real_engine(settings, docker_engine, mail_container)
    return mail_container


@pytest.mark.docker
def test_it_recognises_each_faq_error_written_into_the_container_log(admin_client, real) -> None:  # type: ignore[no-untyped-def]
    write_log(real, *SAMPLES.values())
    page = admin_client.get(reverse("logs"), {"since": "15m"})
    assert page.status_code == 200
    html = page.content.decode()
    for error_id in SAMPLES:
        assert f'id="known-{error_id}"' in html, error_id
    assert "OpenDKIM is not running" in html and "supervisorctl restart opendkim" in html
    assert "1 core and 1 GB RAM" in html  # the FAQ's ClamAV answer is the fix

    body = api_client().get("/api/v1/logs/", {"since": "15m"}).json()
    found = {k["id"]: k for k in body["known_errors"]}
    assert set(found) == set(SAMPLES)
    assert found["opendmarc-down"]["fix"] and found["opendmarc-down"]["count"] == 1
    assert found["amavis-down"]["example"] == SAMPLES["amavis-down"]
    flagged = [line for line in body["results"] if line["known"]]
    assert {line["known"]["id"] for line in flagged} == set(SAMPLES)
    assert all(line["at"] for line in body["results"])


@pytest.mark.docker
def test_it_filters_by_service_and_text(real) -> None:  # type: ignore[no-untyped-def]
    write_log(real, "Nov 25 10:00:00 mail postfix/smtpd[42]: connect from needle.example[192.0.2.1]")
    api = api_client()
    postfix = api.get("/api/v1/logs/", {"service": "postfix"}).json()["results"]
    assert postfix and {line["service"] for line in postfix} <= {"postfix", "supervisord"}
    assert any("daemon started" in line["text"] for line in postfix)  # the real Postfix start
    dovecot = api.get("/api/v1/logs/", {"service": "dovecot"}).json()["results"]
    assert any("Dovecot" in line["text"] for line in dovecot)
    found = api.get("/api/v1/logs/", {"search": "NEEDLE.example"}).json()
    assert found["count"] == 1 and found["results"][0]["service"] == "postfix"
    assert api.get("/api/v1/logs/", {"search": "needle", "service": "dovecot"}).json()["count"] == 0


@pytest.mark.docker
def test_since_in_the_future_shows_nothing(real) -> None:  # type: ignore[no-untyped-def]
    body = api_client().get("/api/v1/logs/", {"since": "2999-01-01T00:00:00Z"}).json()
    assert body["count"] == 0 and body["results"] == []


def test_bad_parameters_are_a_clear_400_and_a_message_on_the_page(settings, admin_client) -> None:  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = UNREACHABLE
    api = api_client()
    response = api.get("/api/v1/logs/", {"since": "yesterday"})
    assert response.status_code == 400 and "since" in response.json()["fields"]
    response = api.get("/api/v1/logs/", {"service": "sendmail"})
    assert response.status_code == 400 and "service" in response.json()["fields"]
    response = api.get("/api/v1/logs/", {"tail": "lots"})
    assert response.status_code == 400 and "tail" in response.json()["fields"]
    page = admin_client.get(reverse("logs"), {"since": "yesterday"})
    assert page.status_code == 200 and "is not a time" in page.content.decode()


def test_engine_unreachable_the_page_says_so_and_the_api_answers_503(settings, admin_client) -> None:  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = UNREACHABLE
    page = admin_client.get(reverse("logs"))
    assert page.status_code == 200 and "Mail container unreachable" in page.content.decode()
    response = api_client().get("/api/v1/logs/")
    assert response.status_code == 503 and "cannot be reached" in response.json()["error"]


def test_logs_need_a_login(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get(reverse("logs"))["Location"].startswith("/login/")
    assert client.get("/api/v1/logs/").status_code == 401  # api.md: 401 for no token
