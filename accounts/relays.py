"""Relay hosts per sender domain, their credentials, and send/receive restrictions (spec §1.9, §1.10).

Relay passwords are write-only: nothing here ever returns one.
"""

from __future__ import annotations

import dataclasses
import re

from accounts.files import KeyValue, parse_key_values
from accounts.services import Saved, saved_change
from accounts.validation import normalize_address
from dms_admin.audit import Actor
from dms_admin.configstore import get_store
from dms_admin.errors import Conflict, FieldError
from dms_admin.mailnames import domain_key, normalize_domain

RELAYMAP = "postfix-relaymap.cf"
SASL = "postfix-sasl-password.cf"
ACCESS = {"send": "postfix-send-access.cf", "receive": "postfix-receive-access.cf"}
_HOST = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$|^[0-9a-f:.]+$")
_RELAY_VALUE = re.compile(r"^\[(?P<host>[^\]]+)\](?::(?P<port>\d+))?$|^(?P<bare>[^\s\[\]:]+)(?::(?P<bport>\d+))?$")


@dataclasses.dataclass(frozen=True)
class Relay:
    domain: str
    host: str  # empty: this domain is excluded from the global RELAY_HOST
    port: int | None
    username: str
    has_password: bool


def relay_list() -> list[Relay]:
    store = get_store()
    creds = {kv.key.lower(): kv.value for kv in parse_key_values(store.read(SASL)).entries()}
    relays = []
    for kv in parse_key_values(store.read(RELAYMAP)).entries():
        if not kv.key.startswith("@"):
            continue
        match = _RELAY_VALUE.match(kv.value) if kv.value else None
        host = (match["host"] or match["bare"]) if match else kv.value
        port = (match["port"] or match["bport"]) if match else None
        user, _, password = creds.get(kv.key.lower(), "").partition(":")
        relays.append(Relay(kv.key[1:], host or "", int(port) if port else None, user, bool(password)))
    return relays


def relay_get(*, domain: str) -> Relay | None:
    wanted = domain_key(domain)  # either form finds the stored punycode (A-label) key
    return next((r for r in relay_list() if r.domain.lower() == wanted), None)


def _clean_host(host: str) -> str:
    host = host.strip().lower().strip("[]")
    if not host or any(ch in host for ch in "\r\n\x00 \t") or not _HOST.match(host):
        raise FieldError("host", "Enter a host name like smtp.example.com or an IP address.")
    return host


def _check_secret_part(field: str, value: str, *, colon_ok: bool) -> None:
    if any(ch in value for ch in "\r\n\x00"):
        raise FieldError(field, "Line breaks and NUL characters are not allowed.")
    if field == "username" and ((not colon_ok and ":" in value) or any(ch.isspace() for ch in value)):
        raise FieldError(field, "A user name cannot contain ':' or spaces.")


def relay_save(
    *,
    domain: str,
    host: str,
    port: int = 25,
    username: str = "",
    password: str | None = None,
    actor: Actor,
    dry_run: bool = False,
) -> Saved:
    """Send mail from `domain` through `host:port`, with credentials if given.

    A None password keeps the stored one (the panel never shows it); an empty username removes
    the credentials. An empty host excludes the domain from the global RELAY_HOST.
    """
    domain = normalize_domain(domain)
    host = _clean_host(host) if host.strip() else ""
    if not 1 <= int(port) <= 65535:
        raise FieldError("port", "A port is between 1 and 65535.")
    _check_secret_part("username", username, colon_ok=False)
    if password is not None:
        _check_secret_part("password", password, colon_ok=True)
    key = f"@{domain}"
    with get_store().change(actor=actor.name, message=f"Relay for {domain}", dry_run=dry_run) as change:
        relaymap = parse_key_values(change.read(RELAYMAP))
        value = f"[{host}]:{int(port)}" if host else ""
        line = relaymap.find(lambda kv: kv.key.lower() == key)
        if line is None:
            relaymap.append(KeyValue(key, value))
        else:
            relaymap.replace(line, KeyValue(key, value))
        change.write(RELAYMAP, relaymap.render())
        sasl = parse_key_values(change.read(SASL))
        current = sasl.find(lambda kv: kv.key.lower() == key)
        if not username:
            if current is not None:
                sasl.remove(lambda kv: kv.key.lower() == key)
                change.write(SASL, sasl.render())
        else:
            old_password = current.entry.value.partition(":")[2] if current and current.entry else ""
            secret = password if password is not None else old_password
            if not secret:
                raise FieldError("password", "Give the password for this user name.")
            entry = KeyValue(key, f"{username}:{secret}")
            if current is None:
                sasl.append(entry)
            else:
                sasl.replace(current, entry)
            change.write(SASL, sasl.render())
    return saved_change(change.result, actor, "relay.save", domain, dry_run)


def relay_delete(*, domain: str, actor: Actor, dry_run: bool = False) -> Saved:
    key = "@" + normalize_domain(domain)
    with get_store().change(actor=actor.name, message=f"Remove the relay for {key[1:]}", dry_run=dry_run) as change:
        relaymap = parse_key_values(change.read(RELAYMAP))
        if not relaymap.remove(lambda kv: kv.key.lower() == key):
            raise Conflict("domain", f"There is no relay for {key[1:]}.")
        change.write(RELAYMAP, relaymap.render())
        sasl = parse_key_values(change.read(SASL))
        if sasl.remove(lambda kv: kv.key.lower() == key):
            change.write(SASL, sasl.render())
    return saved_change(change.result, actor, "relay.delete", key[1:], dry_run)


# ---- restrictions ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Restriction:
    address: str
    direction: str  # send | receive
    action: str


def _direction(direction: str) -> str:
    if direction not in ACCESS:
        raise FieldError("direction", "The direction is send or receive.")
    return ACCESS[direction]


def restriction_list() -> list[Restriction]:
    store = get_store()
    return [
        Restriction(kv.key, direction, kv.value)
        for direction, path in ACCESS.items()
        for kv in parse_key_values(store.read(path)).entries()
    ]


def restriction_add(*, address: str, direction: str, actor: Actor, dry_run: bool = False) -> Saved:
    """Refuse mail from (send) or to (receive) an address, like `setup email restrict add`."""
    path = _direction(direction)
    address = normalize_address(address)
    with get_store().change(actor=actor.name, message=f"Restrict {direction} for {address}", dry_run=dry_run) as change:
        table = parse_key_values(change.read(path))
        if table.find(lambda kv: kv.key.lower() == address):
            raise Conflict("address", f"{address} is restricted already.")
        table.append(KeyValue(address, "REJECT"))
        change.write(path, table.render())
    return saved_change(change.result, actor, f"restriction.{direction}.add", address, dry_run)


def restriction_delete(*, address: str, direction: str, actor: Actor, dry_run: bool = False) -> Saved:
    path = _direction(direction)
    address = normalize_address(address)
    with get_store().change(
        actor=actor.name, message=f"Lift the {direction} restriction of {address}", dry_run=dry_run
    ) as change:
        table = parse_key_values(change.read(path))
        if not table.remove(lambda kv: kv.key.lower() == address):
            raise Conflict("address", f"{address} has no {direction} restriction.")
        change.write(path, table.render())
    return saved_change(change.result, actor, f"restriction.{direction}.delete", address, dry_run)
