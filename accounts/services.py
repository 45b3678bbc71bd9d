"""Mailbox operations on DMS's files: validate, edit under the config lock, commit, apply."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import re
from collections.abc import Iterable

from django.conf import settings

from accounts import hashing
from accounts.files import (
    Account,
    Alias,
    LineFile,
    Quota,
    RegexpAlias,
    account_exists,
    account_keys,
    alias_exists,
    alias_keys,
    append_alias,
    append_lines,
    effective_quotas,
    has_account,
    parse_accounts,
    parse_quotas,
    parse_regexp,
    parse_virtual,
    render_account,
    with_account_hash,
    without_account,
    without_target,
)
from accounts.validation import normalize_address, normalize_alias_address, validate_password, validate_quota
from dms_admin.audit import Actor
from dms_admin.background import background
from dms_admin.changes import ChangeOutcome, change_recorded
from dms_admin.configstore import ChangeResult, get_store
from dms_admin.dms import get_mailserver
from dms_admin.errors import Conflict, FieldError
from dms_admin.jobqueue import job_enqueue
from dms_admin.mailnames import address_key, domain_key
from dms_admin.models import JobRun

ACCOUNTS = "postfix-accounts.cf"
VIRTUAL = "postfix-virtual.cf"
QUOTAS = "dovecot-quotas.cf"


@dataclasses.dataclass(frozen=True)
class Mailbox:
    address: str
    scheme: str  # the hash scheme, e.g. SHA512-CRYPT
    quota: str | None  # DMS size syntax, None when the default applies: what DMS enforces
    extra: str = ""
    # Set when DMS takes the quota from another address's line (its substring lookup, spec §1.7).
    quota_via: str = ""

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
    warnings: list[str] = dataclasses.field(default_factory=list)


def hash_password(password: str) -> str:
    """SHA512-CRYPT as `doveadm pw -s SHA512-CRYPT` makes it (5000 rounds: no rounds= field)."""
    return "{SHA512-CRYPT}" + hashing.sha512_crypt(password, settings.DMS_PASSWORD_ROUNDS)


def _scheme(password_hash: str) -> str:
    if password_hash.startswith("{"):
        return password_hash[1 : password_hash.find("}")]
    return "SHA512-CRYPT"  # DMS's default scheme for a bare $6$ hash


def mailbox_list(*, search: str = "", domain: str = "") -> list[Mailbox]:
    needle = search.strip().lower()
    domain = domain_key(domain) if domain.strip() else ""  # bücher.example finds xn--bcher-kva.example
    return [
        m
        for m in _all_mailboxes()
        if (not needle or needle in m.address.lower()) and (not domain or m.domain.lower() == domain)
    ]


_mailbox_cache: dict[str, tuple[object, list[Mailbox]]] = {}


def _all_mailboxes() -> list[Mailbox]:
    """Every mailbox, sorted by domain and name; parsed again only when a file changed.

    At 10,000 mailboxes parsing takes tens of milliseconds: the list and search pages reuse the
    result while the files' size, mtime and inode stay the same (every write replaces the inode).
    """
    store = get_store()
    key = (str(store.root), store.file_signature(ACCOUNTS), store.file_signature(QUOTAS))
    cached = _mailbox_cache.get("all")
    if cached is not None and cached[0] == key:
        return cached[1]
    accounts = list(parse_accounts(store.read(ACCOUNTS)).entries())
    lines = ((q.address, q.size) for q in parse_quotas(store.read(QUOTAS)).entries())
    quotas = effective_quotas(lines, (a.address for a in accounts))
    mailboxes = []
    for account in accounts:
        size, source = quotas.get(account.address.lower(), (None, ""))
        via = source if source and source != account.address.lower() else ""
        mailboxes.append(Mailbox(account.address, _scheme(account.password_hash), size, account.extra, via))
    mailboxes.sort(key=lambda m: (m.domain, m.local))
    _mailbox_cache["all"] = (key, mailboxes)
    return mailboxes


@dataclasses.dataclass(frozen=True)
class MailboxUsage:
    mailbox: Mailbox
    used: int | None  # bytes; None when the mail folder is not there (no mail yet, or not mounted)
    limit: int | None  # bytes; None for unlimited or the server default

    @property
    def percent(self) -> int | None:
        if self.used is None or not self.limit:
            return None
        return min(100, round(100 * self.used / self.limit))


def mailbox_usage(mailboxes: Iterable[Mailbox]) -> list[MailboxUsage]:
    """Used and limit for each (for one page of the list: it reads the mail folders)."""
    from accounts.files import quota_bytes
    from accounts.usage import mailbox_bytes

    return [
        MailboxUsage(m, mailbox_bytes(settings.DMS_MAIL_DIR, m.address), quota_bytes(m.quota) if m.quota else None)
        for m in mailboxes
    ]


# Reading every mail folder of a larger domain would make its page slow; the list has the sizes.
SIZE_CHART_MAX_MAILBOXES = 1000


def domain_size_chart(*, domain: str) -> str:
    """The domain's largest mailboxes as an SVG chart ("" without mail, or for a very large domain)."""
    from accounts.plot import sizes_svg

    mailboxes = mailbox_list(domain=domain)
    if not mailboxes or len(mailboxes) > SIZE_CHART_MAX_MAILBOXES:
        return ""
    return sizes_svg([(u.mailbox.address, u.used or 0, u.limit) for u in mailbox_usage(mailboxes)])


