"""Asking DNS (dnspython): the only module that does, with short timeouts and no exceptions.

NXDOMAIN and empty answers become "not found", timeouts and server failures "DNS did not
answer"; a page that checks a domain never fails because DNS is slow or down.
"""

from __future__ import annotations

import ipaddress

import dns.exception
import dns.nameserver
import dns.rdatatype
import dns.resolver
from django.conf import settings

from accounts.dnsrecords import NO_ANSWER, NOT_FOUND, Lookup

TIMEOUT = 2.0  # seconds, for the whole lookup
EDNS_PAYLOAD = 1232  # a 2048-bit DKIM key fits in one UDP answer; bigger ones retry over TCP


def parse_resolver(value: str) -> tuple[str, int]:
    """`ip`, `ip:port` or `[ipv6]:port` → (ip, port); ValueError otherwise."""
    value = value.strip()
    host, port = value, "53"
    if value.startswith("["):
        host, sep, rest = value[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(value)
        port = rest[1:] or "53"
    elif value.count(":") == 1:
        host, port = value.split(":")
    ipaddress.ip_address(host)  # ValueError for a name: a resolver is given by address
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(value)
    return host, int(port)


def _resolver() -> dns.resolver.Resolver:
    configured = str(settings.DNS_RESOLVER or "").strip()
    if configured:
        host, port = parse_resolver(configured)
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [dns.nameserver.Do53Nameserver(host, port)]
    else:
        resolver = dns.resolver.Resolver()  # /etc/resolv.conf
    resolver.timeout = resolver.lifetime = TIMEOUT
    resolver.use_edns(0, payload=EDNS_PAYLOAD)
    resolver.cache = None
    return resolver


def lookup(name: str, rdtype: str) -> Lookup:
    """The records of one type at `name` (MX: "10 host."; TXT: each record's strings joined)."""
    try:
        resolver = _resolver()
    except ValueError:
        return Lookup(
            status=NO_ANSWER,
            detail=f"DNS_RESOLVER={settings.DNS_RESOLVER!r} is not an address like 192.0.2.53 or 192.0.2.53:5353.",
        )
    except dns.resolver.NoResolverConfiguration:
        return Lookup(status=NO_ANSWER, detail="No DNS resolver is configured here: set DNS_RESOLVER.")
    try:
        answer = resolver.resolve(name.rstrip(".") + ".", rdtype, raise_on_no_answer=False, search=False)
    except dns.resolver.NXDOMAIN:
        return Lookup(status=NOT_FOUND, detail=f"{name} does not exist in DNS.")
    except dns.resolver.LifetimeTimeout:
        return Lookup(status=NO_ANSWER, detail=f"No answer within {TIMEOUT:g} s.")
    except dns.resolver.NoNameservers:
        return Lookup(status=NO_ANSWER, detail="The DNS server failed or refused to answer.")
    except (dns.exception.DNSException, OSError, ValueError) as exc:
        return Lookup(status=NO_ANSWER, detail=f"The lookup failed: {exc}")
    if answer.rrset is None:
        return Lookup(status=NOT_FOUND, detail=f"{name} has no {rdtype} record.")
    if dns.rdatatype.from_text(rdtype) == dns.rdatatype.TXT:
        texts = tuple(b"".join(rdata.strings).decode("utf-8", errors="replace") for rdata in answer.rrset)
        return Lookup(answers=texts)
    return Lookup(answers=tuple(rdata.to_text() for rdata in answer.rrset))
