"""Mail domains: derived from accounts and aliases, their DNS records, and their DKIM keys."""

from __future__ import annotations

import dataclasses
import re
from concurrent.futures import ThreadPoolExecutor

from django.utils import timezone

from accounts import dkim, dnslookup, dnsrecords
from accounts.dnsrecords import DnsRecord
from accounts.files import parse_accounts, parse_virtual
from accounts.models import DnsCheck
from dms_admin.audit import Actor
from dms_admin.changes import ChangeOutcome, change_recorded
from dms_admin.configstore import Change, ChangeResult, ConfigStore, get_store
from dms_admin.dms import DockerUnavailable, get_mailserver
from dms_admin.envfile import parse_env
from dms_admin.errors import Conflict, FieldError
from dms_admin.hostname import mail_hostname
from dms_admin.jobqueue import JobReport, job_enqueue
from dms_admin.mailnames import normalize_domain
from dms_admin.models import JobRun

JOB_ACTIVE = (JobRun.Status.QUEUED, JobRun.Status.RUNNING)
ACCOUNTS = "postfix-accounts.cf"
VIRTUAL = "postfix-virtual.cf"
ENV = "mailserver.env"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclasses.dataclass(frozen=True)
class Domain:
    name: str
    mailboxes: int = 0
    aliases: int = 0  # catch-all included
    catch_all: bool = False
    dkim_selector: str | None = None  # the selector the domain is signed with, None without a key


@dataclasses.dataclass(frozen=True)
class DkimKey:
    domain: str
    selector: str
    bits: int
    engine: str  # opendkim | rspamd
    public_key: str  # the p= value
    private_path: str  # in the config folder
    signing: bool = True  # False: OpenDKIM's SigningTable does not use it (yet)

    @property
    def name(self) -> str:
        return dkim.record_name(self.domain, self.selector)

    @property
    def value(self) -> str:
        return dkim.txt_value(self.engine, self.public_key)

    @property
    def zone(self) -> str:
        if self.engine == dkim.OPENDKIM:
            return dkim.opendkim_zone(self.domain, self.selector, self.public_key)
        return dkim.rspamd_zone(self.selector, self.public_key)


@dataclasses.dataclass(frozen=True)
class DkimSaved:
    result: ChangeResult
    outcome: ChangeOutcome | None  # None for a dry run
    key: DkimKey


def _domain_or_none(raw: str, cache: dict[str, str | None]) -> str | None:
    if raw not in cache:
        try:
            cache[raw] = normalize_domain(raw)
        except FieldError:
            cache[raw] = None  # a hand-written line we cannot use; the mailbox list still shows it
    return cache[raw]


def domain_list(*, search: str = "") -> list[Domain]:
    """Every domain with a mailbox or an alias (catch-alls too), with counts."""
    store = get_store()
    cache: dict[str, str | None] = {}
    mailboxes: dict[str, int] = {}
    aliases: dict[str, int] = {}
    catch_all: set[str] = set()
    for account in parse_accounts(store.read(ACCOUNTS)).entries():
        name = _domain_or_none(account.address.rpartition("@")[2], cache)
        if name:
            mailboxes[name] = mailboxes.get(name, 0) + 1
    for alias in parse_virtual(store.read(VIRTUAL)).entries():
        if "@" not in alias.address:
            continue  # a bare local part applies to every domain
        name = _domain_or_none(alias.domain, cache)
        if name:
            aliases[name] = aliases.get(name, 0) + 1
            if alias.is_catch_all:
                catch_all.add(name)
    needle = search.strip().lower()
    names = sorted(n for n in set(mailboxes) | set(aliases) if needle in n)
    selectors = _signing_selectors(store, names)
    return [Domain(n, mailboxes.get(n, 0), aliases.get(n, 0), n in catch_all, selectors.get(n)) for n in names]


def domain_get(domain: str) -> Domain | None:
    """A known domain (one with a mailbox or an alias); None for others and for invalid names."""
    try:
        name = normalize_domain(domain)
    except FieldError:
        return None
    return next((d for d in domain_list() if d.name == name), None)


def _signing_selectors(store: ConfigStore, names: list[str]) -> dict[str, str]:
    engine = dkim.engine_for(parse_env(store.read(ENV)))
    found = {}
    if engine == dkim.OPENDKIM:
        keytable, signingtable = store.read(dkim.KEYTABLE), store.read(dkim.SIGNINGTABLE)
        for name in names:
            entry, _ = dkim.opendkim_key_for(name, keytable, signingtable)
            if entry:
                found[name] = entry.selector
    else:
        conf = store.read(dkim.DKIM_SIGNING_CONF)
        for name in names:
            key = dkim.rspamd_key_for(name, conf)
            if key:
                found[name] = key[1]
    return found


