"""The rules page of a mailbox: for admins under /mailboxes/, for the mail user at /me/rules/."""

from __future__ import annotations

import dataclasses
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from access.roles import domain_scoped, require_domain
from accounts.services import Saved, mailbox_get
from accounts.views_self import mail_user_required
from dms_admin.audit import Actor, AuditEntry, client_ip
from dms_admin.dms import DockerUnavailable
from dms_admin.errors import Conflict, FieldError, add_service_error
from dms_admin.feedback import change_message, failure
from mailrules import services
from mailrules.forms import FilterFormSet, ForwardingForm, PolicyForm, ScriptForm, VacationForm, filters_of

ADMIN_PARTS = ("script", "policy")  # the raw editor and the domain's forwarding policy are the admins'


@domain_scoped
@require_http_methods(["GET", "POST"])
def rules_edit(request: HttpRequest, address: str) -> HttpResponse:
    require_domain(request, address.rpartition("@")[2])
    mailbox = mailbox_get(address=address)
    if mailbox is None:
        raise Http404(f"There is no mailbox {address}.")
    return _rules_page(request, mailbox.address, Actor.from_request(request), expert=True)


@mail_user_required
@require_http_methods(["GET", "POST"])
def self_rules(request: HttpRequest, address: str) -> HttpResponse:
    actor = Actor(name=address, via=AuditEntry.Via.PANEL, ip=client_ip(request))
    return _rules_page(request, address, actor, expert=False)


def _rules_page(request: HttpRequest, address: str, actor: Actor, *, expert: bool) -> HttpResponse:
    state = services.rules_get(address=address)
    part = request.POST.get("part", "") if request.method == "POST" else ""
    forms_ = _forms(state, request.POST if part else None, part)
    allowed = part in forms_ and (part not in ADMIN_PARTS or expert)
    if allowed and forms_[part].is_valid() and _save(request, part, forms_[part], address, actor, limited=not expert):
        return redirect(request.path)
    context = {"state": state, "expert": expert, **forms_, "self_service": not expert, "address": address}
    return render(request, "mailrules/rules.html", context)


def _forms(state: services.MailboxRules, data: Any, part: str) -> dict[str, Any]:
    """The three forms, the one submitted bound to its data and the others showing what is saved."""
    rules = state.rules
    return {
        "vacation": VacationForm(data if part == "vacation" else None, initial=VacationForm.initial_of(rules.vacation)),
        "forwarding": ForwardingForm(
            data if part == "forwarding" else None,
            address=state.address,
            initial={"targets": "\n".join(rules.forward_to), "keep_copy": rules.keep_copy},
        ),
        "filters": FilterFormSet(
            data if part == "filters" else None,
            prefix="filters",
            initial=[dataclasses.asdict(f) for f in rules.filters],
        ),
        "script": ScriptForm(data if part == "script" else None, initial={"text": state.script}),
        "policy": PolicyForm(
            data if part == "policy" else None,
            initial={"policy": services.forwarding_policy(state.address.rpartition("@")[2])},
        ),
    }


def _save(request: HttpRequest, part: str, form: Any, address: str, actor: Actor, *, limited: bool) -> bool:
    if part == "policy":
        domain = address.rpartition("@")[2]
        services.forwarding_policy_set(domain=domain, policy=form.cleaned_data["policy"], actor=actor)
        messages.success(request, _("Forwarding policy of %(domain)s saved.") % {"domain": domain})
        return True
    try:
        saved = _saved_part(part, form, address, actor, limited)
    except services.ScriptInvalid as refused:
        for problem in refused.problems:
            form.add_error("text" if part == "script" else None, str(problem))
        return False
    except (FieldError, Conflict) as error:
        if part == "filters":  # a formset: the message goes above it
            messages.error(request, error.message)
        else:
            add_service_error(form, error)
        return False
    except DockerUnavailable as error:  # sievec runs in the mail container: nothing was written
        if limited:  # a mail user can fix neither DOCKER_HOST nor the socket proxy
            messages.error(
                request, _("Not saved: the mail server cannot check it right now. Try again later, or tell your admin.")
            )
        else:
            failure(request, _("Not saved: the script could not be checked."), error)
        return False
    change_message(request, _SAVED[part], saved.outcome)
    return True


def _saved_part(part: str, form: Any, address: str, actor: Actor, limited: bool) -> Saved:
    data = form.cleaned_data
    if part == "vacation":
        return services.vacation_save(address=address, vacation=form.vacation(), actor=actor)
    if part == "filters":
        return services.filters_save(address=address, filters=filters_of(form), actor=actor, limited=limited)
    if part == "forwarding":
        targets, keep = data["targets"], data["keep_copy"]
        return services.forwarding_save(address=address, targets=targets, keep_copy=keep, actor=actor, limited=limited)
    return services.script_save(address=address, script=data["text"], actor=actor)


_SAVED = {
    "vacation": "Vacation reply saved.",
    "forwarding": "Forwarding saved.",
    "filters": "Filters saved.",
    "script": "Sieve script saved.",
}
