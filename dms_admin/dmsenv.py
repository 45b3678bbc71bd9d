# ruff: noqa: E501  (the catalogue and messages read best one per line)
"""DMS's variables in `mailserver.env` (spec §3): the catalogue, checks, and edits that keep the file.

Pure functions, no I/O. Every change of this file needs the mail container re-created.
"""

from __future__ import annotations

import dataclasses
import re

from dms_admin.envfile import parse_env
from dms_admin.errors import FieldError

BOOL = ("0", "1")


@dataclasses.dataclass(frozen=True)
class Var:
    name: str
    group: str  # general, security, filtering, spam, relay, reports
    type: str  # bool, enum, int, float, string, address, fqdn, size, secret
    default: str
    help: str
    choices: tuple[str, ...] = ()


def _v(name: str, group: str, type: str, default: str, help: str, choices: tuple[str, ...] = ()) -> Var:
    return Var(name, group, type, default, help, BOOL if type == "bool" else choices)


CATALOGUE: tuple[Var, ...] = (
    # general
    _v("OVERRIDE_HOSTNAME", "general", "fqdn", "", "The mail server's FQDN, if not the container hostname."),
    _v("POSTMASTER_ADDRESS", "general", "address", "", "Who gets the server's own mail (default postmaster@<domain>)."),
    _v("LOG_LEVEL", "general", "enum", "info", "How much DMS logs.", ("error", "warn", "info", "debug", "trace")),
    _v("SUPERVISOR_LOGLEVEL", "general", "enum", "warn", "Supervisor's log level.", ("critical", "error", "warn", "info", "debug")),
    _v("TZ", "general", "string", "", "Time zone inside the container, like Europe/Berlin."),
    _v("ACCOUNT_PROVISIONER", "general", "enum", "FILE", "Where accounts come from.", ("FILE", "LDAP")),
    _v("ENABLE_IMAP", "general", "bool", "1", "Serve IMAP."),
    _v("ENABLE_POP3", "general", "bool", "0", "Serve POP3 (110/995)."),
    _v("ENABLE_MANAGESIEVE", "general", "bool", "0", "Let clients manage filters (port 4190)."),
    _v("SMTP_ONLY", "general", "bool", "0", "Only send mail: no Dovecot, no mailboxes."),
    _v("ENABLE_QUOTAS", "general", "bool", "1", "Enforce per-mailbox quotas."),
    _v("POSTFIX_MESSAGE_SIZE_LIMIT", "general", "int", "10240000", "Largest message in bytes (0 = no limit)."),
    _v("POSTFIX_MAILBOX_SIZE_LIMIT", "general", "int", "0", "Default mailbox size in bytes (0 = no limit)."),
    _v("DOVECOT_MAILBOX_FORMAT", "general", "enum", "maildir", "How mail is stored.", ("maildir", "sdbox", "mdbox")),
    _v("DMS_CONFIG_POLL", "general", "int", "2", "Seconds between checks for changed account files."),
    _v("ENABLE_UPDATE_CHECK", "general", "bool", "1", "Mail the postmaster when a new DMS release exists."),
    _v("UPDATE_CHECK_INTERVAL", "general", "string", "1d", "How often to check for updates, like 1d or 12h."),
    _v("DMS_VMAIL_UID", "general", "int", "5000", "Owner of the mail files."),
    _v("DMS_VMAIL_GID", "general", "int", "5000", "Group of the mail files."),
    _v("VIRUSMAILS_DELETE_DELAY", "general", "int", "7", "Days to keep quarantined virus mail."),
    # security
    _v("SSL_TYPE", "security", "enum", "", "Where TLS certificates come from (empty: none, insecure).", ("", "letsencrypt", "manual", "custom", "self-signed")),
    _v("SSL_CERT_PATH", "security", "string", "", "Certificate path in the container (SSL_TYPE=manual)."),
    _v("SSL_KEY_PATH", "security", "string", "", "Key path in the container (SSL_TYPE=manual)."),
    _v("TLS_LEVEL", "security", "enum", "modern", "Accepted TLS ciphers (both need TLS 1.2+).", ("modern", "intermediate")),
    _v("PERMIT_DOCKER", "security", "enum", "none", "Networks trusted to relay without login (risky).", ("none", "container", "host", "network", "connected-networks")),
    _v("SPOOF_PROTECTION", "security", "bool", "0", "Users may only send as their own addresses."),
    _v("ENABLE_FAIL2BAN", "security", "bool", "0", "Ban IPs after failed logins (needs cap_add NET_ADMIN)."),
    _v("FAIL2BAN_BLOCKTYPE", "security", "enum", "drop", "How banned IPs are blocked.", ("drop", "reject")),
    _v("ENABLE_POLICYD_SPF", "security", "bool", "1", "Check SPF of incoming mail."),
    _v("ENABLE_OPENDKIM", "security", "bool", "1", "Sign outgoing mail with DKIM (OpenDKIM)."),
    _v("ENABLE_OPENDMARC", "security", "bool", "1", "Check DMARC of incoming mail."),
    _v("ENABLE_DNSBL", "security", "bool", "0", "Reject clients listed in DNS blocklists."),
    _v("POSTSCREEN_ACTION", "security", "enum", "enforce", "What postscreen does with bad clients.", ("enforce", "drop", "ignore")),
    _v("ENABLE_MTA_STS", "security", "bool", "0", "Enforce MTA-STS for outgoing mail."),
    # filtering
    _v("ENABLE_AMAVIS", "filtering", "bool", "1", "Run Amavis, which runs SpamAssassin and ClamAV."),
    _v("AMAVIS_LOGLEVEL", "filtering", "enum", "0", "Amavis log level.", ("-3", "-2", "-1", "0", "1", "2", "3", "4", "5")),
    _v("ENABLE_CLAMAV", "filtering", "bool", "0", "Scan mail for viruses (needs about 1.5 GB of memory)."),
    _v("CLAMAV_MESSAGE_SIZE_LIMIT", "filtering", "string", "25M", "Largest message ClamAV scans, like 25M."),
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
    _v("SPAM_SUBJECT", "spam", "string", "", "Prefix for the subject of spam; empty for none. A trailing space is kept."),
    _v("MOVE_SPAM_TO_JUNK", "spam", "bool", "1", "File spam into the Junk folder."),
    _v("MARK_SPAM_AS_READ", "spam", "bool", "0", "Mark spam as read."),
    # relay
    _v("DEFAULT_RELAY_HOST", "relay", "string", "", "Send all mail through this host, like [smtp.example.com]:587."),
    _v("RELAY_HOST", "relay", "string", "", "Relay host (legacy form; needed for per-domain opt-out)."),
    _v("RELAY_PORT", "relay", "int", "25", "Relay port."),
    _v("RELAY_USER", "relay", "string", "", "Relay user name."),
    _v("RELAY_PASSWORD", "relay", "secret", "", "Relay password (never shown)."),
    _v("ENABLE_SRS", "relay", "bool", "0", "Rewrite senders of forwarded mail (SRS)."),
    # reports
    _v("REPORT_RECIPIENT", "reports", "address", "", "Who receives reports (default the postmaster)."),
    _v("PFLOGSUMM_TRIGGER", "reports", "enum", "", "When to send the Postfix summary.", ("", "none", "daily_cron", "logrotate")),
    _v("LOGWATCH_INTERVAL", "reports", "enum", "none", "How often to send Logwatch.", ("none", "daily", "weekly")),
    _v("LOGROTATE_INTERVAL", "reports", "enum", "weekly", "How often logs rotate (other values stop DMS).", ("daily", "weekly", "monthly")),
    _v("LOGROTATE_COUNT", "reports", "int", "4", "Rotated logs kept."),
)  # fmt: skip
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
    return [d for d in found if running is None or running >= d.since]  # fmt: skip


