"""The REST face of mail rules: shapes, scopes and hostile input (sievec faked; see test_real.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import token_client
from mailrules.tests.conftest import active

pytestmark = pytest.mark.django_db
BASE = "/api/v1/mailboxes/user@example.test"
VACATION = {"enabled": True, "subject": "Away", "text": "Back on Monday.\n", "days": 3, "timezone": "Europe/Berlin"}


def config_copy(config_dir: Path) -> Path:
    return config_dir / "user@example.test.dovecot.sieve"


def test_vacation_put_get_delete(write_token_client, mail_dir, sievec, config_dir) -> None:
    put = write_token_client.put(f"{BASE}/vacation/", {**VACATION, "start": "2026-12-20"}, format="json")
    assert put.status_code == 200, put.content
    body = put.json()
    assert body["enabled"] is True and body["start"] == "2026-12-20" and body["end"] is None
    assert body["addresses"] == ["alias@example.test"] and body["timezone"] == "Europe/Berlin"
    assert body["apply"]["state"] == "applied" and body["change"]["commit"]
    assert "vacation :days 3" in active(mail_dir).read_text()
    assert write_token_client.get(f"{BASE}/vacation/").json() == {
        k: body[k] for k in write_token_client.get(f"{BASE}/vacation/").json()
    }
    gone = write_token_client.delete(f"{BASE}/vacation/")
    assert gone.status_code == 200 and gone.json()["enabled"] is False
    assert not active(mail_dir).exists() and not config_copy(config_dir).exists()


def test_forwarding_put_get_delete_and_dry_run(write_token_client, mail_dir, sievec, config_dir) -> None:
    dry = write_token_client.put(
        f"{BASE}/forwarding/?dry_run=1", {"targets": ["a@münchen.example"], "keep_copy": False}, format="json"
    )
    assert (
        dry.status_code == 200
        and dry.json()["dry_run"] is True
        and 'redirect "a@xn--mnchen-3ya.example";' in dry.json()["diff"]
    )
    assert not config_copy(config_dir).exists()
    put = write_token_client.put(
        f"{BASE}/forwarding/", {"targets": ["a@münchen.example"], "keep_copy": False}, format="json"
    )
    assert put.json()["targets"] == ["a@xn--mnchen-3ya.example"] and put.json()["keep_copy"] is False
    assert write_token_client.get(f"{BASE}/forwarding/").json() == {
        "targets": ["a@xn--mnchen-3ya.example"],
        "keep_copy": False,
    }
    assert write_token_client.delete(f"{BASE}/forwarding/").json()["targets"] == []


def test_a_broken_script_is_400_with_sievec_line_numbers_and_nothing_written(
    write_token_client, mail_dir, sievec, config_dir
) -> None:
    refused = write_token_client.put(f"{BASE}/sieve/", {"text": "keep;\n\nBROKEN;\n"}, format="json")
    assert refused.status_code == 400
    body = refused.json()
    assert body["problems"] == [{"line": 3, "message": "unknown command 'BROKEN'."}]
    assert body["fields"] == {"text": ["line 3: unknown command 'BROKEN'."]} and "line 3" in body["error"]
    assert not active(mail_dir).exists() and not config_copy(config_dir).exists()
    checked = write_token_client.post(f"{BASE}/sieve/validate/", {"text": "BROKEN;\n"}, format="json")
    assert checked.status_code == 200 and checked.json() == {
        "ok": False,
        "problems": [{"line": 1, "message": "unknown command 'BROKEN'."}],
    }
    assert write_token_client.post(f"{BASE}/sieve/validate/", {"text": "keep;\n"}, format="json").json()["ok"] is True


def test_the_raw_script_round_trips(write_token_client, mail_dir, sievec) -> None:
    saved = write_token_client.put(f"{BASE}/sieve/", {"text": 'require "fileinto";\nfileinto "X";\n'}, format="json")
    assert saved.status_code == 200, saved.content
    got = write_token_client.get(f"{BASE}/sieve/").json()
    assert got == {
        "text": 'require "fileinto";\nfileinto "X";\n',
        "hand_written": 'require "fileinto";\nfileinto "X";',
        "managesieve_link": False,
    }


@pytest.mark.parametrize(
    "body",
    [
        {**VACATION, "subject": "x\nBcc: evil@example.org"},
        {**VACATION, "subject": "x\x00"},
        {**VACATION, "text": "nul\x00"},
        {**VACATION, "days": 0},
        {**VACATION, "days": "7; discard"},
        {**VACATION, "timezone": "../../../etc/passwd"},
        {**VACATION, "start": "2026-02-30"},
        {**VACATION, "addresses": ["a|b@example.test"]},
        {**VACATION, "subject": "x" * 201},
        {**VACATION, "enabled": True, "text": ""},
        {"enabled": "yes please"},
    ],
)
def test_hostile_vacations_are_400_and_leave_the_files(write_token_client, mail_dir, sievec, config_dir, body) -> None:
    response = write_token_client.put(f"{BASE}/vacation/", body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"] and not config_copy(config_dir).exists() and not active(mail_dir).exists()


@pytest.mark.parametrize(
    "body",
    [
        {"targets": ["a@example.org\r\nb@example.org"]},
        {"targets": ["a@example.org|x"]},
        {"targets": "a@example.org"},
        {"targets": [["a@example.org"]]},
        {"targets": [f"x{i}@example.org" for i in range(21)]},
        {"targets": ["../../etc/passwd"]},
    ],
)
def test_hostile_forwardings_are_400(write_token_client, mail_dir, sievec, config_dir, body) -> None:
    response = write_token_client.put(f"{BASE}/forwarding/", body, format="json")
    assert response.status_code == 400, response.content
    assert not config_copy(config_dir).exists()


def test_deep_json_and_oversized_scripts_are_refused(write_token_client, mail_dir, sievec, config_dir) -> None:
    deep = '{"text": ' + "[" * 5000 + "]" * 5000 + "}"
    response = write_token_client.put(f"{BASE}/sieve/", deep, content_type="application/json")
    assert response.status_code == 400
    big = write_token_client.put(f"{BASE}/sieve/", {"text": "#" * (64 * 1024 + 1)}, format="json")
    assert big.status_code == 400 and not config_copy(config_dir).exists() and not sievec.compiled
    nul = write_token_client.put(f"{BASE}/sieve/", json.dumps({"text": "keep;\u0000"}), content_type="application/json")
    assert nul.status_code == 400


def test_scopes_another_domain_sees_nothing_and_a_read_token_writes_nothing(
    read_token_client, mail_dir, sievec, config_dir
) -> None:
    other = token_client(name="other", scope="write", domains=("other.test",))
    assert other.get(f"{BASE}/vacation/").status_code == 404
    assert other.put(f"{BASE}/forwarding/", {"targets": ["a@example.org"]}, format="json").status_code == 404
    assert read_token_client.get(f"{BASE}/vacation/").status_code == 200
    assert read_token_client.put(f"{BASE}/vacation/", VACATION, format="json").status_code == 403
    assert not config_copy(config_dir).exists()
    assert read_token_client.get("/api/v1/mailboxes/nobody@example.test/vacation/").status_code == 404


def test_the_schema_names_the_new_paths(write_token_client) -> None:
    schema = write_token_client.get("/api/v1/schema/?format=json").json()
    for path in ("vacation", "forwarding", "filters", "sieve", "sieve/validate"):
        assert f"/api/v1/mailboxes/{{address}}/{path}/" in schema["paths"]


def test_filters_put_get_and_hostile_ones_refused(write_token_client, mail_dir, sievec, config_dir) -> None:
    one = {"field": "subject", "match": "contains", "value": "invoice", "action": "fileinto", "argument": "Invoices"}
    put = write_token_client.put(f"{BASE}/filters/", {"filters": [one]}, format="json")
    assert put.status_code == 200, put.content
    assert put.json()["filters"] == [{**one, "header": ""}]
    assert 'fileinto :create "Invoices";' in active(mail_dir).read_text()
    before = active(mail_dir).read_text()
    for bad in (
        {**one, "value": "x\n}; discard; if true {"},
        {**one, "action": "vacation"},
        {**one, "field": "header", "header": "X: y"},
        {**one, "argument": ""},
        {**one, "action": "redirect", "argument": "x@@y"},
    ):
        response = write_token_client.put(f"{BASE}/filters/", {"filters": [bad]}, format="json")
        assert response.status_code == 400, (bad, response.content)
    too_many = write_token_client.put(f"{BASE}/filters/", {"filters": [one] * 51}, format="json")
    assert too_many.status_code == 400
    assert active(mail_dir).read_text() == before
    assert write_token_client.put(f"{BASE}/filters/", {"filters": []}, format="json").json()["filters"] == []
    assert not active(mail_dir).exists()