def dkim_engine() -> str:
    return dkim.engine_for(parse_env(get_store().read(ENV)))


def _key_candidates(
    reader: ConfigStore | Change, engine: str, domain: str, selector: str | None
) -> list[tuple[str, str | None, bool]]:
    """(selector, private key path in the config folder, signing) where the domain's key may be.

    `selector` None: the key the engine's config signs with, then DMS's default selector (keys
    copied in by hand, without table lines); otherwise only that selector's places.
    """
    found: list[tuple[str, str | None, bool]] = []
    if engine == dkim.OPENDKIM:
        keytable = reader.read(dkim.KEYTABLE)
        signer, signing = dkim.opendkim_key_for(domain, keytable, reader.read(dkim.SIGNINGTABLE))
        for entry in dkim.parse_keytable(keytable):
            if entry.domain == domain and (entry == signer if selector is None else entry.selector == selector):
                found.append((entry.selector, dkim.config_rel(entry.path), signing and entry == signer))
        wanted = selector or dkim.DEFAULT_SELECTOR
        found.append((wanted, dkim.opendkim_private_rel(domain, wanted), False))
        return found
    configured = dkim.rspamd_key_for(domain, reader.read(dkim.DKIM_SIGNING_CONF))
    if configured and selector in (None, configured[1]):
        found.append((configured[1], dkim.config_rel(configured[0]), True))
    wanted = selector or dkim.DEFAULT_SELECTOR
    found += [(wanted, dkim.rspamd_files(domain, wanted, bits).private, False) for bits in dkim.KEY_SIZES]
    return found


def _find_key(reader: ConfigStore | Change, engine: str, domain: str, selector: str | None) -> DkimKey | None:
    for found_selector, rel, signing in _key_candidates(reader, engine, domain, selector):
        pem = reader.read_bytes(rel) if rel else None
        if pem is None:
            continue
        try:
            return DkimKey(
                domain, found_selector, dkim.key_bits(pem), engine, dkim.public_key_b64(pem), rel or "", signing
            )
        except ValueError:
            continue
    return None


def dkim_get(domain: str, selector: str | None = None) -> DkimKey | None:
    """The key the domain's mail is signed with (the engine's config says which), or None.

    With `selector`: that selector's key, signing or not.
    """
    domain = normalize_domain(domain)
    if selector is not None:
        selector = validate_selector(selector)
    return _find_key(get_store(), dkim_engine(), domain, selector)


def dkim_keys(domain: str) -> list[DkimKey]:
    """Every key of the domain we can find: the signing one first, then the others (by selector)."""
    domain = normalize_domain(domain)
    store, engine = get_store(), dkim_engine()
    selectors = [dkim.DEFAULT_SELECTOR]
    if engine == dkim.OPENDKIM:
        selectors += [e.selector for e in dkim.parse_keytable(store.read(dkim.KEYTABLE)) if e.domain == domain]
    elif configured := dkim.rspamd_key_for(domain, store.read(dkim.DKIM_SIGNING_CONF)):
        selectors.append(configured[1])
    keys = [key for s in dict.fromkeys(selectors) if (key := _find_key(store, engine, domain, s))]
    return sorted(keys, key=lambda key: (not key.signing, key.selector))


def domain_dns_records(domain: str) -> list[DnsRecord]:
    """The records to publish for the domain (not checked against DNS)."""
    domain = normalize_domain(domain)
    key = dkim_get(domain)
    name = key.name if key else dkim.record_name(domain, dkim.DEFAULT_SELECTOR)
    return dnsrecords.expected_records(
        domain, mail_host=mail_hostname(), dkim_name=name, dkim_value=key.value if key else None
    )