def mailbox_get(*, address: str) -> Mailbox | None:
    wanted = address_key(address)
    return next((m for m in mailbox_list() if m.address.lower() == wanted), None)


@dataclasses.dataclass(frozen=True)
class NewMailbox:
    address: str
    password: str
    quota: str | None = None


def mailbox_create(
    *, address: str, password: str, quota: str | None = None, actor: Actor, dry_run: bool = False
) -> Saved:
    return mailboxes_create(items=[NewMailbox(address, password, quota)], actor=actor, dry_run=dry_run)


def mailboxes_create(*, items: list[NewMailbox], actor: Actor, dry_run: bool = False) -> Saved:
    """Create one or many mailboxes in one commit; any bad item refuses them all.

    In a batch, field names carry the item's index ("3.address").
    """
    if not items:
        raise FieldError("address", "Give at least one mailbox.")
    clean: list[NewMailbox] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        prefix = f"{index}." if len(items) > 1 else ""
        try:
            address = normalize_address(item.address)
            password = validate_password(item.password, min_length=settings.DMS_MAILBOX_PASSWORD_MIN_LENGTH)
            quota = validate_quota(item.quota) if item.quota else None
        except FieldError as error:
            raise FieldError(prefix + error.field, error.message) from None
        if address in seen:
            raise FieldError(prefix + "address", f"{address} is in the list twice.")
        seen.add(address)
        clean.append(NewMailbox(address, password, quota))
    # Hashing is the slow part. A few hashes run on another thread (libcrypt without the GIL) while
    # this one takes the lock, reads the files and checks the addresses; a bulk import hashes on
    # every core first, without holding the lock.
    passwords, rounds = [item.password for item in clean], settings.DMS_PASSWORD_ROUNDS
    hashing_done: concurrent.futures.Future[list[str]] = concurrent.futures.Future()
    if len(clean) <= 4:
        hashing_done = background("hashing", 2).submit(hashing.sha512_crypt_many, passwords, rounds)
    else:
        hashing_done.set_result(hashing.sha512_crypt_many(passwords, rounds))
    label = clean[0].address if len(clean) == 1 else f"{len(clean)} mailboxes"
    with get_store().change(actor=actor.name, message=f"Create mailbox {label}", dry_run=dry_run) as change:
        accounts_text, virtual_text = change.read(ACCOUNTS), change.read(VIRTUAL)
        if len(clean) > 20:  # one pass building sets beats a scan per address
            existing, aliases = account_keys(accounts_text), alias_keys(virtual_text)
        else:
            existing = {i.address for i in clean if account_exists(accounts_text, i.address)}
            aliases = {i.address for i in clean if alias_exists(virtual_text, i.address)}
        for index, item in enumerate(clean):
            prefix = f"{index}." if len(clean) > 1 else ""
            if item.address in existing:
                raise Conflict(prefix + "address", f"The mailbox {item.address} exists already.")
            if item.address in aliases:
                raise Conflict(
                    prefix + "address", f"{item.address} is an alias; delete the alias first or choose another address."
                )
        hashes = hashing_done.result()
        lines = [
            render_account(Account(item.address, "{SHA512-CRYPT}" + hashed))
            for item, hashed in zip(clean, hashes, strict=True)
        ]
        change.write(ACCOUNTS, append_lines(accounts_text, lines))
        quotas = change.read(QUOTAS)
        for item in clean:
            if item.quota:
                quotas = _set_quota(quotas, item.address, item.quota)
        if any(item.quota for item in clean):
            change.write(QUOTAS, quotas)
    return saved_change(change.result, actor, "mailbox.create", label, dry_run)


