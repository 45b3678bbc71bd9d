"""DMS's variables in `mailserver.env` (spec §3): the catalogue, checks, and edits that keep the file.

Pure functions, no I/O. Every change of this file needs the mail container re-created.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import zoneinfo
from collections.abc import Callable

from dms_admin.envfile import parse_env
from dms_admin.errors import FieldError
from dms_admin.mailnames import normalize_domain

BOOL = ("0", "1")
INT32 = 2**31 - 1
INT64 = 2**63 - 1  # Postfix keeps sizes in a C long
MAX_VALUE = 1000  # characters: far above any real value, and keeps a pasted blob out of the file


@dataclasses.dataclass(frozen=True)
class Var:
    name: str
    group: str  # general, security, filtering, spam, relay, reports
    # bool, enum, int, float, port, string, address, fqdn, host, relayhost, timezone, interval,
    # sisize, path, secret
    type: str
    default: str
    help: str
    choices: tuple[str, ...] = ()
    minimum: int = 0  # for int
    maximum: int = INT32


def _v(
    name: str,
    group: str,
    type: str,
    default: str,
    help: str,
    choices: tuple[str, ...] = (),
    *,
    lo: int = 0,
    hi: int = INT32,
) -> Var:
    return Var(name, group, type, default, help, BOOL if type == "bool" else choices, lo, hi)


CATALOGUE: tuple[Var, ...] = (
    # general
    _v("OVERRIDE_HOSTNAME", "general", "fqdn", "", "The mail server's FQDN, if not the container hostname."),
    _v("POSTMASTER_ADDRESS", "general", "address", "", "Who gets the server's own mail (default postmaster@<domain>)."),
    _v("LOG_LEVEL", "general", "enum", "info", "How much DMS logs.", ("error", "warn", "info", "debug", "trace")),
    _v(
        "SUPERVISOR_LOGLEVEL",
        "general",
        "enum",
        "warn",
        "Supervisor's log level.",
        ("critical", "error", "warn", "info", "debug"),
    ),
    _v("TZ", "general", "timezone", "", "Time zone inside the container, like Europe/Berlin."),
    _v("ACCOUNT_PROVISIONER", "general", "enum", "FILE", "Where accounts come from.", ("FILE", "LDAP")),
    _v("ENABLE_IMAP", "general", "bool", "1", "Serve IMAP."),
    _v("ENABLE_POP3", "general", "bool", "0", "Serve POP3 (110/995)."),
    _v("ENABLE_MANAGESIEVE", "general", "bool", "0", "Let clients manage filters (port 4190)."),
    _v("SMTP_ONLY", "general", "bool", "0", "Only send mail: no Dovecot, no mailboxes."),
    _v("ENABLE_QUOTAS", "general", "bool", "1", "Enforce per-mailbox quotas."),
    _v(
        "POSTFIX_MESSAGE_SIZE_LIMIT", "general", "int", "10240000", "Largest message in bytes (0 = no limit).", hi=INT64
    ),
    _v("POSTFIX_MAILBOX_SIZE_LIMIT", "general", "int", "0", "Default mailbox size in bytes (0 = no limit).", hi=INT64),
    _v("DOVECOT_MAILBOX_FORMAT", "general", "enum", "maildir", "How mail is stored.", ("maildir", "sdbox", "mdbox")),
    _v("DMS_CONFIG_POLL", "general", "int", "2", "Seconds between checks for changed account files.", lo=1),
    _v("ENABLE_UPDATE_CHECK", "general", "bool", "1", "Mail the postmaster when a new DMS release exists."),
    _v("UPDATE_CHECK_INTERVAL", "general", "interval", "1d", "How often to check for updates, like 1d or 12h."),
    _v("DMS_VMAIL_UID", "general", "int", "5000", "Owner of the mail files (not 0).", lo=1, hi=2**32 - 2),
    _v("DMS_VMAIL_GID", "general", "int", "5000", "Group of the mail files.", hi=2**32 - 2),
    _v("VIRUSMAILS_DELETE_DELAY", "general", "int", "7", "Days to keep quarantined virus mail."),
    # security
    _v(
        "SSL_TYPE",
        "security",
        "enum",
        "",
        "Where TLS certificates come from (empty: none, insecure).",
        ("", "letsencrypt", "manual", "custom", "self-signed"),
    ),
    _v("SSL_CERT_PATH", "security", "path", "", "Certificate path in the container (SSL_TYPE=manual)."),
    _v("SSL_KEY_PATH", "security", "path", "", "Key path in the container (SSL_TYPE=manual)."),
    _v(
        "TLS_LEVEL",
        "security",
        "enum",
        "modern",
        "Accepted TLS ciphers (both need TLS 1.2+).",
        ("modern", "intermediate"),
    ),
    _v(
        "PERMIT_DOCKER",
        "security",
        "enum",
        "none",
        "Networks trusted to relay without login (risky).",
        ("none", "container", "host", "network", "connected-networks"),
    ),
    _v("SPOOF_PROTECTION", "security", "bool", "0", "Users may only send as their own addresses."),
    _v("ENABLE_FAIL2BAN", "security", "bool", "0", "Ban IPs after failed logins (needs cap_add NET_ADMIN)."),
    _v("FAIL2BAN_BLOCKTYPE", "security", "enum", "drop", "How banned IPs are blocked.", ("drop", "reject")),
    _v("ENABLE_POLICYD_SPF", "security", "bool", "1", "Check SPF of incoming mail."),
    _v("ENABLE_OPENDKIM", "security", "bool", "1", "Sign outgoing mail with DKIM (OpenDKIM)."),
    _v("ENABLE_OPENDMARC", "security", "bool", "1", "Check DMARC of incoming mail."),
    _v("ENABLE_DNSBL", "security", "bool", "0", "Reject clients listed in DNS blocklists."),
    _v(
        "POSTSCREEN_ACTION",
        "security",
        "enum",
        "enforce",
        "What postscreen does with bad clients.",
        ("enforce", "drop", "ignore"),
    ),
    _v("ENABLE_MTA_STS", "security", "bool", "0", "Enforce MTA-STS for outgoing mail."),
    # filtering
    _v("ENABLE_AMAVIS", "filtering", "bool", "1", "Run Amavis, which runs SpamAssassin and ClamAV."),
    _v(
        "AMAVIS_LOGLEVEL",
        "filtering",
        "enum",
        "0",
        "Amavis log level.",
        ("-3", "-2", "-1", "0", "1", "2", "3", "4", "5"),
    ),
    _v("ENABLE_CLAMAV", "filtering", "bool", "0", "Scan mail for viruses (needs about 1.5 GB of memory)."),
    _v(
        "CLAMAV_MESSAGE_SIZE_LIMIT",
        "filtering",
        "sisize",
        "25M",
        "Largest message ClamAV scans, like 25M (at most 4000M).",
    ),
    _v("ENABLE_POSTGREY", "filtering", "bool", "0", "Greylist unknown senders."),
    _v("POSTGREY_DELAY", "filtering", "int", "300", "Greylisting delay in seconds."),
    _v("ENABLE_RSPAMD", "filtering", "bool", "0", "Use Rspamd instead of Amavis/SpamAssassin."),
    _v("RSPAMD_LEARN", "filtering", "bool", "0", "Rspamd learns from moves into and out of Junk."),
    _v("RSPAMD_GREYLISTING", "filtering", "bool", "0", "Rspamd greylisting."),
    # spam
    _v("ENABLE_SPAMASSASSIN", "spam", "bool", "0", "Score mail with SpamAssassin (needs Amavis)."),
    _v("ENABLE_SPAMASSASSIN_KAM", "spam", "bool", "0", "Add the KAM rule set."),
    _v("SPAMASSASSIN_SPAM_TO_INBOX", "spam", "bool", "1", "Deliver spam (marked) instead of bouncing it."),
    _v("SA_TAG", "spam", "float", "2.0", "Score from which spam headers are added."),
    _v("SA_TAG2", "spam", "float", "6.31", "Score from which mail is marked as spam."),
    _v("SA_KILL", "spam", "float", "10.0", "Score from which spam is quarantined."),
    _v(
        "SPAM_SUBJECT",
        "spam",
        "string",
        "",
        "Prefix for the subject of spam; empty for none. A trailing space is kept.",
    ),
    _v("MOVE_SPAM_TO_JUNK", "spam", "bool", "1", "File spam into the Junk folder."),
    _v("MARK_SPAM_AS_READ", "spam", "bool", "0", "Mark spam as read."),
    # relay
    _v("DEFAULT_RELAY_HOST", "relay", "relayhost", "", "Send all mail through this host, like [smtp.example.com]:587."),
    _v("RELAY_HOST", "relay", "host", "", "Relay host (legacy form; needed for per-domain opt-out)."),
    _v("RELAY_PORT", "relay", "port", "25", "Relay port."),
    _v("RELAY_USER", "relay", "string", "", "Relay user name."),
    _v("RELAY_PASSWORD", "relay", "secret", "", "Relay password (never shown)."),
    _v("ENABLE_SRS", "relay", "bool", "0", "Rewrite senders of forwarded mail (SRS)."),
    # reports
    _v("REPORT_RECIPIENT", "reports", "address", "", "Who receives reports (default the postmaster)."),
    _v(
        "PFLOGSUMM_TRIGGER",
        "reports",
        "enum",
        "",
        "When to send the Postfix summary.",
        ("", "none", "daily_cron", "logrotate"),
    ),
    _v("LOGWATCH_INTERVAL", "reports", "enum", "none", "How often to send Logwatch.", ("none", "daily", "weekly")),
    _v(
        "LOGROTATE_INTERVAL",
        "reports",
        "enum",
        "weekly",
        "How often logs rotate (other values stop DMS).",
        ("daily", "weekly", "monthly"),
    ),
    _v("LOGROTATE_COUNT", "reports", "int", "4", "Rotated logs kept."),
)
BY_NAME = {var.name: var for var in CATALOGUE}
GROUPS = ("general", "security", "filtering", "spam", "relay", "reports")
_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")


@dataclasses.dataclass(frozen=True)
class Deprecation:
    name: str
    since: tuple[int, int]  # the DMS version that removed or renamed it
    message: str
    fix: dict[str, str | None]  # what the one-click fix sets (None removes)


def deprecations(values: dict[str, str], version: str | None) -> list[Deprecation]:
    """Variables removed or renamed in the running DMS version, each with its fix (spec §3.6)."""
    running = _version_tuple(version)
    found = []
    if "ONE_DIR" in values:
        found.append(
            Deprecation(
                "ONE_DIR",
                (14, 0),
                "ONE_DIR is gone since v14: state is kept automatically when /var/mail-state is mounted.",
                {"ONE_DIR": None},
            )
        )
    if "DMS_DEBUG" in values:
        level = "debug" if values["DMS_DEBUG"] == "1" else None
        found.append(
            Deprecation(
                "DMS_DEBUG",
                (11, 0),
                "DMS_DEBUG was replaced by LOG_LEVEL in v11.",
                {"DMS_DEBUG": None, **({"LOG_LEVEL": level} if level else {})},
            )
        )
    if "SA_SPAM_SUBJECT" in values:
        subject = values["SA_SPAM_SUBJECT"]
        new = "" if subject.strip() == "undef" else subject
        found.append(
            Deprecation(
                "SA_SPAM_SUBJECT",
                (14, 0),
                "SA_SPAM_SUBJECT is now SPAM_SUBJECT, and 'undef' is no longer valid: empty means no prefix.",
                {"SA_SPAM_SUBJECT": None, "SPAM_SUBJECT": new},
            )
        )
    if values.get("SPAM_SUBJECT", "").strip() == "undef":
        found.append(
            Deprecation(
                "SPAM_SUBJECT",
                (14, 0),
                "'undef' is no longer valid: leave SPAM_SUBJECT empty for no prefix.",
                {"SPAM_SUBJECT": ""},
            )
        )
    if "ENABLE_LDAP" in values:
        fix: dict[str, str | None] = {"ENABLE_LDAP": None}
        if values["ENABLE_LDAP"] == "1":
            fix["ACCOUNT_PROVISIONER"] = "LDAP"
        found.append(
            Deprecation("ENABLE_LDAP", (13, 0), "ENABLE_LDAP=1 was replaced by ACCOUNT_PROVISIONER=LDAP in v13.", fix)
        )
    return [d for d in found if running is None or running >= d.since]


def _version_tuple(version: str | None) -> tuple[int, int] | None:
    match = re.match(r"^v?(\d+)\.(\d+)", version or "")
    return (int(match[1]), int(match[2])) if match else None  # edge / unknown: assume current


def validate(name: str, value: str) -> str:
    """The value as it will be stored, or FieldError naming the variable.

    A variable the catalogue does not know is only checked for what would break the file; the
    caller decides whether to accept it at all (settings_service).
    """
    if not _NAME.match(name) or len(name) > 100:
        raise FieldError(name[:100], f"{name[:100]!r} is not a variable name (capital letters, digits and _).")
    if any(ch in value for ch in "\r\n\x00"):
        raise FieldError(name, "Line breaks and NUL characters are not allowed in a value.")
    if len(value) > MAX_VALUE:
        raise FieldError(name, f"{name} may be at most {MAX_VALUE} characters long.")
    var = BY_NAME.get(name)
    if var is None or value == "":
        return value  # empty means DMS's default
    if var.choices and value not in var.choices:
        raise FieldError(name, f"{name} must be one of: {', '.join(c or '(empty)' for c in var.choices)}.")
    check = _CHECKS.get(var.type)
    return check(var, value) if check else value


def _int(var: Var, value: str) -> str:
    if not re.fullmatch(r"-?\d+", value):
        raise FieldError(var.name, f"{var.name} must be a whole number.")
    if not var.minimum <= int(value) <= var.maximum:
        raise FieldError(var.name, f"{var.name} must be between {var.minimum} and {var.maximum}.")
    return str(int(value))  # no leading zeros: shells read 010 as octal


def _port(var: Var, value: str) -> str:
    if not re.fullmatch(r"\d{1,5}", value) or not 1 <= int(value) <= 65535:
        raise FieldError(var.name, f"{var.name} must be a port between 1 and 65535.")
    return str(int(value))


def _float(var: Var, value: str) -> str:
    if not re.fullmatch(r"-?\d{1,6}(\.\d{1,6})?", value):
        raise FieldError(var.name, f"{var.name} must be a number like 6.31.")
    return value


def _address(var: Var, value: str) -> str:
    local, at, domain = value.rpartition("@")
    if not at or not re.fullmatch(r"[A-Za-z0-9._%+-]{1,64}", local):
        raise FieldError(var.name, f"{var.name} must be a mail address, like postmaster@example.com.")
    try:
        return f"{local}@{normalize_domain(domain, field=var.name)}"
    except FieldError:
        raise FieldError(var.name, f"{var.name} must be a mail address, like postmaster@example.com.") from None


def _fqdn(var: Var, value: str) -> str:
    try:
        return normalize_domain(value, field=var.name)  # an IDN host name is written as punycode
    except FieldError:
        raise FieldError(var.name, f"{var.name} must be a full host name with a dot, like mail.example.com.") from None


_HOST = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_IPV4 = re.compile(r"(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)")


def _host_ok(host: str) -> bool:
    return len(host) <= 253 and bool(_IPV4.fullmatch(host) or _HOST.fullmatch(host.lower()))


def _host(var: Var, value: str) -> str:
    if not _host_ok(value.strip("[]")):
        raise FieldError(var.name, f"{var.name} must be a host name like smtp.example.com or an IP address.")
    return value.strip("[]").lower()


def _relayhost(var: Var, value: str) -> str:
    # Postfix's relayhost: host, host:port, [host] or [host]:port (brackets: no MX lookup).
    match = re.fullmatch(r"(\[(?P<bracketed>[^\]]+)\]|(?P<bare>[^:\[\]]+))(?::(?P<port>\d{1,5}))?", value)
    host = match and (match["bracketed"] or match["bare"])
    port = match and match["port"]
    if not host or not _host_ok(host) or (port and not 1 <= int(port) <= 65535):
        raise FieldError(var.name, f"{var.name} must look like [smtp.example.com]:587 or smtp.example.com:25.")
    return value.lower()


@functools.cache
def time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _timezone(var: Var, value: str) -> str:
    if value not in time_zones():
        raise FieldError(var.name, f"{var.name} must be a time zone name like Europe/Berlin or UTC.")
    return value


def _interval(var: Var, value: str) -> str:
    if not re.fullmatch(r"[1-9]\d{0,5}[smhd]", value):
        raise FieldError(var.name, f"{var.name} must be a number with s, m, h or d, like 1d or 12h.")
    return value


_SI = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9}


def _sisize(var: Var, value: str) -> str:
    # DMS reads it with `numfmt --from=si` and refuses more than ClamAV's 4000M (spec §3.2).
    match = re.fullmatch(r"(\d{1,13})([KMG]?)", value)
    if not match:
        raise FieldError(var.name, f"{var.name} must be a size like 25M (a whole number with K, M or G).")
    if int(match[1]) * _SI[match[2]] > 4000 * 10**6:
        raise FieldError(var.name, f"{var.name} may be at most 4000M: ClamAV cannot scan more.")
    return value


def _path(var: Var, value: str) -> str:
    if not value.startswith("/") or any(part == ".." for part in value.split("/")) or re.search(r"\s", value):
        raise FieldError(var.name, f"{var.name} must be an absolute path in the container, without '..' or spaces.")
    return value


_CHECKS: dict[str, Callable[[Var, str], str]] = {
    "int": _int,
    "port": _port,
    "float": _float,
    "address": _address,
    "fqdn": _fqdn,
    "host": _host,
    "relayhost": _relayhost,
    "timezone": _timezone,
    "interval": _interval,
    "sisize": _sisize,
    "path": _path,
}


def quote(value: str) -> str:
    """A value as Compose's env_file reads it back unchanged."""
    if value == "" or re.fullmatch(r"[A-Za-z0-9_./:@,+=\[\]-]+", value):
        return value
    if "'" not in value:
        return f"'{value}'"  # single quotes: literal, no interpolation, spaces kept
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "$$") + '"'


def render(text: str, updates: dict[str, str | None]) -> str:
    """`text` with `updates` applied in place: comments, order and unknown lines kept.

    A None value removes the variable; a new one goes at the end.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    done: set[str] = set()
    out = []
    for line in lines:
        name = _line_name(line)
        if name in updates:
            if name in done or updates[name] is None:
                continue  # a removed variable, or a duplicate line DMS would ignore
            out.append(f"{name}={quote(updates[name] or '')}")
            done.add(name)
        else:
            out.append(line)
    out += [f"{n}={quote(v)}" for n, v in updates.items() if v is not None and n not in done]
    return "".join(line + "\n" for line in out)


def _line_name(line: str) -> str | None:
    match = re.match(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=", line)
    return match[1] if match and not line.lstrip().startswith("#") else None


def values_of(text: str) -> dict[str, str]:
    return parse_env(text)