def domain_dns_check(domain: str) -> list[DnsRecord]:
    """The records to publish, each compared with what DNS answers now (lookups in parallel)."""
    domain = normalize_domain(domain)
    key = dkim_get(domain)
    host = mail_hostname()
    mx, spf, dkim_record, dmarc = dnsrecords.expected_records(
        domain,
        mail_host=host,
        dkim_name=key.name if key else dkim.record_name(domain, dkim.DEFAULT_SELECTOR),
        dkim_value=key.value if key else None,
    )
    queries = [(mx.name, "MX"), (spf.name, "TXT"), (dkim_record.name, "TXT"), (dmarc.name, "TXT")]
    with ThreadPoolExecutor(max_workers=len(queries)) as pool:
        answers = list(pool.map(lambda query: dnslookup.lookup(*query), queries))
    records = [
        dnsrecords.check_mx(mx, answers[0], mail_host=host),
        dnsrecords.check_spf(spf, answers[1], domain=domain, mail_host=host),
        dnsrecords.check_dkim(dkim_record, answers[2], public_key=key.public_key if key else None),
        dnsrecords.check_dmarc(dmarc, answers[3], domain=domain),
    ]
    dns_check_recorded(domain=domain, failing=[r.kind for r in records if r.ok is False])
    return records


def dns_check_recorded(*, domain: str, failing: list[str]) -> None:
    """Keep the latest live check of a domain for the home page's DNS line."""
    DnsCheck.objects.update_or_create(domain=domain, defaults={"failing": failing, "checked_at": timezone.now()})


def validate_selector(value: str, *, field: str = "selector") -> str:
    if not isinstance(value, str) or _CONTROL.search(value):  # "mail\n" is not "mail"
        raise FieldError(field, "A selector is one DNS label: no line breaks or other control characters.")
    selector = value.strip().lower()
    if not dkim.SELECTOR.match(selector):
        raise FieldError(
            field, "Use 1 to 63 letters a-z, digits and hyphens, starting with a letter or digit (like mail)."
        )
    return selector


def validate_bits(value: object, *, field: str = "bits") -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | str)
        or str(value).strip() not in map(str, dkim.KEY_SIZES)
    ):
        raise FieldError(field, "Choose a key size of 1024, 2048 or 4096 bits.")
    return int(value)


def dkim_generate(
    *,
    domain: str,
    selector: str = dkim.DEFAULT_SELECTOR,
    bits: int = dkim.DEFAULT_BITS,
    force: bool = False,
    actor: Actor,
    dry_run: bool = False,
    report: JobReport | None = None,
) -> DkimSaved:
    """A new key for the domain, written where the engine DMS uses reads it, in one commit.

    An existing key for the same selector is kept unless `force` (then the published TXT record
    must be replaced too). `report` is the job's when this runs as one (the panel's way).
    """
    domain = normalize_domain(domain)
    selector = validate_selector(selector)
    bits = validate_bits(bits)
    store = get_store()
    engine = dkim_engine()
    if not force:
        _refuse_existing(store, engine, domain, selector, bits)  # before the slow part
    if report:
        report.progress(10, f"Making a {bits}-bit RSA key for {domain}")
    # Making a 4096-bit key takes a second or more: not while holding the config lock.
    pem = dkim.generate_private_key(bits)
    public = dkim.public_key_b64(pem)
    if report:
        report.progress(70, f"Writing the key files for {engine}")
        report.stop_point()  # the last moment a stop leaves every file as it was
    message = f"Generate DKIM key {selector} for {domain} ({bits} bits, {engine})"
    with store.change(actor=actor.name, message=message, dry_run=dry_run) as change:
        if not force:
            _refuse_existing(change, engine, domain, selector, bits)
        if engine == dkim.OPENDKIM:
            _write_opendkim(change, domain, selector, pem, public)
            entry, signing = dkim.opendkim_key_for(domain, change.read(dkim.KEYTABLE), change.read(dkim.SIGNINGTABLE))
            # An older SigningTable line for the domain comes first, and OpenDKIM uses the first match.
            signing = signing and entry is not None and entry.selector == selector
        else:
            _write_rspamd(change, domain, selector, bits, pem, public)
            signing = True
    assert change.result is not None
    key = DkimKey(domain, selector, bits, engine, public, _private_rel(engine, domain, selector, bits), signing)
    if dry_run:
        return DkimSaved(change.result, None, key)
    outcome = change_recorded(change.result, actor=actor, action="dkim.generate", object=f"{selector} {domain}")
    if engine == dkim.RSPAMD:
        note = _hand_key_to_rspamd(dkim.rspamd_files(domain, selector, bits).container_private)
        if note:
            outcome = dataclasses.replace(outcome, message=f"{outcome.message} {note}")
    return DkimSaved(change.result, outcome, key)


