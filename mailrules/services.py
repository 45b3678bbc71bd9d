"""A mailbox's vacation reply, forwarding and raw Sieve script, written the DMS way (spec §1.12).

One script per mailbox. It lives twice, and both copies are written together under the config
store's lock:
- `<address>.dovecot.sieve` in the config folder, versioned like every config file; DMS copies
  it into the mailbox's home whenever it regenerates accounts (start, account changes), so a
  re-create keeps it;
- `~/.dovecot.sieve` in the mailbox's home (mail volume), the script Dovecot runs: written at
  once, so a change is live from the next message without a re-create.
Every script is compiled by the mail container's own `sievec` before either copy is written.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass

from django.utils.translation import gettext as _

from accounts.domains import domain_list
from accounts.services import Saved, alias_list, mailbox_get
from accounts.validation import normalize_address
from dms_admin.audit import Actor, audit_record
from dms_admin.changes import change_live, change_recorded
from dms_admin.configstore import ChangeResult, get_store
from dms_admin.dms import DockerUnavailable, MailServer, get_mailserver
from dms_admin.errors import Conflict, FieldError
from dms_admin.mailnames import domain_key, normalize_domain, reject_control
from mailrules import home, sieve
from mailrules.models import ForwardingPolicy
from mailrules.sieve import Filter, MailRules, RulesError, Vacation

SUFFIX = ".dovecot.sieve"
MAX_SCRIPT = 64 * 1024
MAX_FORWARDS = 20
SIEVEC_TIMEOUT = 30
_SIEVEC_LINE = re.compile(r"^(?:\S+: )?line (\d+): (?:error: )?(.*)$")


@dataclass(frozen=True)
class SieveProblem:
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


class ScriptInvalid(FieldError):
    """sievec refused the script; `problems` are its errors with line numbers."""

    def __init__(self, problems: list[SieveProblem]) -> None:
        super().__init__("script", _("The Sieve script does not compile: %(first)s") % {"first": problems[0]})
        self.problems = problems


@dataclass(frozen=True)
class MailboxRules:
    address: str
    rules: MailRules
    script: str  # the whole script Dovecot runs ("" when none)
    hand_written: str  # the part outside our region: a person's or a mail client's, kept as it is
    linked: bool  # the active script is a ManageSieve link (a mail client manages scripts too)
    answers_for: tuple[str, ...]  # the aliases delivering to this mailbox (what a vacation answers)


def config_name(address: str) -> str:
    return f"{address}{SUFFIX}"


def _mailbox(address: str) -> str:
    address = normalize_address(address)
    if mailbox_get(address=address) is None:
        raise FieldError("address", _("There is no mailbox %(address)s.") % {"address": address})
    return address


def _current(address: str) -> tuple[home.HomeScript, str]:
    """The active script: the home copy Dovecot runs, or else the config copy DMS will put there."""
    active = home.read(address)
    if active.text is not None:
        return active, active.text
    return active, get_store().read(config_name(address)) if get_store().exists(config_name(address)) else ""


def rules_get(*, address: str) -> MailboxRules:
    address = _mailbox(address)
    active, script = _current(address)
    try:
        rules = sieve.parse_rules(script)
    except RulesError:  # our region was edited by hand beyond reading: shown as the raw script
        rules = MailRules()
    aliases = tuple(a.address for a in alias_list() if address in a.targets and not a.is_catch_all)
    return MailboxRules(address, rules, script, sieve.hand_written(script), active.linked, aliases)


# ---- checking -----------------------------------------------------------------------------------


def script_check(*, script: str, mailserver: MailServer | None = None) -> list[SieveProblem]:
    """sievec's errors for `script` (empty: it compiles), compiled in the mail container."""
    refused = _refusals(script)
    if refused:
        return refused
    mailserver = mailserver or get_mailserver()
    with mailserver.scratch_folder() as folder:
        mailserver.put_file(f"{folder}/script.sieve", script.encode("utf-8"))
        result = mailserver.exec(["sievec", f"{folder}/script.sieve", f"{folder}/script.svbin"], timeout=SIEVEC_TIMEOUT)
    if result.exit_code == 127:
        raise DockerUnavailable(_("The mail container has no sievec (Dovecot Pigeonhole): is it docker-mailserver?"))
    if result.timed_out:
        raise DockerUnavailable(_("sievec did not finish within %(s)d s.") % {"s": SIEVEC_TIMEOUT})
    if result.ok:
        return []
    return _parse_sievec(result.output) or [SieveProblem(None, result.output.strip()[-500:] or "sievec failed")]