def _version_tuple(version: str | None) -> tuple[int, int] | None:
    match = re.match(r"^v?(\d+)\.(\d+)", version or "")
    return (int(match[1]), int(match[2])) if match else None  # edge / unknown: assume current


def validate(name: str, value: str) -> str:
    """The value as it will be stored, or FieldError naming the variable."""
    if not _NAME.match(name):
        raise FieldError(name, f"{name!r} is not a variable name (capital letters, digits and _).")
    if any(ch in value for ch in "\r\n\x00"):
        raise FieldError(name, "Line breaks and NUL characters are not allowed in a value.")
    var = BY_NAME.get(name)
    if var is None or value == "":
        return value  # unknown variables are kept as typed; empty means DMS's default
    if var.choices and value not in var.choices:
        raise FieldError(name, f"{name} must be one of: {', '.join(c or '(empty)' for c in var.choices)}.")
    if var.type == "int" and not re.fullmatch(r"-?\d+", value):
        raise FieldError(name, f"{name} must be a whole number.")
    if var.type == "float" and not re.fullmatch(r"-?\d+(\.\d+)?", value):
        raise FieldError(name, f"{name} must be a number like 6.31.")
    if var.type == "address" and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
        raise FieldError(name, f"{name} must be a mail address.")
    if var.type == "fqdn" and not re.fullmatch(r"(?=.{1,253}$)([a-z0-9-]{1,63}\.)+[a-z0-9-]{1,63}", value.lower()):
        raise FieldError(name, f"{name} must be a full host name with a dot, like mail.example.com.")
    return value


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