def _hand_key_to_rspamd(container_path: str) -> str:
    """Give the private key to Rspamd's user, as DMS's `setup config dkim` makes it ('' when done).

    We write it as our own uid with mode 0600, which Rspamd (running as `_rspamd`) cannot read:
    until DMS re-chowns the folder at its next start, signing would fail with "does not appear to
    have correct permissions". A chown by exec (root in the mail container) makes it usable now.
    """
    later = "Rspamd can read the new key after the mail server's next start"
    try:
        result = get_mailserver().exec(["chown", "_rspamd:_rspamd", container_path], timeout=30)
    except DockerUnavailable as exc:
        return f"{later} (not now: {exc})."
    return "" if result.ok else f"{later} (chown failed: {result.output.strip()})."


def dkim_generate_start(*, domain: str, selector: str, bits: int, force: bool, actor: Actor) -> JobRun:
    """The panel's way: check the input now, make and write the key in a job with progress."""
    domain = normalize_domain(domain)
    selector = validate_selector(selector)
    bits = validate_bits(bits)
    if JobRun.objects.filter(kind="dkim", status__in=JOB_ACTIVE, args__0=domain).exists():
        raise Conflict("selector", f"A DKIM key for {domain} is already being generated; see the job monitor.")
    if not force:
        _refuse_existing(get_store(), dkim_engine(), domain, selector, bits)
    return job_enqueue(
        kind="dkim",
        func="accounts.jobs.dkim_generate_job",
        args=(domain, selector, bits, force, actor.name, actor.ip),
        actor=actor,
    )


def dkim_delete(*, domain: str, selector: str | None = None, actor: Actor, dry_run: bool = False) -> DkimSaved:
    """Remove a key of the domain (the signing one unless `selector` says which) in one commit.

    The engine's config stops naming it (KeyTable and SigningTable lines, or the domain's block in
    dkim_signing.conf) and its files go, unless another domain's entry uses the same file. Another
    key of the domain may then sign (OpenDKIM takes the next SigningTable line). The private key
    is never in the history; the tables and the public parts are. The TXT record in DNS can go
    once the change is applied.
    """
    domain = normalize_domain(domain)
    selector = validate_selector(selector) if selector is not None else None
    store, engine = get_store(), dkim_engine()
    key = _find_key(store, engine, domain, selector)
    if key is None:
        raise Conflict("selector", f"{domain} has no DKIM key{f' with the selector {selector}' if selector else ''}.")
    message = f"Delete DKIM key {key.selector} for {domain} ({engine})"
    with store.change(actor=actor.name, message=message, dry_run=dry_run) as change:
        current = _find_key(change, engine, domain, key.selector)
        if current is None:
            raise Conflict("selector", f"The DKIM key {key.selector} of {domain} was deleted meanwhile.")
        if engine == dkim.OPENDKIM:
            _delete_opendkim(change, current)
        else:
            _delete_rspamd(change, current)
    assert change.result is not None
    if dry_run:
        return DkimSaved(change.result, None, current)
    outcome = change_recorded(change.result, actor=actor, action="dkim.delete", object=f"{current.selector} {domain}")
    return DkimSaved(change.result, outcome, current)


def _reapply_stamp() -> str:
    # Microseconds: two changes within one second must still change the file (or DMS skips it).
    return timezone.now().isoformat(timespec="microseconds")


def _delete_opendkim(writer: Change, key: DkimKey) -> None:
    old_keytable = writer.read(dkim.KEYTABLE)
    keytable = dkim.keytable_without(old_keytable, key.domain, key.selector)
    signingtable = dkim.signingtable_without(writer.read(dkim.SIGNINGTABLE), key.name)
    for rel, text in ((dkim.KEYTABLE, keytable), (dkim.SIGNINGTABLE, signingtable)):
        if writer.read_bytes(rel) is not None and text != writer.read(rel):
            writer.write(rel, text)
    gone = {e.path for e in dkim.parse_keytable(old_keytable)} - {e.path for e in dkim.parse_keytable(keytable)}
    still_used = {dkim.config_rel(e.path) for e in dkim.parse_keytable(keytable)}
    privates = {key.private_path, dkim.opendkim_private_rel(key.domain, key.selector)}
    privates |= {found for path in gone if (found := dkim.config_rel(path))}
    for private in privates - still_used:
        zone = [private.removesuffix(".private") + ".txt"] if private.endswith(".private") else []
        for rel in (private, *zone):
            if writer.read_bytes(rel) is not None:
                writer.delete(rel)


