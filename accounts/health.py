"""The accounts app's part of the health report (home, /health/, API, /metrics): what the
config files hold, and the last DNS check of each domain."""

from __future__ import annotations

import threading

from django.utils import timezone
from django.utils.timesince import timesince
from django.utils.translation import ngettext

from accounts.files import parse_accounts, parse_virtual
from accounts.models import DnsCheck
from dms_admin.configstore import get_store
from dms_admin.errors import FieldError
from dms_admin.mailnames import normalize_domain
from dms_admin.ops.health import OK, WARN, Check

ACCOUNTS = "postfix-accounts.cf"
VIRTUAL = "postfix-virtual.cf"


def checks() -> list[Check]:
    mailboxes, aliases, domains = mail_data()
    gauges = (
        ("dms_admin_mailboxes", "Mailboxes in postfix-accounts.cf", mailboxes),
        ("dms_admin_aliases", "Aliases in postfix-virtual.cf", aliases),
        ("dms_admin_domains", "Domains with a mailbox or an alias", len(domains)),
    )
    message = (
        ", ".join(
            (
                ngettext("%d domain", "%d domains", len(domains)) % len(domains),
                ngettext("%d mailbox", "%d mailboxes", mailboxes) % mailboxes,
                ngettext("%d alias", "%d aliases", aliases) % aliases,
            )
        )
        + "."
    )
    if not mailboxes:
        data = Check(
            "mail-data",
            "Mail data",
            WARN,
            message,
            "Create the first mailbox: docker-mailserver stops about two minutes after starting without one.",
            link="/mailboxes/new/",
            gauges=gauges,
        )
    else:
        data = Check("mail-data", "Mail data", OK, message, link="/mailboxes/", gauges=gauges)
    return [data, dns_check(domains)]


_counted: dict[str, tuple[object, tuple[int, int, list[str]]]] = {}
_counted_lock = threading.Lock()


def mail_data() -> tuple[int, int, list[str]]:
    """Mailboxes, aliases and domains in the files, counted again only when a file changed.

    Parsing 10,000 + 10,000 lines costs ~120 ms, too much for a page shown on every visit; the
    files' identity (inode, size, mtime: every store write is a rename) tells when to recount.
    """
    store = get_store()
    signature = tuple(_stat(store.path(name)) for name in (ACCOUNTS, VIRTUAL))
    key = str(store.root)
    with _counted_lock:
        cached = _counted.get(key)
        if cached is not None and cached[0] == signature:
            return cached[1]
        cache: dict[str, str] = {}
        names: set[str] = set()
        mailboxes = aliases = 0
        for account in parse_accounts(store.read(ACCOUNTS)).entries():
            mailboxes += 1
            names.add(_domain(account.address.rpartition("@")[2], cache))
        for alias in parse_virtual(store.read(VIRTUAL)).entries():
            aliases += 1
            if "@" in alias.address:
                names.add(_domain(alias.domain, cache))
        result = (mailboxes, aliases, sorted(n for n in names if n))
        _counted[key] = (signature, result)
        return result


def _domain(raw: str, cache: dict[str, str]) -> str:
    """The stored form of a domain; "" for a hand-written line that holds none (not counted)."""
    if raw not in cache:
        try:
            cache[raw] = normalize_domain(raw)
        except FieldError:
            cache[raw] = ""
    return cache[raw]


def _stat(path: object) -> tuple[int, int, int] | None:
    import os

    try:
        found = os.stat(str(path))
    except OSError:
        return None
    return (found.st_ino, found.st_size, found.st_mtime_ns)


def dns_check(domains: list[str]) -> Check:
    """A summary of the latest DNS check of each domain (made on its page); no lookup here."""
    results = {row.domain: row for row in DnsCheck.objects.filter(domain__in=domains)}
    failing = [results[d] for d in domains if d in results and results[d].failing]
    unchecked = [d for d in domains if d not in results]
    details = tuple(f"{row.domain}: {', '.join(row.failing)} not right" for row in failing[:10])
    gauges = (("dms_admin_dns_domains_failing", "Domains whose last DNS check found a record wrong", len(failing)),)
    if not domains:
        return Check("dns", "DNS", OK, "No domain yet.", gauges=gauges)
    checked_count = len(domains) - len(unchecked)
    parts = []
    if checked_count:
        parts.append(f"{checked_count - len(failing)} of {checked_count} checked domain(s) pass")
    if unchecked:
        parts.append(f"{len(unchecked)} not checked yet (a domain's page checks it)")
    checked = [r.checked_at for r in results.values()]
    if checked:
        parts.append(f"oldest check {timesince(min(checked), timezone.now())} ago")
    message = "; ".join(parts) + "."
    if failing:
        return Check(
            "dns",
            "DNS",
            WARN,
            message,
            "Open the domain's page: each wrong record has its fix.",
            details,
            link=f"/domains/{failing[0].domain}/?check=1",
            gauges=gauges,
        )
    return Check("dns", "DNS", OK, message, link="/domains/", gauges=gauges)
