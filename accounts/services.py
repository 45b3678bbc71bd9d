"""Mailbox operations on DMS's files: validate, edit under the config lock, commit, apply."""

from __future__ import annotations

import dataclasses

from django.conf import settings
from passlib.hash import sha512_crypt

from accounts.files import Account, Quota, parse_accounts, parse_quotas, parse_virtual
from accounts.validation import FieldError, normalize_address, validate_password, validate_quota
from dms_admin.audit import Actor
from dms_admin.configstore import ChangeResult, get_store
from dms_admin.services import ChangeOutcome, change_recorded

ACCOUNTS = "postfix-accounts.cf"
VIRTUAL = "postfix-virtual.cf"
QUOTAS = "dovecot-quotas.cf"


class Conflict(Exception):
    """The change contradicts what exists (a duplicate, an alias with that name…)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclasses.dataclass(frozen=True)
class Mailbox:
    address: str
    scheme: str  # the hash scheme, e.g. SHA512-CRYPT
    quota: str | None  # DMS size syntax, None when the default applies
    extra: str = ""

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]

    @property
    def local(self) -> str:
        return self.address.rpartition("@")[0]


@dataclasses.dataclass(frozen=True)
class Saved:
    """What a write service returns: the diff it made (or would make) and how it is applied."""

    result: ChangeResult
    outcome: ChangeOutcome | None  # None for a dry run


def hash_password(password: str) -> str:
    """SHA512-CRYPT as `doveadm pw -s SHA512-CRYPT` makes it (5000 rounds: no rounds= field)."""
    return "{SHA512-CRYPT}" + sha512_crypt.using(rounds=settings.DMS_PASSWORD_ROUNDS).hash(password)


def _scheme(password_hash: str) -> str:
    if password_hash.startswith("{"):
        return password_hash[1 : password_hash.find("}")]
    return "SHA512-CRYPT"  # DMS's default scheme for a bare $6$ hash


def mailbox_list(*, search: str = "", domain: str = "") -> list[Mailbox]:
    store = get_store()
    quotas = {q.address.lower(): q.size for q in parse_quotas(store.read(QUOTAS)).entries()}
    needle = search.strip().lower()
    found = []
    for account in parse_accounts(store.read(ACCOUNTS)).entries():
        address = account.address.lower()
        if needle and needle not in address:
            continue
        if domain and address.rpartition("@")[2] != domain:
            continue
        found.append(Mailbox(account.address, _scheme(account.password_hash), quotas.get(address), account.extra))
    return sorted(found, key=lambda m: (m.domain, m.local))


def mailbox_get(*, address: str) -> Mailbox | None:
    wanted = address.strip().lower()
    return next((m for m in mailbox_list() if m.address.lower() == wanted), None)


def mailbox_create(
    *, address: str, password: str, quota: str | None = None, actor: Actor, dry_run: bool = False
) -> Saved:
    address = normalize_address(address)
    password = validate_password(password, min_length=settings.DMS_MAILBOX_PASSWORD_MIN_LENGTH)
    quota = validate_quota(quota) if quota else None
    with get_store().change(actor=actor.name, message=f"Create mailbox {address}", dry_run=dry_run) as change:
        accounts = parse_accounts(change.read(ACCOUNTS))
        if accounts.find(lambda a: a.address.lower() == address):
            raise Conflict("address", f"The mailbox {address} exists already.")
        if parse_virtual(change.read(VIRTUAL)).find(lambda a: a.address.lower() == address):
            raise Conflict("address", f"{address} is an alias; delete the alias first or choose another address.")
        accounts.append(Account(address, hash_password(password)))
        change.write(ACCOUNTS, accounts.render())
        if quota:
            change.write(QUOTAS, _set_quota(change.read(QUOTAS), address, quota))
    return _saved(change.result, actor, "mailbox.create", address, dry_run)


def mailbox_set_password(*, address: str, password: str, actor: Actor, dry_run: bool = False) -> Saved:
    address = normalize_address(address)
    password = validate_password(password, min_length=settings.DMS_MAILBOX_PASSWORD_MIN_LENGTH)
    with get_store().change(actor=actor.name, message=f"Change the password of {address}", dry_run=dry_run) as change:
        accounts = parse_accounts(change.read(ACCOUNTS))
        line = accounts.find(lambda a: a.address.lower() == address)
        if line is None or line.entry is None:
            raise Conflict("address", f"There is no mailbox {address}.")
        accounts.replace(line, dataclasses.replace(line.entry, password_hash=hash_password(password)))
        change.write(ACCOUNTS, accounts.render())
    return _saved(change.result, actor, "mailbox.password", address, dry_run)


def mailbox_delete(*, address: str, actor: Actor, dry_run: bool = False) -> Saved:
    """Remove the account, its quota line, and it from alias targets (aliases left empty go too).

    The mail folder stays; removing it is a separate job the caller starts.
    """
    address = normalize_address(address)
    with get_store().change(actor=actor.name, message=f"Delete mailbox {address}", dry_run=dry_run) as change:
        accounts = parse_accounts(change.read(ACCOUNTS))
        if not accounts.remove(lambda a: a.address.lower() == address):
            raise Conflict("address", f"There is no mailbox {address}.")
        change.write(ACCOUNTS, accounts.render())
        quotas = parse_quotas(change.read(QUOTAS))
        if quotas.remove(lambda q: q.address.lower() == address):
            change.write(QUOTAS, quotas.render())
        virtual = parse_virtual(change.read(VIRTUAL))
        touched = False
        for line in list(virtual.lines):
            alias = line.entry
            if alias is not None and address in (t.lower() for t in alias.targets):
                rest = tuple(t for t in alias.targets if t.lower() != address)
                touched = True
                if rest:
                    virtual.replace(line, dataclasses.replace(alias, targets=rest))
                else:
                    virtual.lines.remove(line)
        if touched:
            change.write(VIRTUAL, virtual.render())
    return _saved(change.result, actor, "mailbox.delete", address, dry_run)


def _set_quota(text: str, address: str, size: str) -> str:
    quotas = parse_quotas(text)
    quotas.remove(lambda q: q.address.lower() == address)
    # DMS finds a quota by a substring match on "<address>:" and takes the first hit, so
    # "bob@x.com:" also matches "alice.bob@x.com:5G" (spec §1.7): our line goes before any line
    # that contains it, so the first hit is ours.
    needle = f"{address}:"
    index = next((i for i, line in enumerate(quotas.lines) if needle in line.raw.lower()), len(quotas.lines))
    quotas.insert(index, Quota(address, size))
    return quotas.render()


def _saved(result: ChangeResult | None, actor: Actor, action: str, obj: str, dry_run: bool) -> Saved:
    assert result is not None
    if dry_run:
        return Saved(result, None)
    return Saved(result, change_recorded(result, actor=actor, action=action, object=obj))


__all__ = ["Conflict", "FieldError", "Mailbox", "Saved", "mailbox_create", "mailbox_delete", "mailbox_list"]
