"""Fail2ban: parsing `setup fail2ban` output, and ban/unban through the real exec path.

The test image has no Fail2ban: a small stand-in `setup` script put into the real container
answers like DMS's `setup fail2ban`, so the exec, the parsing and the audit run for real.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from dms_admin.audit import Actor
from dms_admin.errors import FieldError
from dms_admin.models import AuditEntry
from dms_admin.ops import fail2ban
from tests.ops_helpers import UNREACHABLE, api_client, put_file, use_real_engine

pytestmark = [pytest.mark.django_db]

STATUS = """\
Status for the jail: dovecot
|- Filter
|  |- Currently failed:\t3
|  |- Total failed:\t41
|  `- File list:\t/var/log/mail/mail.log
`- Actions
   |- Currently banned:\t2
   |- Total banned:\t9
   `- Banned IP list:\t198.51.100.7 2001:db8::5

Status for the jail: postfix-sasl
|- Filter
|  |- Currently failed:\t0
|  |- Total failed:\t0
|  `- File list:\t/var/log/mail/mail.log
`- Actions
   |- Currently banned:\t0
   |- Total banned:\t0
   `- Banned IP list:\t
"""

# Answers like DMS's target/bin/fail2ban (v15): `status`, plain listing, `ban`, `unban`; state in a file.
FAKE_SETUP = r"""#!/bin/sh
STATE=/tmp/f2b-banned
[ "$1" = fail2ban ] || { echo "unknown command $1" >&2; exit 1; }
shift
jail() {
  printf 'Status for the jail: %s\n|- Filter\n|  |- Currently failed:\t0\n' "$1"
  printf '|  |- Total failed:\t0\n|  `- File list:\t/var/log/mail/mail.log\n`- Actions\n'
  printf '   |- Currently banned:\t%s\n   |- Total banned:\t%s\n' "$2" "$2"
  printf '   `- Banned IP list:\t%s\n\n' "$3"
}
banned() { grep -qx "$1" "$STATE"; }
case "$1" in
  status) jail custom "$(wc -l < "$STATE")" "$(tr '\n' ' ' < "$STATE")"; jail dovecot 1 203.0.113.9 ;;
  '') echo "Banned in dovecot: 203.0.113.9" ;;
  ban)
    if banned "$2"; then echo "[  ERROR  ]  Banning '$2' failed. Already banned?"
    else echo "$2" >> "$STATE"; echo "Banned custom IP: 1"; fi ;;
  unban)
    if banned "$2"; then
      grep -vx "$2" "$STATE" > "$STATE.new"; mv "$STATE.new" "$STATE"; echo "Unbanned IP from custom: 1"
    fi ;;
  *) echo "Unknown command '$1'" >&2; exit 1 ;;
