"""Pages for mail users (not admins), and the endpoints mail clients use to set themselves up.

All are exempt from the admin login: the self-service pages check the mail user's session
themselves, and autoconfig/autodiscover answer anyone, the same for every valid address.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import selfservice
from accounts.forms_self import MailLoginForm, SelfPasswordForm
from accounts.validation import normalize_address
from dms_admin.audit import client_ip
from dms_admin.errors import Conflict, FieldError, add_service_error
from dms_admin.feedback import change_message
from dms_admin.hostname import mail_hostname

NO_HOSTNAME = "The mail server's name is not known yet; ask your admin to set DMS_MAIL_HOSTNAME."
XML = "application/xml; charset=utf-8"


def mail_user_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Pass the signed-in mail user's address to the view; send anyone else to /me/login/."""

    @login_not_required
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        address = selfservice.session_user(request)
        if address is None:
            return redirect("self:login")
        return view(request, address, *args, **kwargs)

    return wrapper


@login_not_required
@require_http_methods(["GET", "POST"])
def self_login(request: HttpRequest) -> HttpResponse:
    if request.method == "GET" and selfservice.session_user(request):
        return redirect("self:settings")
    form = MailLoginForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        login = selfservice.mail_login(
            address=form.cleaned_data["address"], password=form.cleaned_data["password"], ip=client_ip(request)
        )
        if login.address:
            selfservice.session_start(request, login)
            return redirect("self:settings")
        form.add_error(None, login.error)
    return render(request, "accounts/self_login.html", {"form": form})


@login_not_required
@require_POST
def self_logout(request: HttpRequest) -> HttpResponse:
    selfservice.session_end(request)
    return redirect("self:login")


@mail_user_required
@require_GET
def self_settings(request: HttpRequest, address: str) -> HttpResponse:
    context = {"address": address, "hostname": mail_hostname(), "endpoints": selfservice.ENDPOINTS}
    return render(request, "accounts/self_settings.html", context)


@mail_user_required
@require_http_methods(["GET", "POST"])
def self_password(request: HttpRequest, address: str) -> HttpResponse:
    form = SelfPasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            saved = selfservice.self_password_change(
                address=address,
                old_password=form.cleaned_data["old_password"],
                new_password=form.cleaned_data["password"],
                ip=client_ip(request),
            )
        except (FieldError, Conflict) as error:
            add_service_error(form, error)
        else:
            selfservice.session_refresh(request, address)
            change_message(request, "Password changed; update it in your mail apps too.", saved.outcome)
            return redirect("self:settings")
    return render(request, "accounts/self_password.html", {"form": form, "address": address})


@mail_user_required
@require_GET
def self_apple_profile(request: HttpRequest, address: str) -> HttpResponse:
    hostname = mail_hostname()
    if not hostname:
        messages.error(request, NO_HOSTNAME)
        return redirect("self:settings")
    profile = selfservice.apple_profile(hostname=hostname, address=address)
    response = HttpResponse(profile, content_type="application/x-apple-aspen-config")
    response["Content-Disposition"] = f'attachment; filename="{address}.mobileconfig"'
    return response


@login_not_required
@require_GET
def autoconfig(request: HttpRequest) -> HttpResponse:
    """Thunderbird's autoconfig; the address only names the domain, it is never looked up."""
    raw = request.GET.get("emailaddress", "")
    try:
        domain = normalize_address(raw).rpartition("@")[2] if raw else ""
    except FieldError:
        return HttpResponseBadRequest("Not a valid email address.", content_type="text/plain")
    hostname = mail_hostname()
    if not hostname:
        return HttpResponse(NO_HOSTNAME, status=503, content_type="text/plain")
    xml = selfservice.autoconfig_xml(hostname=hostname, domain=domain or hostname.partition(".")[2] or hostname)
    return HttpResponse(xml, content_type=XML)


@csrf_exempt  # Outlook posts without a token; the answer changes nothing and holds no secret
@login_not_required
@require_POST
def autodiscover(request: HttpRequest) -> HttpResponse:
    body = request.read(selfservice.AUTODISCOVER_MAX_BYTES + 1)
    if len(body) > selfservice.AUTODISCOVER_MAX_BYTES:
        return HttpResponse("The request is too large.", status=413, content_type="text/plain")
    try:
        address = selfservice.autodiscover_address(body)
    except ValueError as error:  # FieldError is one too
        return HttpResponseBadRequest(str(error), content_type="text/plain")
    hostname = mail_hostname()
    if not hostname:
        return HttpResponse(NO_HOSTNAME, status=503, content_type="text/plain")
    return HttpResponse(selfservice.autodiscover_xml(hostname=hostname, address=address), content_type=XML)
