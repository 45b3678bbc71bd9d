"""The live DNS check against a real DNS server: a tiny authoritative one on 127.0.0.1, in a thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from accounts import dkim, dnslookup, dnsrecords, domains
from accounts.dnsrecords import NO_ANSWER, NOT_FOUND, Lookup
from dms_admin.audit import Actor

pytestmark = pytest.mark.django_db
ADMIN = Actor(name="admin")


class DnsServer:
    """Answers A/MX/TXT questions from `records` ({(name, type): [rdata text]}); unknown names get NXDOMAIN."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], list[str]] = {}
        self.questions: list[tuple[str, str]] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def txt(self, name: str, *values: str) -> None:
        # A TXT string holds at most 255 characters: long values are split, as a zone file does.
        self.records[(name, "TXT")] = [
            " ".join(f'"{value[i : i + 255]}"' for i in range(0, len(value), 255)) for value in values
        ]

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            query = dns.message.from_wire(data)
            response = dns.message.make_response(query)
            response.flags |= dns.flags.AA
            question = query.question[0]
            name = question.name.to_text().rstrip(".").lower()
            rdtype = dns.rdatatype.to_text(question.rdtype)
            self.questions.append((name, rdtype))
            values = self.records.get((name, rdtype))
            if values:
                response.answer.append(dns.rrset.from_text_list(question.name, 300, "IN", rdtype, values))
            elif not any(known == name for known, _ in self.records):
                response.set_rcode(dns.rcode.NXDOMAIN)
            self.sock.sendto(response.to_wire(max_size=query.payload if query.edns >= 0 else 512), peer)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


@pytest.fixture
def dns_server(settings) -> Iterator[DnsServer]:  # type: ignore[no-untyped-def]
    server = DnsServer()
    settings.DNS_RESOLVER = server.address
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def key() -> domains.DkimKey:
    return domains.dkim_generate(domain="example.test", bits=1024, actor=ADMIN).key


def publish_all(server: DnsServer, key: domains.DkimKey) -> None:
    server.records[("example.test", "MX")] = ["10 mail.example.test."]
    server.txt("example.test", "v=spf1 mx -all", "google-site-verification=abc")
    server.txt(key.name, key.value)
    server.txt("_dmarc.example.test", "v=DMARC1; p=quarantine; rua=mailto:postmaster@example.test")


def by_kind(records: list[dnsrecords.DnsRecord]) -> dict[str, dnsrecords.DnsRecord]:
    return {record.kind: record for record in records}


def test_all_records_published_are_all_ok(dns_server: DnsServer, key: domains.DkimKey) -> None:
    publish_all(dns_server, key)
    records = domains.domain_dns_check("example.test")
    assert [(r.kind, r.type, r.name) for r in records] == [
        ("MX", "MX", "example.test"),
        ("SPF", "TXT", "example.test"),
        ("DKIM", "TXT", "mail._domainkey.example.test"),
        ("DMARC", "TXT", "_dmarc.example.test"),
    ]
    assert all(r.ok and r.status == "ok" and not r.fix for r in records), records
    checked = by_kind(records)
    assert checked["MX"].expected == "10 mail.example.test" and checked["MX"].found == ("10 mail.example.test.",)
    assert checked["SPF"].found == ("v=spf1 mx -all",)  # the other TXT record is not SPF
    assert checked["DKIM"].found == (key.value,) and checked["DKIM"].expected == key.value
    assert set(dns_server.questions) == {
        ("example.test", "MX"),
        ("example.test", "TXT"),
        ("mail._domainkey.example.test", "TXT"),
        ("_dmarc.example.test", "TXT"),
    }


def test_a_missing_dmarc_record_is_not_found_with_the_record_to_publish(
    dns_server: DnsServer, key: domains.DkimKey
) -> None:
    publish_all(dns_server, key)
    del dns_server.records[("_dmarc.example.test", "TXT")]
    dmarc = by_kind(domains.domain_dns_check("example.test"))["DMARC"]
    assert dmarc.ok is False and dmarc.status == NOT_FOUND and dmarc.found == () and dmarc.answer == NOT_FOUND
    assert dmarc.fix == (
        "Publish a TXT record at _dmarc.example.test with: v=DMARC1; p=quarantine; rua=mailto:postmaster@example.test"
    )


