from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods

from access.roles import domain_scoped, require_domain, visible
from accounts import dkim, domains, services
from accounts.forms_domains import DkimGenerateForm
from dms_admin.audit import Actor
from dms_admin.errors import Conflict, FieldError, add_service_error


def _domain_or_404(request: HttpRequest, domain: str) -> domains.Domain:
    require_domain(request, domain)
    found = domains.domain_get(domain)
    if found is None:
        raise Http404(f"There is no domain {domain} (no mailbox or alias uses it).")
    return found


def _suggested(key: domains.DkimKey | None) -> dict[str, str | int]:
    """Selector and size for the form: the current key's, or DMS's defaults."""
    return {"selector": key.selector if key else dkim.DEFAULT_SELECTOR, "bits": key.bits if key else dkim.DEFAULT_BITS}


@domain_scoped
@require_GET
def domain_list(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("search", "")
    context = {"domains": visible(request, domains.domain_list(search=search), lambda d: d.name), "search": search}
    return render(request, "accounts/domain_list.html", context)


@domain_scoped
@require_GET
def domain_detail(request: HttpRequest, domain: str) -> HttpResponse:
    found = _domain_or_404(request, domain)
    checked = request.GET.get("check") == "1"
    records = domains.domain_dns_check(found.name) if checked else domains.domain_dns_records(found.name)
    context = {"domain": found, "records": records, "checked": checked}
    if request.headers.get("HX-Request"):
        return render(request, "accounts/_domain_records.html", context)
    key = domains.dkim_get(found.name)
    others = [k for k in domains.dkim_keys(found.name) if k != key]
    form = DkimGenerateForm(initial=_suggested(key))
    context.update(key=key, other_keys=others, form=form, engine=domains.dkim_engine())
    context["size_chart"] = mark_safe(services.domain_size_chart(domain=found.name))  # noqa: S308 (escaped in plot.py)
    return render(request, "accounts/domain_detail.html", context)


@domain_scoped
@require_http_methods(["GET", "POST"])
def dkim_generate(request: HttpRequest, domain: str) -> HttpResponse:
    found = _domain_or_404(request, domain)
    key = domains.dkim_get(found.name)
    actor = Actor.from_request(request)
    form = DkimGenerateForm(request.POST or None, initial=_suggested(key))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            run = domains.dkim_generate_start(
                domain=found.name, selector=data["selector"], bits=data["bits"], force=data["force"], actor=actor
            )
        except (FieldError, Conflict) as error:
            add_service_error(form, error)
        else:
            return redirect("job-detail", run_id=run.id)
    # What generating with the suggested values writes (replacing the current key if there is one).
    selector, bits = _suggested(key).values()
    preview = domains.dkim_generate(
        domain=found.name, selector=str(selector), bits=int(bits), force=bool(key), actor=actor, dry_run=True
    )
    context = {"domain": found, "form": form, "key": key, "preview": preview.result, "suggested": preview.key}
    return render(request, "accounts/dkim_generate.html", context)


@domain_scoped
@require_http_methods(["GET", "POST"])
def dkim_delete(request: HttpRequest, domain: str, selector: str) -> HttpResponse:
    """GET: what goes (the files, and the TXT record to take out of DNS); POST: delete the key."""
    found = _domain_or_404(request, domain)
    try:
        key = domains.dkim_get(found.name, selector)
    except FieldError as error:
        return HttpResponseBadRequest(f"Not a DKIM selector: {error.message}")
    if key is None:
        raise Http404(f"{found.name} has no DKIM key with the selector {selector}.")
    actor = Actor.from_request(request)
    back = redirect(reverse("domains:domain-detail", args=[found.name]) + "#dkim")
    if request.method == "POST":
        try:
            saved = domains.dkim_delete(domain=found.name, selector=key.selector, actor=actor)
        except Conflict as error:
            messages.error(request, error.message)
            return back
        assert saved.outcome is not None
        messages.success(
            request,
            f"Deleted the DKIM key {key.selector} of {found.name}. {saved.outcome.message.removeprefix('Saved. ')} "
            f"Then remove the TXT record {key.name} from the domain's DNS.",
        )
        return back
    preview = domains.dkim_delete(domain=found.name, selector=key.selector, actor=actor, dry_run=True)
    others = [other for other in domains.dkim_keys(found.name) if other.selector != key.selector]
    context = {"domain": found, "key": key, "others": others, "preview": preview.result}
    return render(request, "accounts/dkim_delete.html", context)