esac
exit 0
"""


def test_status_output_is_parsed_per_jail() -> None:
    jails = fail2ban.parse_status(STATUS)
    assert [j.name for j in jails] == ["dovecot", "postfix-sasl"]
    assert jails[0].banned == ["198.51.100.7", "2001:db8::5"]
    assert (jails[0].currently_failed, jails[0].total_banned) == (3, 9)
    assert jails[1].banned == [] and jails[1].total_banned == 0


def test_the_plain_listing_is_parsed_in_both_separators() -> None:
    jails = fail2ban.parse_banned(
        "Banned in dovecot: 198.51.100.7 198.51.100.8\nBanned in postfix: 203.0.113.1, 203.0.113.2\n"
    )
    assert [(j.name, j.banned) for j in jails] == [
        ("dovecot", ["198.51.100.7", "198.51.100.8"]),
        ("postfix", ["203.0.113.1", "203.0.113.2"]),
    ]
    assert fail2ban.parse_banned("[   INF   ]  No IPs have been banned\n") == []


def test_only_ip_addresses_pass() -> None:
    assert fail2ban.clean_ip(" 2001:DB8::1 ") == "2001:db8::1"
    for bad in ("198.51.100", "1.2.3.4; rm -rf /", "--help", "example.com", "1.2.3.4/24", ""):
        with pytest.raises(FieldError):
            fail2ban.clean_ip(bad)


@pytest.fixture
def real(settings, docker_engine, mail_container, config_dir):  # type: ignore[no-untyped-def]
    use_real_engine(settings, docker_engine, mail_container)
    put_file(mail_container, "/usr/local/bin/setup", FAKE_SETUP, mode="0755")
    put_file(mail_container, "/tmp/f2b-banned", "")
    # The container's env does not say: mailserver.env does.
    (config_dir / "mailserver.env").write_text("OVERRIDE_HOSTNAME=mail.example.test\nENABLE_FAIL2BAN=1\n")
    return mail_container


@pytest.mark.docker
def test_ban_list_and_unban_through_the_real_exec_path(admin_client, real) -> None:  # type: ignore[no-untyped-def]
    page = admin_client.get(reverse("fail2ban-ban"), {"ip": "198.51.100.7"})
    assert page.status_code == 200 and b'value="198.51.100.7"' in page.content  # GET only confirms
    assert real.exec_run(["cat", "/tmp/f2b-banned"]).output == b""
    response = admin_client.post(reverse("fail2ban-ban"), {"ip": "198.51.100.7"})
    assert response.status_code == 302 and response["Location"] == reverse("fail2ban-list")
    assert real.exec_run(["cat", "/tmp/f2b-banned"]).output == b"198.51.100.7\n"
    entry = AuditEntry.objects.get(action="fail2ban.ban")
    assert entry.object == "198.51.100.7" and entry.actor == "admin"

    listing = admin_client.get(reverse("fail2ban-list"))
    html = listing.content.decode()
    assert "198.51.100.7" in html and "203.0.113.9" in html and 'id="jail-custom"' in html
    assert reverse("fail2ban-unban", args=["198.51.100.7"]) in html

    again = admin_client.post(reverse("fail2ban-ban"), {"ip": "198.51.100.7"}, follow=True)
    assert "already banned" in again.content.decode()
    assert AuditEntry.objects.filter(action="fail2ban.ban").count() == 1

    assert admin_client.get(reverse("fail2ban-unban", args=["198.51.100.7"])).status_code == 200
    done = admin_client.post(reverse("fail2ban-unban", args=["198.51.100.7"]), {"ip": "198.51.100.7"}, follow=True)
    assert "198.51.100.7 is unbanned from custom." in done.content.decode()
    assert real.exec_run(["cat", "/tmp/f2b-banned"]).output == b""
    assert AuditEntry.objects.filter(action="fail2ban.unban", object="198.51.100.7").exists()


@pytest.mark.docker
def test_the_api_lists_bans_and_unbans(real) -> None:  # type: ignore[no-untyped-def]
    api = api_client("write")
    assert api.post("/api/v1/fail2ban/ban/", {"ip": "2001:db8::7"}, format="json").json() == {
        "message": "2001:db8::7 is banned."
    }
    jails = {j["name"]: j for j in api.get("/api/v1/fail2ban/").json()}
    assert jails["custom"]["banned"] == ["2001:db8::7"] and jails["dovecot"]["banned"] == ["203.0.113.9"]
    response = api.post("/api/v1/fail2ban/unban/", {"ip": "192.0.2.200"}, format="json")
    assert response.status_code == 409 and "not banned" in response.json()["error"]
    bad = api.post("/api/v1/fail2ban/ban/", {"ip": "1.2.3.4; reboot"}, format="json")
    assert bad.status_code == 400 and "ip" in bad.json()["fields"]
    assert api_client("read").post("/api/v1/fail2ban/ban/", {"ip": "192.0.2.1"}, format="json").status_code == 403


@pytest.mark.docker
def test_a_bad_address_is_refused_and_nothing_runs(admin_client, real) -> None:  # type: ignore[no-untyped-def]
    response = admin_client.post(reverse("fail2ban-ban"), {"ip": "1.2.3.4 && reboot"})
    assert response.status_code == 200 and "is not an IPv4 or IPv6 address" in response.content.decode()
    assert real.exec_run(["cat", "/tmp/f2b-banned"]).output == b""
    assert not AuditEntry.objects.filter(action__startswith="fail2ban").exists()


@pytest.mark.docker
def test_when_fail2ban_is_off_the_page_says_so(admin_client, settings, docker_engine, mail_container) -> None:  # type: ignore[no-untyped-def]
    use_real_engine(settings, docker_engine, mail_container)
    html = admin_client.get(reverse("fail2ban-list")).content.decode()
    assert "Fail2ban is off" in html
    assert api_client().get("/api/v1/fail2ban/").status_code == 409


def test_engine_unreachable_the_page_says_so(settings, admin_client) -> None:  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = UNREACHABLE
    page = admin_client.get(reverse("fail2ban-list"))
    assert page.status_code == 200 and "Mail container unreachable" in page.content.decode()
    response = admin_client.post(reverse("fail2ban-ban"), {"ip": "192.0.2.1"}, follow=True)
    assert "cannot be reached" in response.content.decode()


def test_fail2ban_pages_need_a_login(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get(reverse("fail2ban-list"))["Location"].startswith("/login/")
    assert client.post(reverse("fail2ban-ban"), {"ip": "192.0.2.1"})["Location"].startswith("/login/")
    assert client.post(reverse("fail2ban-unban", args=["192.0.2.1"]))["Location"].startswith("/login/")


def test_ban_answers_only_get_and_post(settings, admin_client) -> None:  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = UNREACHABLE
    assert admin_client.put(reverse("fail2ban-ban")).status_code == 405
    assert admin_client.delete(reverse("fail2ban-unban", args=["192.0.2.1"])).status_code == 405


def test_the_service_audits_nothing_on_failure(settings) -> None:  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = UNREACHABLE
    from dms_admin.dms import DockerUnavailable

    with pytest.raises(DockerUnavailable):
        fail2ban.fail2ban_ban(ip="192.0.2.1", actor=Actor("x"))
    assert not AuditEntry.objects.exists()