def mailbox_set_password(*, address: str, password: str, actor: Actor, dry_run: bool = False) -> Saved:
    address = normalize_address(address)
    password = validate_password(password, min_length=settings.DMS_MAILBOX_PASSWORD_MIN_LENGTH)
    hashing_done = background("hashing", 2).submit(hash_password, password)  # while the lock is taken
    with get_store().change(actor=actor.name, message=f"Change the password of {address}", dry_run=dry_run) as change:
        text, password_hash = change.read(ACCOUNTS), hashing_done.result()
        new_text = with_account_hash(text, address, password_hash)  # a key scan, no full parse
        if new_text is None:
            raise Conflict("address", f"There is no mailbox {address}.")
        change.write(ACCOUNTS, new_text)
    return saved_change(change.result, actor, "mailbox.password", address, dry_run)


def mailbox_delete(*, address: str, actor: Actor, dry_run: bool = False) -> Saved:
    """Remove the account, its quota line, and it from alias targets (aliases left empty go too).

    The mail folder stays; removing it is a separate job the caller starts.
    """
    address = normalize_address(address)
    with get_store().change(actor=actor.name, message=f"Delete mailbox {address}", dry_run=dry_run) as change:
        # Key scans, and a parse of only the alias lines that hold the address: ~15 ms instead of
        # ~130 ms parsing 10,000 + 10,000 lines.
        accounts = without_account(change.read(ACCOUNTS), address)
        if accounts is None:
            raise Conflict("address", f"There is no mailbox {address}.")
        change.write(ACCOUNTS, accounts)
        quotas = parse_quotas(change.read(QUOTAS))
        if quotas.remove(lambda q: q.address.lower() == address):
            change.write(QUOTAS, quotas.render())
        virtual = without_target(change.read(VIRTUAL), address)
        if virtual is not None:
            change.write(VIRTUAL, virtual)
    return saved_change(change.result, actor, "mailbox.delete", address, dry_run)


def quota_set(*, address: str, quota: str | None, actor: Actor, dry_run: bool = False) -> Saved:
    """Set a mailbox's quota (DMS size syntax), or clear it with None (the default applies)."""
    address = normalize_address(address)
    size = validate_quota(quota) if quota else None
    message = f"Set the quota of {address} to {size}" if size else f"Clear the quota of {address}"
    with get_store().change(actor=actor.name, message=message, dry_run=dry_run) as change:
        if not has_account(change.read(ACCOUNTS), address):
            raise Conflict("address", f"There is no mailbox {address}.")
        if size:
            change.write(QUOTAS, _set_quota(change.read(QUOTAS), address, size))
        else:
            quotas = parse_quotas(change.read(QUOTAS))
            quotas.remove(lambda q: q.address.lower() == address)
            change.write(QUOTAS, quotas.render())
    return saved_change(change.result, actor, "quota.set" if size else "quota.clear", address, dry_run)


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


def saved_change(result: ChangeResult | None, actor: Actor, action: str, obj: str, dry_run: bool) -> Saved:
    assert result is not None
    if dry_run:
        return Saved(result, None)
    return Saved(result, change_recorded(result, actor=actor, action=action, object=obj))


__all__ = ["Conflict", "FieldError", "Mailbox", "Saved", "mailbox_create", "mailbox_delete", "mailbox_list"]


def mailbox_purge_start(*, address: str, actor: Actor) -> JobRun:
    """Remove a deleted mailbox's mail folder, as a job (it can be large)."""
    address = normalize_address(address)
    if mailbox_get(address=address) is not None:
        raise Conflict("address", f"{address} is still a mailbox; delete it first.")
    return job_enqueue(kind="mailbox-purge", func="accounts.jobs.mailbox_purge_job", args=(address,), actor=actor)


def mailbox_purge(*, address: str) -> bool:
    """Delete /var/mail/<domain>/<local> inside the mail container; False if there was none."""
    address = normalize_address(address)  # also what makes the path below safe
    if mailbox_get(address=address) is not None:
        raise Conflict("address", f"{address} is a mailbox again; its mail is kept.")
    local, _, domain = address.partition("@")
    folder = f"/var/mail/{domain}/{local}"
    mailserver = get_mailserver()
    if not mailserver.exec(["test", "-e", folder], timeout=10).ok:
        return False
    result = mailserver.exec(["rm", "-rf", "--one-file-system", "--", folder], timeout=600)
    if not result.ok:
        raise RuntimeError(f"Removing {folder} failed: {result.output.strip()[:300]}")
    return True


