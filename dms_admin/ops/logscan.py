"""Reading DMS's log lines (pure: no I/O, no Django, no Docker).

Splits `docker logs --timestamps` output into lines with their time and the service that wrote
them, and recognises the known errors of the DMS FAQ and spec §7.1, each with what it means and
the fix.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

ERROR = "error"
WARN = "warn"


@dataclasses.dataclass(frozen=True)
class KnownError:
    id: str
    title: str
    explanation: str
    fix: str
    severity: str  # error | warn
    pattern: re.Pattern[str]


def _known(id: str, title: str, pattern: str, explanation: str, fix: str, severity: str = ERROR) -> KnownError:
    return KnownError(id, title, explanation, fix, severity, re.compile(pattern, re.IGNORECASE))


# Kept by hand (fmt: skip): a table, each entry's id and title on its first line (one argument a line hides them).
KNOWN_ERRORS: tuple[KnownError, ...] = (
    _known(
        "opendkim-down",
        "OpenDKIM is not running",
        r"connect to Milter service inet:[\w.\[\]:-]*:8891: Connection refused",
        "Postfix cannot reach the OpenDKIM milter on port 8891. Postfix accepts the mail anyway, so outgoing"
        " mail leaves unsigned and may be rejected or marked as spam by other servers.",
        "Look at `supervisorctl status opendkim` and /var/log/supervisor/opendkim.log: usually a missing DKIM key"
        " or wrong permissions in config/opendkim/ (KeyTable, SigningTable, keys/). Generate the key on the"
        " domain's page, then `supervisorctl restart opendkim` (older images: /etc/init.d/opendkim restart)."
        " Right after a start it can simply still be starting.",
    ),
    _known(
        "opendmarc-down",
        "OpenDMARC is not running",
        r"connect to Milter service inet:[\w.\[\]:-]*:8893: Connection refused",
        "Postfix cannot reach the OpenDMARC milter on port 8893: incoming mail is accepted without a DMARC check.",
        "Look at `supervisorctl status opendmarc` and /var/log/supervisor/opendmarc.log, then"
        " `supervisorctl restart opendmarc` (older images: /etc/init.d/opendmarc restart).",
    ),
    _known(
        "rspamd-down",
        "Rspamd is not running",
        r"connect to Milter service inet:[\w.\[\]:-]*:11332: Connection refused",
        "Postfix cannot reach Rspamd's proxy worker on port 11332: mail is not filtered for spam.",
        "Look at `supervisorctl status rspamd` and /var/log/mail/rspamd.log (often a broken file under"
        " config/rspamd/), fix it, then `supervisorctl restart rspamd`.",
    ),
    _known(
        "amavis-down",
        "Amavis is not running",
        r"connect to 127\.0\.0\.1\[127\.0\.0\.1\]:10024: Connection refused",
        "Postfix hands every message to Amavis on port 10024 and cannot reach it: mail is deferred and waits"
        " in the queue.",
        "Look at `supervisorctl status amavis` and /var/log/supervisor/amavis.log, then"
        " `supervisorctl restart amavis`. Deferred mail goes out by itself afterwards (or run `postqueue -f`).",
    ),
    _known(
        "clamav-down",
        "ClamAV is not running",
        r"clamd\.ctl.*(?:failed|No such file)|failed connecting to \S*clamd\.ctl|ALL VIRUS SCANNERS FAILED"
        r"|ClamAV-clam\w+ av-scanner FAILED",
        "Amavis cannot reach the ClamAV daemon (clamd.ctl socket missing): every scan fails and mail is"
        " deferred. ClamAV needs minutes to start, and it is killed when memory runs out: it loads its whole"
        " signature database (about 850 MB and growing) into RAM.",
        "If the container has just started, wait a few minutes. Otherwise give it memory: the FAQ recommends"
        " 1 core and 1 GB RAM plus swap with ClamAV (without swap about 3 GB); see the memory check on the"
        " Health page and `supervisorctl status clamav`. Or turn ClamAV off (ENABLE_CLAMAV=0).",
    ),
    _known(
        "amavis-bdb-permission",
        "Amavis cannot write its database",
        r"BDB can't create db env.*Permission denied",
        "Amavis cannot create its Berkeley DB under /var/lib/amavis: the folder (lib-amavis in the mail-state"
        " volume) is not owned by the amavis user, typically after a restore or a copy.",
        "Run `chown -R amavis:amavis /var/mail-state/lib-amavis` in the container (docker exec), then"
        " `supervisorctl restart amavis`; re-creating the container also resets the ownership.",
    ),
    _known(
        "no-accounts",
        "No mail account",
        r"need at least one mail account",
        "DMS starts Dovecot only when at least one mail account exists; without one the container exits after"
        " about two minutes.",
        "Create a mailbox (Mailboxes page) within that time, or before starting the container.",
    ),
    _known(
        "hostname-missing",
        "The container has no FQDN",
        r"Setting hostname/domainname is required",
        "DMS refuses to start: the container's hostname is not a fully qualified domain name.",
        "Give the container the name your MX record points to: compose `hostname: mail.example.com` (or"
        " OVERRIDE_HOSTNAME), then re-create it.",
    ),
    _known(
        "hostname-is-mail-domain",
        "The hostname is a mail domain",
        r"do not list domain \S+ in BOTH mydestination and virtual_mailbox_domains",
        "The container's hostname equals one of your mail domains (a bare domain): Postfix sees that domain"
        ' as both local and virtual, and mail to it bounces with "User unknown in local recipient table".',
        "Use a subdomain as hostname, e.g. `hostname: mail.example.com` for the domain example.com, and"
        " re-create the container.",
    ),
    _known(
        "user-unknown-local",
        "User unknown in local recipient table",
        r"User unknown in local recipient table",
        "Postfix rejected a recipient as unknown. Briefly during a change it is normal (DMS rebuilds its maps"
        " within seconds); if it lasts, the container's hostname equals a mail domain.",
        "If it repeats, check that the hostname is not one of your mail domains (use mail.example.com).",
        WARN,
    ),
    _known(
        "crlf",
        "A config file has Windows line endings",
        r"contains CRLF line-endings",
        "DMS found CR+LF line endings in a config file and had to convert or skip it.",
        "Save the file again from the dashboard (it writes LF line endings and a final newline), or run"
        " `dos2unix` on it.",
        WARN,
    ),
    _known(
        "missing-newline",
        "A config file lacks its final newline",
        r"was missing a final newline",
        "A config file did not end with a newline, so DMS could lose its last line.",
        "Save the file again from the dashboard (it writes a final newline), or add an empty line at its end.",
        WARN,
    ),
    _known(
        "lock-file",
        "Another setup run holds the lock",
        r"Lock file '[^']*' exists - another execution",
        "A `setup` command or the change detector found the lock of another run: two changes overlapped, and"
        " one waited or gave up.",
        "Usually it resolves by itself within seconds. If it repeats while nothing runs, remove the stale"
        " /tmp/docker-mailserver/check-for-changes.sh.lock.",
        WARN,
    ),
    _known(
        "rspamd-dkim-permission",
        "Rspamd cannot read a DKIM key",
        r"Rspamd DKIM private key file .* does not appear to have correct permissions",
        "Rspamd's DKIM private key has the wrong owner or mode, so mail is not signed.",
        "Run `chown _rspamd: <key>` and `chmod 600 <key>` in the container, or generate the key again.",
    ),
)


def match_known(text: str) -> KnownError | None:
    for known in KNOWN_ERRORS:
        if known.pattern.search(text):
            return known
    return None


# ---- lines --------------------------------------------------------------------------------

SERVICES = (
    "postfix",
    "dovecot",
    "amavis",
    "spamassassin",
    "clamav",
    "opendkim",
    "opendmarc",
    "rspamd",
    "fail2ban",
    "postgrey",
    "changedetector",
    "supervisord",
    "mailserver",
)

# Program names as they appear in log lines, mapped to the service filter they belong to.
_ALIASES = {
    "clamd": "clamav",
    "freshclam": "clamav",
    "amavisd": "amavis",
    "spamd": "spamassassin",
    "sa-learn": "spamassassin",
    "redis-server": "rspamd",
    "supervisor": "supervisord",
}

_DOCKER_TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d) ")
# syslog style: `postfix/smtpd[123]:`, `amavis[1459]:`, `dovecot:`, `opendkim[7]:`
_SYSLOG = re.compile(r"(?:^|\s)([a-z][\w.-]*)(?:/[\w./-]+)?(?:\[\d+\])?:\s")
_SUPERVISORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (?:INFO|WARN|CRIT|ERRO|DEBG|TRAC|BLAT) ")
# Dovecot logging to stderr itself: `2026-01-01 10:00:00 master: Info: …`, `imap(user)<…>: Error: …`
_DOVECOT = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (?:master|imap|imap-login|lmtp|auth|pop3|pop3-login|"
    r"managesieve|managesieve-login|lda|doveadm|indexer|stats)[:(]"
)
_DMS = re.compile(r"^\[\s*(?:INF|WARNING|ERROR|DEBUG|TRACE)\s*\]")
_CHANGEDETECTOR = re.compile(r"change detect|changedetector|check-for-changes", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class LogLine:
    at: datetime | None
    text: str
    service: str  # one of SERVICES or "other"
    known: KnownError | None

    def mentions(self, service: str) -> bool:
        """Written by `service`, or supervisord speaking about that program."""
        if self.service == service:
            return True
        return self.service == "supervisord" and re.search(rf"\b{re.escape(service)}\b", self.text) is not None


def service_of(text: str) -> str:
    if _SUPERVISORD.match(text):
        return "supervisord"
    if _DOVECOT.match(text):
        return "dovecot"
    if _DMS.match(text):
        return "changedetector" if _CHANGEDETECTOR.search(text) else "mailserver"
    for match in _SYSLOG.finditer(text):
        name = match[1].lower()
        name = _ALIASES.get(name, name)
        if name in SERVICES:
            return name
    return "other"


def parse_line(raw: str) -> LogLine:
    at = None
    text = raw
    match = _DOCKER_TS.match(raw)
    if match:
        frac = (match[2] or "0")[:6].ljust(6, "0")
        zone = "+00:00" if match[3] == "Z" else match[3]
        at = datetime.fromisoformat(f"{match[1]}.{frac}{zone}")
        text = raw[match.end() :]
    text = text.rstrip("\r")
    return LogLine(at=at, text=text, service=service_of(text), known=match_known(text))


def parse_lines(output: str) -> list[LogLine]:
    return [parse_line(raw) for raw in output.splitlines() if raw.strip()]


def filter_lines(lines: Iterable[LogLine], *, service: str = "", search: str = "") -> list[LogLine]:
    needle = search.strip().lower()
    return [
        line
        for line in lines
        if (not service or line.mentions(service)) and (not needle or needle in line.text.lower())
    ]


@dataclasses.dataclass(frozen=True)
class Finding:
    error: KnownError
    count: int
    last: LogLine


def findings(lines: Iterable[LogLine]) -> list[Finding]:
    """Each known error seen, how often, and its latest line; errors before warnings, newest first."""
    seen: dict[str, Finding] = {}
    for line in lines:
        if line.known is None:
            continue
        before = seen.get(line.known.id)
        seen[line.known.id] = Finding(line.known, (before.count if before else 0) + 1, line)
    oldest = datetime.min.replace(tzinfo=UTC)
    return sorted(seen.values(), key=lambda f: (f.error.severity != ERROR, -(f.last.at or oldest).timestamp()))


# ---- "since" ------------------------------------------------------------------------------

_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(value: str, *, now: datetime) -> datetime | None:
    """`15m`, `2h`, `1d`, an ISO date/time or epoch seconds; empty → None. ValueError otherwise."""
    value = value.strip()
    if not value:
        return None
    if match := _RELATIVE.match(value.lower()):
        return now - timedelta(**{_UNITS[match[2]]: int(match[1])})
    if value.isdigit():
        return datetime.fromtimestamp(int(value), tz=UTC)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"“{value}” is not a time: use 15m, 2h, 1d, an ISO date such as 2025-01-31T12:00 or epoch seconds."
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=now.tzinfo or UTC)
