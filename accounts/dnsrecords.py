"""The DNS records a mail domain publishes, and how what DNS answers compares (pure functions).

Each check says, in one sentence, what to change in the zone. Records that differ from our
suggestion but do the job (an SPF with `mx`, a stricter DMARC policy) pass, with a note saying
why; DMARC `p=none` passes too but is flagged as weak.
"""

from __future__ import annotations

import dataclasses

from accounts.dkim import parse_tags, same_public_key

MX_PRIORITY = 10
NOT_FOUND = "not found"
NO_ANSWER = "DNS did not answer"
NOT_CHECKED = "not checked"
OK = "ok"
WEAK = "weak"
WRONG = "wrong"
UNKNOWN = "unknown"  # we cannot say what to expect (no mail host name, no DKIM key)


@dataclasses.dataclass(frozen=True)
class Lookup:
    """What DNS answered for one name and type."""

    answers: tuple[str, ...] = ()  # MX: "10 mail.example.com."; TXT: the strings of a record joined
    status: str = "answered"  # answered | NOT_FOUND | NO_ANSWER
    detail: str = ""  # why, for NOT_FOUND and NO_ANSWER


@dataclasses.dataclass(frozen=True)
class DnsRecord:
    kind: str  # MX, SPF, DKIM, DMARC
    type: str  # the DNS type: MX or TXT
    name: str
    expected: str
    found: tuple[str, ...] = ()
    status: str = NOT_CHECKED
    fix: str = ""  # what to change in the zone; empty when nothing needs doing
    note: str = ""  # why a record that differs from `expected` passes, or what is missing
    answer: str = ""  # NOT_FOUND or NO_ANSWER when DNS gave nothing relevant; "" otherwise

    @property
    def ok(self) -> bool | None:
        if self.status == NOT_CHECKED:
            return None
        return self.status in (OK, WEAK)


def dmarc_expected(domain: str) -> str:
    return f"v=DMARC1; p=quarantine; rua=mailto:postmaster@{domain}"


def expected_records(domain: str, *, mail_host: str, dkim_name: str, dkim_value: str | None) -> list[DnsRecord]:
    """The four records to publish, not checked yet."""
    mx = DnsRecord("MX", "MX", domain, f"{MX_PRIORITY} {mail_host}" if mail_host else "", note=_no_host_note(mail_host))
    dkim_note = "" if dkim_value else "There is no DKIM key for this domain yet: generate one below."
    return [
        mx,
        DnsRecord("SPF", "TXT", domain, "v=spf1 mx -all"),
        DnsRecord("DKIM", "TXT", dkim_name, dkim_value or "", note=dkim_note),
        DnsRecord("DMARC", "TXT", f"_dmarc.{domain}", dmarc_expected(domain)),
    ]


def _no_host_note(mail_host: str) -> str:
    if mail_host:
        return ""
    return "The mail server's public name is unknown: set DMS_MAIL_HOSTNAME or OVERRIDE_HOSTNAME in mailserver.env."


def _unanswered(record: DnsRecord, lookup: Lookup, fix: str) -> DnsRecord:
    if lookup.status == NO_ANSWER:
        return dataclasses.replace(
            record,
            status=NO_ANSWER,
            fix="Check again in a moment; if it persists, check DNS_RESOLVER and the domain's name servers.",
            note=lookup.detail,
            answer=NO_ANSWER,
        )
    return dataclasses.replace(record, status=NOT_FOUND, fix=fix, note=lookup.detail, answer=NOT_FOUND)


def _host(name: str) -> str:
    return name.strip().rstrip(".").lower()


def check_mx(record: DnsRecord, lookup: Lookup, *, mail_host: str) -> DnsRecord:
    host = _host(mail_host)
    publish = f"Publish an MX record for {record.name} pointing to {host} (priority {MX_PRIORITY})."
    if lookup.status != "answered" or not lookup.answers:
        if not host:
            return dataclasses.replace(_unanswered(record, lookup, ""), status=UNKNOWN, note=_no_host_note(host))
        return _unanswered(record, lookup, publish)
    found = tuple(sorted(lookup.answers, key=_mx_priority))
    if not host:
        return dataclasses.replace(record, found=found, status=UNKNOWN, note=_no_host_note(host))
    ours = [answer for answer in found if _mx_host(answer) == host]
    if not ours:
        return dataclasses.replace(
            record,
            found=found,
            status=WRONG,
            fix=f"The MX records point to other servers, not to this one. {publish}",
        )
    best = min(_mx_priority(answer) for answer in found)
    note = ""
    if _mx_priority(ours[0]) > best:
        note = f"Another MX host has a better (lower) priority than {host}: mail goes there first."
    return dataclasses.replace(record, found=found, status=OK, note=note)


def _mx_priority(answer: str) -> int:
    first = answer.split()[0] if answer.split() else ""
    return int(first) if first.isdigit() else 65535


def _mx_host(answer: str) -> str:
    parts = answer.split()
    return _host(parts[-1]) if parts else ""