def test_a_wrong_spf_record_says_what_to_add(dns_server: DnsServer, key: domains.DkimKey) -> None:
    publish_all(dns_server, key)
    dns_server.txt("example.test", "v=spf1 include:_spf.example.net -all")
    spf = by_kind(domains.domain_dns_check("example.test"))["SPF"]
    assert spf.ok is False and spf.status == "wrong" and spf.found == ("v=spf1 include:_spf.example.net -all",)
    assert "add mx to it (like v=spf1 mx -all), or a:mail.example.test." in spf.fix


def test_a_different_published_dkim_key_is_not_ok_with_the_fix(dns_server: DnsServer, key: domains.DkimKey) -> None:
    publish_all(dns_server, key)
    other = dkim.public_key_b64(dkim.generate_private_key(1024))
    dns_server.txt(key.name, dkim.txt_value(dkim.OPENDKIM, other))
    record = by_kind(domains.domain_dns_check("example.test"))["DKIM"]
    assert record.ok is False and record.status == "wrong" and record.expected == key.value
    assert record.fix.startswith("The published key is not the one this mail server signs with")
    assert "replace the TXT record at mail._domainkey.example.test" in record.fix


def test_a_server_that_does_not_answer_is_reported_not_raised(settings, key: domains.DkimKey) -> None:  # type: ignore[no-untyped-def]
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # bound, never answers
    silent.bind(("127.0.0.1", 0))
    settings.DNS_RESOLVER = f"127.0.0.1:{silent.getsockname()[1]}"
    try:
        started = time.monotonic()
        records = domains.domain_dns_check("example.test")
        elapsed = time.monotonic() - started
    finally:
        silent.close()
    assert all(r.ok is False and r.status == NO_ANSWER for r in records)
    assert all("2 s" in r.note and "DNS_RESOLVER" in r.fix for r in records)
    assert elapsed < 2 * dnslookup.TIMEOUT  # the four lookups run side by side


def test_no_dns_server_at_all_is_reported_too(settings, key: domains.DkimKey) -> None:  # type: ignore[no-untyped-def]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    settings.DNS_RESOLVER = f"127.0.0.1:{port}"
    assert all(r.status == NO_ANSWER for r in domains.domain_dns_check("example.test"))


def test_a_bad_resolver_setting_is_reported(settings) -> None:  # type: ignore[no-untyped-def]
    settings.DNS_RESOLVER = "dns.example.net"
    lookup = dnslookup.lookup("example.test", "MX")
    assert lookup.status == NO_ANSWER and "DNS_RESOLVER" in lookup.detail


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("192.0.2.53", ("192.0.2.53", 53)),
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        ("[::1]:5353", ("::1", 5353)),
        ("::1", ("::1", 53)),
    ],
)
def test_the_resolver_setting_takes_an_address_and_a_port(value: str, parsed: tuple[str, int]) -> None:
    assert dnslookup.parse_resolver(value) == parsed


@pytest.mark.parametrize("value", ["dns.example.net", "127.0.0.1:0", "127.0.0.1:99999", "[::1", "1.2.3.4:x"])
def test_the_resolver_setting_refuses_anything_else(value: str) -> None:
    with pytest.raises(ValueError):
        dnslookup.parse_resolver(value)


def test_without_a_key_the_dkim_row_says_to_generate_one(dns_server: DnsServer) -> None:
    record = by_kind(domains.domain_dns_check("example.test"))["DKIM"]
    assert record.ok is False and record.status == "unknown" and record.expected == ""
    assert record.fix.startswith("Generate a DKIM key") and record.name == "mail._domainkey.example.test"


def test_records_without_a_check_are_not_checked(key: domains.DkimKey, settings) -> None:  # type: ignore[no-untyped-def]
    settings.DNS_RESOLVER = "192.0.2.1"  # never asked
    records = domains.domain_dns_records("example.test")
    assert all(r.ok is None and r.status == "not checked" for r in records)
    assert by_kind(records)["DKIM"].expected == key.value


# ---- the comparisons, without DNS -----------------------------------------------------------------


def spf(*answers: str) -> dnsrecords.DnsRecord:
    record = dnsrecords.DnsRecord("SPF", "TXT", "example.test", "v=spf1 mx -all")
    return dnsrecords.check_spf(record, Lookup(answers), domain="example.test", mail_host="mail.example.test")


