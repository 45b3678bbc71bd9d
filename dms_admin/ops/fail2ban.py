"""Fail2ban in the mail container: banned addresses per jail, ban and unban through `setup fail2ban`."""

from __future__ import annotations

import dataclasses
import ipaddress
import re

from dms_admin.audit import Actor, audit_record
from dms_admin.configstore import get_store
from dms_admin.dms import MailServer, get_mailserver
from dms_admin.envfile import parse_env
from dms_admin.errors import Conflict, FieldError


class Fail2banError(Exception):
    """Fail2ban is off, not running, or `setup fail2ban` failed; the message says which."""


@dataclasses.dataclass(frozen=True)
class Jail:
    name: str
    banned: list[str]
    currently_failed: int | None = None
    total_banned: int | None = None


# ---- parsing (pure) ---------------------------------------------------------------------------

_BANNED_IN = re.compile(r"^Banned in (?P<jail>[\w.-]+):\s*(?P<ips>.*)$")
_JAIL_HEADER = re.compile(r"^Status for the jail:\s*(?P<jail>\S+)")
_FIELD = re.compile(r"^[\s|`-]*(?P<key>[A-Za-z][A-Za-z ]+):\s*(?P<value>.*)$")


def _ips(text: str) -> list[str]:
    # Newer DMS separates with spaces (fail2ban-client's list), older with ", ".
    return [ip for ip in re.split(r"[,\s]+", text.strip()) if ip]


def parse_banned(output: str) -> list[Jail]:
    """`setup fail2ban` without arguments: `Banned in <jail>: <ip> <ip>…` (only jails with bans)."""
    jails = []
    for line in output.splitlines():
        if match := _BANNED_IN.match(line.strip()):
            jails.append(Jail(match["jail"], _ips(match["ips"])))
    return jails


def parse_status(output: str) -> list[Jail]:
    """`setup fail2ban status` / `fail2ban-client status <jail>`: one block per jail, every jail."""
    jails: list[Jail] = []
    fields: dict[str, str] = {}
    name = ""

    def close() -> None:
        if name:
            jails.append(
                Jail(
                    name,
                    _ips(fields.get("banned ip list", "")),
                    _int(fields.get("currently failed")),
                    _int(fields.get("total banned")),
                )
            )

    for line in output.splitlines():
        if header := _JAIL_HEADER.match(line.strip()):
            close()
            name, fields = header["jail"], {}
        elif name and (match := _FIELD.match(line)):
            fields[match["key"].strip().lower()] = match["value"].strip()
    close()
    return jails


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def clean_ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise FieldError("ip", f"“{value.strip()[:60]}” is not an IPv4 or IPv6 address.") from None


# ---- services ---------------------------------------------------------------------------------


def fail2ban_enabled(*, mailserver: MailServer | None = None) -> bool:
    """ENABLE_FAIL2BAN=1 in the running container's env; from mailserver.env when the env does not say."""
    mailserver = mailserver or get_mailserver()
    value = mailserver.env().get("ENABLE_FAIL2BAN")
    if value is None:
        value = parse_env(get_store().read("mailserver.env")).get("ENABLE_FAIL2BAN", "0")
    return value.strip() == "1"


def _setup(mailserver: MailServer, *args: str) -> str:
    result = mailserver.exec(["setup", "fail2ban", *args], timeout=30)
    output = result.output.strip()
    if not result.ok:
        raise Fail2banError(f"setup fail2ban {' '.join(args)} failed (exit {result.exit_code}): {output[-300:]}")
    return output


def fail2ban_jails(*, mailserver: MailServer | None = None) -> list[Jail]:
    """Every jail with its banned addresses. DockerUnavailable / Fail2banError when it cannot be read."""
    mailserver = mailserver or get_mailserver()
    if not fail2ban_enabled(mailserver=mailserver):
        raise Fail2banError("Fail2ban is off (ENABLE_FAIL2BAN is not 1).")
    output = _setup(mailserver, "status")
    jails = parse_status(output)
    if not jails:
        # Older DMS has no `status`: the plain listing shows the jails that have bans.
        jails = parse_banned(_setup(mailserver))
    return jails


def fail2ban_ban(*, ip: str, actor: Actor, mailserver: MailServer | None = None) -> str:
    """Ban `ip` in DMS's `custom` jail; the message fail2ban answered."""
    ip = clean_ip(ip)
    mailserver = mailserver or get_mailserver()
    output = _setup_checked(mailserver, "ban", ip)
    # DMS prints "Banned custom IP: <count>" on success and logs an error (exit 0) otherwise.
    if "Banned custom IP" not in output:
        raise Conflict("ip", f"{ip} was not banned: {_last_line(output) or 'no answer'} (already banned?)")
    audit_record(actor=actor, action="fail2ban.ban", object=ip, detail=output[:500])
    return f"{ip} is banned."


def fail2ban_unban(*, ip: str, actor: Actor, mailserver: MailServer | None = None) -> str:
    """Unban `ip` from every jail."""
    ip = clean_ip(ip)
    mailserver = mailserver or get_mailserver()
    output = _setup_checked(mailserver, "unban", ip)
    jails = [m[1] for m in re.finditer(r"Unbanned IP from ([\w.-]+):", output)]
    if not jails:
        raise Conflict("ip", f"{ip} is not banned in any jail.")
    audit_record(actor=actor, action="fail2ban.unban", object=ip, detail=output[:500])
    return f"{ip} is unbanned from {', '.join(jails)}."


def _setup_checked(mailserver: MailServer, action: str, ip: str) -> str:
    if not fail2ban_enabled(mailserver=mailserver):
        raise Fail2banError("Fail2ban is off (ENABLE_FAIL2BAN is not 1).")
    return _setup(mailserver, action, ip)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""