# ---- aliases (postfix-virtual.cf) ------------------------------------------------------------------

REGEXP = "postfix-regexp.cf"
MAX_TARGETS = 100


def _clean_targets(targets: list[str]) -> tuple[str, ...]:
    if not targets:
        raise FieldError("targets", "Give at least one target address.")
    if len(targets) > MAX_TARGETS:
        raise FieldError("targets", f"At most {MAX_TARGETS} targets.")
    clean: list[str] = []
    for target in targets:
        address = normalize_address(target, field="targets")
        if address not in clean:
            clean.append(address)
    return tuple(clean)


def alias_list(*, search: str = "", domain: str = "") -> list[Alias]:
    needle = search.strip().lower()
    domain = domain_key(domain) if domain.strip() else ""
    return [
        alias
        for alias in parse_virtual(get_store().read(VIRTUAL)).entries()
        if (not needle or needle in alias.address.lower() or any(needle in t.lower() for t in alias.targets))
        and (not domain or alias.domain.lower() == domain)
    ]


def alias_get(*, address: str) -> Alias | None:
    wanted = address_key(address)
    return next((a for a in alias_list() if a.address.lower() == wanted), None)


def alias_save(
    *, address: str, targets: list[str], actor: Actor, replace: bool = False, dry_run: bool = False
) -> Saved:
    """Create an alias (or a catch-all `@domain`), or with replace=True set an existing one's targets."""
    address = normalize_alias_address(address)
    clean = _clean_targets(targets)
    if address in clean:
        raise FieldError("targets", "An alias cannot point to itself.")
    verb = "Change" if replace else "Create"
    warnings: list[str] = []
    with get_store().change(actor=actor.name, message=f"{verb} alias {address}", dry_run=dry_run) as change:
        virtual_text, accounts_text = change.read(VIRTUAL), change.read(ACCOUNTS)
        if not replace and _plain_new_alias(virtual_text, accounts_text, address):
            # The common case, told by key scans: ~10 ms instead of ~100 ms parsing 10,000+10,000 lines.
            change.write(VIRTUAL, append_alias(virtual_text, Alias(address, clean)))
        else:
            virtual = parse_virtual(virtual_text)
            line = virtual.find(lambda a: a.address.lower() == address)
            mailboxes = {a.address.lower() for a in parse_accounts(accounts_text).entries()}
            if replace:
                if line is None:
                    raise Conflict("address", f"There is no alias {address}.")
                virtual.replace(line, Alias(address, clean))
            else:
                if line is not None:
                    raise Conflict("address", f"The alias {address} exists already; change its targets instead.")
                if address in mailboxes:
                    raise Conflict("address", f"{address} is a mailbox; an alias cannot have the same address.")
                _insert_alias(virtual, Alias(address, clean))
            change.write(VIRTUAL, virtual.render())
            warnings = _catch_all_warnings(address, mailboxes, virtual)
    saved = saved_change(change.result, actor, "alias.update" if replace else "alias.create", address, dry_run)
    return dataclasses.replace(saved, warnings=warnings)


def _plain_new_alias(virtual_text: str, accounts_text: str, address: str) -> bool:
    """Whether a new alias simply goes at the end: not a catch-all, no key or mailbox of that
    address yet, no catch-all of its domain to stay below (anything else takes the full parse)."""
    domain = address.rpartition("@")[2]
    return not (
        address.startswith("@")
        or alias_exists(virtual_text, address)
        or alias_exists(virtual_text, "@" + domain)
        or account_exists(accounts_text, address)
    )


def _insert_alias(virtual: LineFile[Alias], alias: Alias) -> None:
    # Postfix reads the file top-down and a catch-all matches before real mailboxes: a specific
    # alias goes above its domain's catch-all (spec §1.4).
    if not alias.is_catch_all:
        for index, line in enumerate(virtual.lines):
            if line.entry is not None and line.entry.is_catch_all and line.entry.domain.lower() == alias.domain:
                virtual.insert(index, alias)
                return
    virtual.append(alias)