@pytest.mark.parametrize(
    ("answer", "status", "note"),
    [
        ("v=spf1 mx -all", "ok", ""),
        ("v=spf1 mx ~all", "ok", "Accepted: it allows the domain's MX hosts (mx)."),
        ("v=spf1 +mx ip4:192.0.2.1 -all", "ok", "Accepted: it allows the domain's MX hosts (mx)."),
        ("v=spf1 mx:example.test/24 -all", "ok", "Accepted: it allows the domain's MX hosts (mx)."),
        ("v=spf1 a:mail.example.test -all", "ok", "Accepted: it allows the mail server by name (a:mail.example.test)."),
        ("v=spf1 -mx -all", "wrong", ""),
        ("v=spf1 a -all", "wrong", ""),
        ("v=spf1 mx +all", "wrong", ""),
    ],
)
def test_spf_accepts_any_record_that_allows_our_server(answer: str, status: str, note: str) -> None:
    checked = spf(answer)
    assert (checked.status, checked.note) == (status, note)
    assert bool(checked.fix) == (status != "ok")


def test_two_spf_records_are_an_error() -> None:
    checked = spf("v=spf1 mx -all", "v=spf1 a -all")
    assert checked.status == "wrong" and "more than one SPF record" in checked.fix


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        ("v=DMARC1; p=quarantine; rua=mailto:postmaster@example.test", "ok"),
        ("v=DMARC1; p=reject", "ok"),
        ("v=DMARC1; p=none; rua=mailto:d@example.test", "weak"),
        ("v=DMARC1; rua=mailto:d@example.test", "wrong"),
    ],
)
def test_dmarc_accepts_any_policy_and_flags_none_as_weak(answer: str, status: str) -> None:
    record = dnsrecords.DnsRecord("DMARC", "TXT", "_dmarc.example.test", dnsrecords.dmarc_expected("example.test"))
    checked = dnsrecords.check_dmarc(record, Lookup((answer,)), domain="example.test")
    assert checked.status == status and checked.ok == (status != "wrong")
    if status == "weak":
        assert "p=none only collects reports" in checked.fix


def test_mx_pointing_elsewhere_is_wrong_and_a_lower_priority_is_noted() -> None:
    record = dnsrecords.DnsRecord("MX", "MX", "example.test", "10 mail.example.test")
    elsewhere = dnsrecords.check_mx(record, Lookup(("10 mx.example.net.",)), mail_host="mail.example.test")
    assert elsewhere.status == "wrong" and "pointing to mail.example.test (priority 10)" in elsewhere.fix
    backup = dnsrecords.check_mx(
        record, Lookup(("20 MAIL.example.test.", "5 mx.example.net.")), mail_host="mail.example.test"
    )
    assert backup.status == "ok" and "mail goes there first" in backup.note
    assert backup.found == ("5 mx.example.net.", "20 MAIL.example.test.")


def test_an_unknown_mail_host_name_says_how_to_set_it() -> None:
    records = dnsrecords.expected_records("example.test", mail_host="", dkim_name="m._domainkey.x", dkim_value=None)
    assert records[0].expected == "" and "DMS_MAIL_HOSTNAME" in records[0].note
    checked = dnsrecords.check_mx(records[0], Lookup(("10 mx.example.net.",)), mail_host="")
    assert checked.status == "unknown" and checked.ok is False


def test_a_revoked_or_foreign_dkim_record_is_named_as_such() -> None:
    public = dkim.public_key_b64(dkim.generate_private_key(1024))
    record = dnsrecords.DnsRecord("DKIM", "TXT", "mail._domainkey.example.test", dkim.txt_value("opendkim", public))
    revoked = dnsrecords.check_dkim(record, Lookup(("v=DKIM1; p=",)), public_key=public)
    assert revoked.status == "wrong" and "revoked" in revoked.fix
    other = dnsrecords.check_dkim(record, Lookup(("hello",)), public_key=public)
    assert other.status == "wrong" and "not a DKIM key" in other.fix


def test_the_domain_folder_needs_no_dns_for_the_records(config_dir: Path) -> None:
    assert [r.kind for r in domains.domain_dns_records("example.test")] == ["MX", "SPF", "DKIM", "DMARC"]
