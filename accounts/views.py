from __future__ import annotations

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from access.roles import check_domain, domain_scoped, require_domain, visible
from accounts import services
from accounts.forms import MailboxCreateForm, MailboxDeleteForm, PasswordForm, QuotaForm
from dms_admin.audit import Actor
from dms_admin.errors import Conflict, FieldError, add_service_error
from dms_admin.feedback import change_message

PAGE_SIZE = 50


def _mailbox_or_404(request: HttpRequest, address: str) -> services.Mailbox:
    require_domain(request, address.rpartition("@")[2])
    mailbox = services.mailbox_get(address=address)
    if mailbox is None:
        raise Http404(f"There is no mailbox {address}.")
    return mailbox


def _saved_message(request: HttpRequest, what: str, saved: services.Saved) -> None:
    change_message(request, what, saved.outcome)


@domain_scoped
@require_GET
def mailbox_list(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("search", "")
    mailboxes = visible(request, services.mailbox_list(search=search), lambda m: m.domain)
    page = Paginator(mailboxes, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = services.mailbox_usage(page.object_list)
    return render(
        request, "accounts/mailbox_list.html", {"page": page, "rows": rows, "search": search, "total": len(mailboxes)}
    )


@domain_scoped
@require_http_methods(["GET", "POST"])
def mailbox_create(request: HttpRequest) -> HttpResponse:
    form = MailboxCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            check_domain(request, data["address"], field="address")
            saved = services.mailbox_create(
                address=data["address"],
                password=data["password"],
                quota=data["quota"] or None,
                actor=Actor.from_request(request),
            )
        except (FieldError, Conflict) as error:
            add_service_error(form, error)
        else:
            _saved_message(request, "Mailbox created.", saved)
            return redirect("accounts:mailbox-list")
    return render(request, "accounts/mailbox_create.html", {"form": form})


@domain_scoped
@require_http_methods(["GET", "POST"])
def mailbox_password(request: HttpRequest, address: str) -> HttpResponse:
    mailbox = _mailbox_or_404(request, address)
    form = PasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.mailbox_set_password(
                address=mailbox.address, password=form.cleaned_data["password"], actor=Actor.from_request(request)
            )
        except (FieldError, Conflict) as error:
            add_service_error(form, error)
        else:
            _saved_message(request, "Password changed.", saved)
            return redirect("accounts:mailbox-list")
    return render(request, "accounts/mailbox_password.html", {"form": form, "mailbox": mailbox})


@domain_scoped
@require_http_methods(["GET", "POST"])
def mailbox_quota(request: HttpRequest, address: str) -> HttpResponse:
    mailbox = _mailbox_or_404(request, address)
    form = QuotaForm(request.POST or None, initial={"quota": mailbox.quota or ""})
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.quota_set(
                address=mailbox.address, quota=form.cleaned_data["quota"] or None, actor=Actor.from_request(request)
            )
        except (FieldError, Conflict) as error:
            add_service_error(form, error)
        else:
            _saved_message(request, "Quota saved.", saved)
            return redirect("accounts:mailbox-list")
    return render(request, "accounts/mailbox_quota.html", {"form": form, "mailbox": mailbox})


@domain_scoped
@require_http_methods(["GET", "POST"])
def mailbox_delete(request: HttpRequest, address: str) -> HttpResponse:
    mailbox = _mailbox_or_404(request, address)
    actor = Actor.from_request(request)
    form = MailboxDeleteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        saved = services.mailbox_delete(address=mailbox.address, actor=actor)
        _saved_message(request, "Mailbox deleted.", saved)
        if form.cleaned_data["purge"]:
            run = services.mailbox_purge_start(address=mailbox.address, actor=actor)
            return redirect("job-detail", run_id=run.id)
        return redirect("accounts:mailbox-list")
    preview = services.mailbox_delete(address=mailbox.address, actor=actor, dry_run=True)
    return render(
        request, "accounts/mailbox_delete.html", {"form": form, "mailbox": mailbox, "preview": preview.result}
    )