def _catch_all_warnings(address: str, mailboxes: set[str], virtual: LineFile[Alias]) -> list[str]:
    if not address.startswith("@"):
        return []
    domain = address[1:]
    keys = {a.address.lower() for a in virtual.entries()}
    shadowed = sorted(m for m in mailboxes if m.endswith("@" + domain) and m not in keys)
    if not shadowed:
        return []
    names = ", ".join(shadowed[:5]) + (" …" if len(shadowed) > 5 else "")
    return [
        f"The catch-all for {domain} also catches mail for {len(shadowed)} mailbox(es) without their own alias "
        f"({names}): Postfix checks aliases first. Add an alias from each to itself to keep their mail."
    ]


def alias_delete(*, address: str, actor: Actor, dry_run: bool = False) -> Saved:
    address = normalize_alias_address(address)
    with get_store().change(actor=actor.name, message=f"Delete alias {address}", dry_run=dry_run) as change:
        virtual = parse_virtual(change.read(VIRTUAL))
        if not virtual.remove(lambda a: a.address.lower() == address):
            raise Conflict("address", f"There is no alias {address}.")
        change.write(VIRTUAL, virtual.render())
    return saved_change(change.result, actor, "alias.delete", address, dry_run)


# ---- regexp aliases (postfix-regexp.cf) --------------------------------------------------------------


def regexp_id(entry: RegexpAlias) -> str:
    """A stable id for a regexp alias: its pattern and flags (positions shift when lines move)."""
    return hashlib.sha256(f"/{entry.pattern}/{entry.flags}".encode()).hexdigest()[:12]


def regexp_list() -> list[RegexpAlias]:
    return list(parse_regexp(get_store().read(REGEXP)).entries())


def regexp_get(*, id: str) -> RegexpAlias | None:
    return next((e for e in regexp_list() if regexp_id(e) == id), None)


def _clean_regexp(pattern: str, flags: str) -> tuple[str, str]:
    if any(ch in pattern for ch in "\r\n\x00"):
        raise FieldError("pattern", "Line breaks and NUL characters are not allowed.")
    pattern = pattern.strip()
    if len(pattern) >= 2 and pattern.startswith("/") and pattern.rstrip("imx").endswith("/"):
        body = pattern.rstrip("imx")
        flags = flags or pattern[len(body) :]
        pattern = body[1:-1]
    if not pattern:
        raise FieldError("pattern", "Enter a pattern, like ^sales-.*@example\\.com$.")
    if re.search(r"(?<!\\)(?:\\\\)*/", pattern):
        raise FieldError("pattern", "Escape a / inside the pattern as \\/.")
    if not re.fullmatch(r"[imx]*", flags):
        raise FieldError("flags", "Flags may be i, m and x.")
    try:
        re.compile(pattern.replace("\\/", "/"))
    except re.error as error:
        raise FieldError("pattern", f"The pattern is not a valid regular expression: {error}.") from None
    return pattern, flags


def regexp_save(
    *, pattern: str, targets: list[str], flags: str = "", id: str | None = None, actor: Actor, dry_run: bool = False
) -> Saved:
    """Add a regexp alias, or with `id` replace that one (kept in its place: order matters)."""
    pattern, flags = _clean_regexp(pattern, flags)
    entry = RegexpAlias(pattern, flags, _clean_targets(targets))
    verb = "Change" if id else "Create"
    with get_store().change(actor=actor.name, message=f"{verb} regexp alias /{pattern}/", dry_run=dry_run) as change:
        table = parse_regexp(change.read(REGEXP))
        if id:
            line = table.find(lambda e: regexp_id(e) == id)
            if line is None:
                raise Conflict("id", "That regexp alias no longer exists.")
            table.replace(line, entry)
        else:
            if table.find(lambda e: regexp_id(e) == regexp_id(entry)):
                raise Conflict("pattern", "A regexp alias with this pattern exists already.")
            table.append(entry)
        change.write(REGEXP, table.render())
    return saved_change(change.result, actor, "regexp.update" if id else "regexp.create", f"/{pattern}/", dry_run)


def regexp_delete(*, id: str, actor: Actor, dry_run: bool = False) -> Saved:
    with get_store().change(actor=actor.name, message="Delete a regexp alias", dry_run=dry_run) as change:
        table = parse_regexp(change.read(REGEXP))
        if not table.remove(lambda e: regexp_id(e) == id):
            raise Conflict("id", "That regexp alias no longer exists.")
        change.write(REGEXP, table.render())
    return saved_change(change.result, actor, "regexp.delete", id, dry_run)
