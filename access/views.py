"""Signing in and out of the panel (the second step and the first run are in views_2fa and views_setup)."""

from __future__ import annotations

from django.contrib.auth import authenticate, login, logout
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from access.forms import LoginForm
from access.roles import any_signed_in_user
from access.sessions import sessions_end
from access.throttle import login_failed, login_lock, login_succeeded
from access.two_factor import second_step_needed
from access.views_2fa import pending_login_start, safe_next
from access.views_setup import admin_exists
from dms_admin.audit import Actor, audit_record, client_ip


@login_not_required
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    if request.method == "GET" and not admin_exists():
        return redirect("first-run")
    form = LoginForm(request.POST or None)
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if request.method == "POST" and form.is_valid():
        username, ip = form.cleaned_data["username"], client_ip(request)
        if lock := login_lock(username=username, ip=ip):
            form.add_error(None, lock.message)
        else:
            user = authenticate(request, username=username, password=form.cleaned_data["password"])
            if user is None:
                login_failed(username=username, ip=ip)
                form.add_error(None, "Wrong username or password.")
            else:
                login_succeeded(username=username, ip=ip)
                if second_step_needed(user=user):
                    pending_login_start(request, user, next_url)
                    return redirect("login-2fa")
                login(request, user)
                audit_record(actor=Actor.from_request(request), action="login")
                return redirect(safe_next(request, next_url))
    return render(request, "dms_admin/login.html", {"form": form, "next": next_url})


@any_signed_in_user
@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    if request.POST.get("everywhere") == "1":
        ended = sessions_end(user_id=request.user.pk)
        audit_record(actor=Actor.from_request(request), action="logout.everywhere", detail=f"{ended} session(s) ended")
    logout(request)
    return redirect("login")