def _delete_rspamd(writer: Change, key: DkimKey) -> None:
    old = writer.read(dkim.DKIM_SIGNING_CONF)
    configured = dkim.dkim_signing_domains(old)
    own = configured.get(key.domain)
    if own is None and key.signing:
        raise Conflict(
            "selector",
            f"Rspamd finds {key.domain}'s key through the top-level path and selector of {dkim.DKIM_SIGNING_CONF}, "
            "which every domain without its own block shares: edit that file by hand.",
        )
    if own is not None and own[1] == key.selector:
        conf = dkim.dkim_signing_remove_domain(old, key.domain)
        writer.write(dkim.DKIM_SIGNING_CONF, conf)
        commands = writer.read_bytes(dkim.CUSTOM_COMMANDS)
        if commands is not None and commands.strip():  # see mark_custom_commands: DMS re-applies them then
            writer.write(dkim.CUSTOM_COMMANDS, dkim.mark_custom_commands(commands.decode(), _reapply_stamp()))
    still_used = {dkim.config_rel(path) for name, (path, _) in configured.items() if name != key.domain}
    privates = {
        key.private_path,
        *(dkim.rspamd_files(key.domain, key.selector, bits).private for bits in dkim.KEY_SIZES),
    }
    for private in privates - still_used:
        base = private.removesuffix(".private.txt")
        public = [f"{base}.public.txt", f"{base}.public.dns.txt"] if private.endswith(".private.txt") else []
        for rel in (private, *public):
            if writer.read_bytes(rel) is not None:
                writer.delete(rel)


def _private_rel(engine: str, domain: str, selector: str, bits: int) -> str:
    if engine == dkim.OPENDKIM:
        return dkim.opendkim_private_rel(domain, selector)
    return dkim.rspamd_files(domain, selector, bits).private


def _refuse_existing(reader: ConfigStore | Change, engine: str, domain: str, selector: str, bits: int) -> None:
    if engine == dkim.OPENDKIM:
        taken = reader.read_bytes(dkim.opendkim_private_rel(domain, selector)) is not None
    else:
        paths = list(dataclasses.astuple(dkim.rspamd_files(domain, selector, bits)))
        configured = dkim.rspamd_key_for(domain, reader.read(dkim.DKIM_SIGNING_CONF))
        configured_rel = dkim.config_rel(configured[0]) if configured and configured[1] == selector else None
        if configured_rel:
            paths.append(configured_rel)  # the same selector with another key size
        taken = any(reader.read_bytes(path) is not None for path in paths)
    if taken:
        raise Conflict(
            "selector",
            f"{domain} has a DKIM key with the selector {selector} already. Replace it only on purpose: "
            "the TXT record in DNS must then be replaced too, or receivers reject the signatures.",
        )


def _write_opendkim(writer: Change, domain: str, selector: str, pem: str, public: str) -> None:
    writer.write(dkim.opendkim_private_rel(domain, selector), pem)
    writer.write(dkim.opendkim_txt_rel(domain, selector), dkim.opendkim_zone(domain, selector, public))
    writer.write(dkim.KEYTABLE, dkim.add_line(writer.read(dkim.KEYTABLE), dkim.keytable_line(domain, selector)))
    writer.write(
        dkim.SIGNINGTABLE, dkim.add_line(writer.read(dkim.SIGNINGTABLE), dkim.signingtable_line(domain, selector))
    )
    if writer.read_bytes(dkim.TRUSTED_HOSTS) is None:
        writer.write(dkim.TRUSTED_HOSTS, dkim.TRUSTED_HOSTS_DEFAULT)


def _write_rspamd(writer: Change, domain: str, selector: str, bits: int, pem: str, public: str) -> None:
    files = dkim.rspamd_files(domain, selector, bits)
    writer.write(files.private, pem)
    zone = dkim.rspamd_zone(selector, public)
    writer.write(files.public, zone)
    writer.write(files.dns, dkim.zone_value(zone) + "\n")  # as DMS derives it from the zone snippet
    old = writer.read_bytes(dkim.DKIM_SIGNING_CONF)
    if old is None:
        conf = dkim.render_dkim_signing_conf(domain, files.container_private, selector)
    else:
        conf = dkim.dkim_signing_set_domain(old.decode(), domain, files.container_private, selector)
    writer.write(dkim.DKIM_SIGNING_CONF, conf)
    commands = writer.read_bytes(dkim.CUSTOM_COMMANDS)
    if conf.encode() != old and commands is not None and commands.strip():
        writer.write(dkim.CUSTOM_COMMANDS, dkim.mark_custom_commands(commands.decode(), _reapply_stamp()))