def check_spf(record: DnsRecord, lookup: Lookup, *, domain: str, mail_host: str) -> DnsRecord:
    publish = f"Publish a TXT record at {domain} with: v=spf1 mx -all"
    spf = tuple(a for a in lookup.answers if a.strip().lower().split()[:1] == ["v=spf1"])
    if lookup.status != "answered" or not spf:
        if lookup.status == "answered" and lookup.answers:
            lookup = dataclasses.replace(lookup, status=NOT_FOUND, detail="There are TXT records, but none is SPF.")
        return _unanswered(record, lookup, publish + " (it lets this domain's MX hosts send its mail).")
    if len(spf) > 1:
        return dataclasses.replace(
            record,
            found=spf,
            status=WRONG,
            fix="There is more than one SPF record, which receivers treat as an error: merge them into one.",
        )
    terms = spf[0].lower().split()[1:]
    host = _host(mail_host)
    allows = _spf_allows(terms, domain, host)
    if any(term in ("all", "+all") for term in terms):
        return dataclasses.replace(
            record,
            found=spf,
            status=WRONG,
            fix="The SPF record ends in +all, which allows every server on the internet to send as this domain: "
            "use -all (or ~all).",
        )
    if not allows:
        return dataclasses.replace(
            record,
            found=spf,
            status=WRONG,
            fix="The SPF record does not allow this mail server to send: add mx to it (like v=spf1 mx -all)"
            + (f", or a:{host}." if host else "."),
        )
    note = "" if terms == ["mx", "-all"] else f"Accepted: it allows {allows}."
    return dataclasses.replace(record, found=spf, status=OK, note=note)


def _spf_allows(terms: list[str], domain: str, host: str) -> str:
    """What in the SPF terms lets our mail server send ('' if nothing does)."""
    for term in terms:
        if term[:1] in "-~?":  # a fail/softfail/neutral qualifier authorizes nothing
            continue
        mechanism = term.lstrip("+")
        name, _, spec = mechanism.partition(":")
        name = name.split("/", 1)[0]
        spec = spec.split("/", 1)[0].rstrip(".")
        if name == "mx" and spec in ("", domain):
            return "the domain's MX hosts (mx)"
        if name in ("a", "mx") and host and spec == host:
            return f"the mail server by name ({term})"
    return ""


def check_dkim(record: DnsRecord, lookup: Lookup, *, public_key: str | None) -> DnsRecord:
    if not public_key:
        checked = (
            _unanswered(record, lookup, "")
            if lookup.status != "answered"
            else dataclasses.replace(record, found=lookup.answers)
        )
        return dataclasses.replace(
            checked,
            status=UNKNOWN,
            fix="Generate a DKIM key for this domain, then publish its TXT record.",
            note=record.note,
        )
    publish = f"Publish a TXT record at {record.name} with the expected value."
    if lookup.status != "answered" or not lookup.answers:
        return _unanswered(record, lookup, publish)
    found = lookup.answers
    keys = [parse_tags(answer).get("p") for answer in found]
    if any(key is not None and same_public_key(key, public_key) for key in keys):
        return dataclasses.replace(record, found=found, status=OK)
    if all(key is None for key in keys):
        fix = f"The TXT record at {record.name} is not a DKIM key: replace it with the expected value."
    elif any(key == "" for key in keys):
        fix = (
            f"The published key is revoked (empty p=): replace the TXT record at {record.name} with the expected value."
        )
    else:
        fix = (
            "The published key is not the one this mail server signs with, so receivers will find the "
            f"signatures invalid: replace the TXT record at {record.name} with the expected value."
        )
    return dataclasses.replace(record, found=found, status=WRONG, fix=fix)


def check_dmarc(record: DnsRecord, lookup: Lookup, *, domain: str) -> DnsRecord:
    publish = f"Publish a TXT record at _dmarc.{domain} with: {dmarc_expected(domain)}"
    dmarc = tuple(a for a in lookup.answers if a.strip().lower().replace(" ", "").startswith("v=dmarc1"))
    if lookup.status != "answered" or not dmarc:
        if lookup.status == "answered" and lookup.answers:
            lookup = dataclasses.replace(lookup, status=NOT_FOUND, detail="There are TXT records, but none is DMARC.")
        return _unanswered(record, lookup, publish)
    if len(dmarc) > 1:
        return dataclasses.replace(
            record,
            found=dmarc,
            status=WRONG,
            fix="There is more than one DMARC record, so receivers ignore them all: keep one.",
        )
    policy = parse_tags(dmarc[0]).get("p", "").lower()
    if policy not in ("none", "quarantine", "reject"):
        return dataclasses.replace(
            record,
            found=dmarc,
            status=WRONG,
            fix=f"The DMARC record has no valid policy (p=none, quarantine or reject). {publish}",
        )
    if policy == "none":
        return dataclasses.replace(
            record,
            found=dmarc,
            status=WEAK,
            fix="p=none only collects reports; mail that fails the checks is still delivered. "
            "Move to p=quarantine once the reports show your own mail passes.",
        )
    note = "" if dmarc[0].strip() == dmarc_expected(domain) else f"Accepted as published (p={policy})."
    return dataclasses.replace(record, found=dmarc, status=OK, note=note)
