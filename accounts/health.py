"""The accounts app's part of the health report (home, /health/, API, /metrics): what the
config files hold, and the last DNS check of each domain."""

from __future__ import annotations

from django.utils import timezone
from django.utils.timesince import timesince

from accounts.files import parse_accounts, parse_virtual
from accounts.models import DnsCheck
from dms_admin.configstore import get_store
from dms_admin.health import OK, WARN, Check

ACCOUNTS = "postfix-accounts.cf"
VIRTUAL = "postfix-virtual.cf"


def checks() -> list[Check]:
    from accounts.domains import domain_list

    store = get_store()
    mailboxes = sum(1 for _ in parse_accounts(store.read(ACCOUNTS)).entries())
    aliases = sum(1 for _ in parse_virtual(store.read(VIRTUAL)).entries())
    domains = [d.name for d in domain_list()]
    gauges = (
        ("dms_admin_mailboxes", "Mailboxes in postfix-accounts.cf", mailboxes),
        ("dms_admin_aliases", "Aliases in postfix-virtual.cf", aliases),
        ("dms_admin_domains", "Domains with a mailbox or an alias", len(domains)),
    )
    message = f"{len(domains)} domain(s), {mailboxes} mailbox(es), {aliases} alias(es)."
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


def dns_check(domains: list[str]) -> Check:
    """A summary of the latest DNS check of each domain (made on its page); no lookup here."""
    results = {row.domain: row for row in DnsCheck.objects.filter(domain__in=domains)}
    failing = [results[d] for d in domains if d in results and results[d].failing]
    unchecked = [d for d in domains if d not in results]
    details = tuple(f"{row.domain}: {', '.join(row.failing)} not right" for row in failing[:10])
    gauges = (("dms_admin_dns_domains_failing", "Domains whose last DNS check found a record wrong", len(failing)),)
    if not domains:
        return Check("dns", "DNS", OK, "No domain yet.", gauges=gauges)
    parts = [f"{len(domains) - len(failing) - len(unchecked)} of {len(domains)} domain(s) pass"]
    if unchecked:
        parts.append(f"{len(unchecked)} not checked yet")
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


def dns_check_recorded(*, domain: str, failing: list[str]) -> None:
    DnsCheck.objects.update_or_create(domain=domain, defaults={"failing": failing, "checked_at": timezone.now()})