def _refusals(script: str) -> list[SieveProblem]:
    if "\x00" in script:
        return [SieveProblem(None, _("NUL characters are not allowed in a script."))]
    if len(script.encode("utf-8")) > MAX_SCRIPT:
        return [SieveProblem(None, _("A script may be at most %(n)d KiB.") % {"n": MAX_SCRIPT // 1024})]
    return []


def _parse_sievec(output: str) -> list[SieveProblem]:
    problems = []
    for raw in output.splitlines():
        match = _SIEVEC_LINE.match(raw.strip())
        if match and not match[2].startswith("warning:"):
            problems.append(SieveProblem(int(match[1]), match[2].rstrip(".") + "."))
    return problems


# ---- writing -----------------------------------------------------------------------------------


def vacation_save(*, address: str, vacation: Vacation, actor: Actor, dry_run: bool = False) -> Saved:
    """Set (or with Vacation() clear) the out-of-office reply; forwarding and hand-written rules stay."""
    clean = _clean_vacation(vacation)
    if not clean.empty and not clean.addresses:
        # Dovecot answers only mail whose To/Cc holds one of the mailbox's addresses: mail that
        # came through an alias would go unanswered unless the alias is named here.
        clean = dataclasses.replace(clean, addresses=rules_get(address=address).answers_for)
    return _save_rules(address, lambda r: dataclasses.replace(r, vacation=clean), "vacation", actor, dry_run)


def forwarding_save(
    *, address: str, targets: list[str], keep_copy: bool, actor: Actor, dry_run: bool = False, limited: bool = False
) -> Saved:
    """Set (or with no targets clear) the forwarding; the vacation and hand-written rules stay.

    `limited`: the mail user's own change, held to their domain's forwarding policy."""
    address = normalize_address(address)
    clean = clean_forward_targets(address, targets)
    if limited:
        _within_policy(address, clean)
    keep = keep_copy or not clean

    def forwarding(rules: MailRules) -> MailRules:
        return dataclasses.replace(rules, forward_to=clean, keep_copy=keep)

    return _save_rules(address, forwarding, "targets", actor, dry_run)


def filters_save(
    *, address: str, filters: list[Filter], actor: Actor, dry_run: bool = False, limited: bool = False
) -> Saved:
    """Replace the filters (none: no filters); the vacation, forwarding and hand-written rules stay."""
    clean = tuple(filters)
    for number, one in enumerate(clean, 1):
        try:
            sieve.validate_filter(one, number)
        except RulesError as error:
            raise FieldError("filters", str(error)) from None
    if limited:
        _within_policy(normalize_address(address), tuple(f.argument for f in clean if f.action == "redirect"))
    return _save_rules(address, lambda rules: dataclasses.replace(rules, filters=clean), "filters", actor, dry_run)


def script_save(*, address: str, script: str, actor: Actor, dry_run: bool = False) -> Saved:
    """The raw editor: the expert's whole script, our region included (read back, or kept as typed)."""
    text = script.replace("\r\n", "\n")
    address = _mailbox(address)
    current, before = _current(address)
    try:
        sieve.split_region(text)
    except RulesError as error:
        raise FieldError("script", str(error)) from None
    return _write(address, current, before, text if text.strip() else None, actor, dry_run)


def _save_rules(
    address: str, change: Callable[[MailRules], MailRules], field: str, actor: Actor, dry_run: bool
) -> Saved:
    address = _mailbox(address)
    current, before = _current(address)
    try:
        rules = change(sieve.parse_rules(before))
        text = sieve.without_region(before) if rules.empty else sieve.merge_into(before, rules)
    except RulesError as error:
        raise FieldError(field, str(error)) from None
    return _write(address, current, before, text if text.strip() else None, actor, dry_run)


def _write(address: str, current: home.HomeScript, before: str, text: str | None, actor: Actor, dry_run: bool) -> Saved:
    if text is not None:
        problems = script_check(script=text)
        if problems:
            raise ScriptInvalid(problems)
    store, name = get_store(), config_name(address)
    live_error: home.HomeNotWritable | None = None
    with store.locked():  # both copies, and nobody writes the script between our read and write
        if _current(address)[1] != before:
            raise Conflict("script", _("The script was changed meanwhile (by a mail client?); reload and try again."))
        with store.change(actor=actor.name, message=f"Mail rules of {address}", dry_run=dry_run) as change:
            # A mail app's ManageSieve script: no copy in the config folder, or DMS's next account
            # regeneration would copy our (older) version over what the app saved since.
            if text is not None and not current.linked:
                change.write(name, text)
            elif store.exists(name):  # removed, or a copy from before the app took over
                change.delete(name)
        result = change.result
        assert result is not None
        if not dry_run and current.text != text:
            try:
                home.write(current, text)
            except home.HomeNotWritable as error:
                live_error = error
    return _outcome(result, address, actor, dry_run, live_error, removed=text is None, linked=current.linked)


def _outcome(
    result: ChangeResult,
    address: str,
    actor: Actor,
    dry_run: bool,
    live_error: home.HomeNotWritable | None,
    *,
    removed: bool,
    linked: bool,
) -> Saved:
    if dry_run:
        return Saved(result, None)
    if live_error is None:
        live = _("no rules run for this mailbox any more.") if removed else _("Dovecot runs it from the next message.")
        if linked:
            live = _(
                "written into the mail app's active script (ManageSieve); Dovecot runs it from the next "
                "message. No copy is kept in the config folder, so DMS never overwrites the app's script."
            )
        outcome = change_live(
            result,
            actor=actor,
            action="mailrules.save",
            object=address,
            live=live,
            files=() if linked else (config_name(address),),
        )
        return Saved(result, outcome)
    # The home could not be written: DMS copies the config copy there at its next re-create.
    outcome = change_recorded(result, actor=actor, action="mailrules.save", object=address)
    return Saved(result, dataclasses.replace(outcome, message=f"{outcome.message} ({live_error})"))


# ---- what mail users may forward -----------------------------------------------------------------


def forwarding_policy(domain: str) -> str:
    row = ForwardingPolicy.objects.filter(domain=domain_key(domain)).first()
    return row.policy if row else ForwardingPolicy.Policy.ANY


def forwarding_policy_set(*, domain: str, policy: str, actor: Actor) -> str:
    domain = normalize_domain(domain)
    if policy not in ForwardingPolicy.Policy.values:
        raise FieldError("policy", _("Choose any, internal or off."))
    ForwardingPolicy.objects.update_or_create(domain=domain, defaults={"policy": policy})
    audit_record(actor=actor, action="mailrules.forwarding-policy", object=domain, detail=policy)
    return policy


def _within_policy(address: str, targets: tuple[str, ...]) -> None:
    """A mail user's own forward (or forwarding filter) within what the admin allows their domain."""
    if not targets:
        return
    policy = forwarding_policy(address.rpartition("@")[2])
    if policy == ForwardingPolicy.Policy.OFF:
        raise FieldError("targets", _("Your admin does not allow forwarding for this domain."))
    if policy == ForwardingPolicy.Policy.INTERNAL:
        ours = {d.name for d in domain_list()}
        outside = [t for t in targets if t.rpartition("@")[2].lower() not in ours]
        if outside:
            why = _("Your admin allows forwarding only to this server's domains, not to %(target)s.")
            raise FieldError("targets", why % {"target": outside[0]})


# ---- input ---------------------------------------------------------------------------------------


def clean_forward_targets(address: str, targets: list[str]) -> tuple[str, ...]:
    """Forwarding targets as Sieve `redirect` takes them: domain in punycode, each once, not itself."""
    if len(targets) > MAX_FORWARDS:
        raise FieldError("targets", _("At most %(n)d forwarding addresses.") % {"n": MAX_FORWARDS})
    clean: list[str] = []
    for target in targets:
        reject_control("targets", target)
        local, at, domain = target.strip().rpartition("@")
        if not at or not local:
            raise FieldError("targets", _("Enter a full address, like name@example.com."))
        full = f"{local}@{normalize_domain(domain, field='targets')}"
        try:
            sieve.validate_address(full)
        except RulesError:
            why = _("%(target)r is not an address mail can be forwarded to.") % {"target": target}
            raise FieldError("targets", why) from None
        if full.lower() == address:
            raise FieldError("targets", _("A mailbox cannot forward to itself."))
        if full.lower() not in (c.lower() for c in clean):
            clean.append(full)
    return tuple(clean)


def _clean_vacation(vacation: Vacation) -> Vacation:
    addresses = []
    for extra in vacation.addresses:
        try:
            addresses.append(normalize_address(extra, field="addresses"))
        except FieldError:
            raise FieldError("addresses", _("%(a)r is not an address of this server.") % {"a": extra}) from None
    text = vacation.text.replace("\r\n", "\n")
    return dataclasses.replace(vacation, addresses=tuple(dict.fromkeys(addresses)), text=text)
