"""Two-factor sign-in: the second login step, enrolment, recovery codes, turning it off.

Between the password and the code the session holds only who passed the password and when;
`login()` runs after the second step, so a half-signed-in session reaches no page and no API.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from access import two_factor as tf
from access.forms import SecondFactorForm, TotpConfirmForm
from access.roles import domain_scoped, enrolment_page
from dms_admin.audit import Actor, audit_record, client_ip
from dms_admin.errors import FieldError, add_service_error

PENDING_KEY = "2fa_pending"
PENDING_SECONDS = 300


def safe_next(request: HttpRequest, next_url: str) -> str:
    safe = url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure())
    return next_url if safe and next_url else reverse(settings.LOGIN_REDIRECT_URL)


def pending_login_start(request: HttpRequest, user: User, next_url: str) -> None:
    # A fresh session key: a session id planted before the password cannot carry the half login.
    request.session.cycle_key()
    request.session[PENDING_KEY] = {"user": user.pk, "at": int(time.time()), "next": next_url, "backend": user.backend}


def _pending(request: HttpRequest) -> tuple[User, dict[str, Any]] | None:
    state = request.session.get(PENDING_KEY)
    if not isinstance(state, dict):
        return None
    if time.time() - state.get("at", 0) > PENDING_SECONDS:
        del request.session[PENDING_KEY]
        messages.info(request, "That sign-in took too long. Sign in again.")
        return None
    user = get_user_model().objects.filter(pk=state.get("user", 0), is_active=True).first()
    return (user, state) if user is not None else None


def _login_finish(request: HttpRequest, user: User, state: dict[str, Any], how: str) -> None:
    del request.session[PENDING_KEY]
    login(request, user, backend=state["backend"])
    audit_record(actor=Actor.from_request(request), action="login", detail=f"second factor: {how}")


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # every view here but the login step needs a login
    return request.user


def _enrol_page(request: HttpRequest, user: User, form: TotpConfirmForm, action: str) -> HttpResponse:
    pending = tf.two_factor_pending(user=user)
    uri = tf.otpauth_uri(two_factor=pending, username=user.get_username())
    secret = " ".join(pending.secret[i : i + 4] for i in range(0, len(pending.secret), 4))
    context = {"form": form, "qr": tf.qr_svg(data=uri), "secret": secret, "action": action}
    return render(request, "dms_admin/two_factor_enrol.html", context)


def _enrol_at_login(request: HttpRequest, user: Any, state: dict[str, Any], actor: Actor) -> HttpResponse:
    """REQUIRE_2FA and no authenticator yet: enrol one, then sign in and show the recovery codes."""
    enrol = TotpConfirmForm(request.POST or None)
    if request.method == "POST" and enrol.is_valid():
        try:
            codes = tf.two_factor_enable(user=user, code=enrol.cleaned_data["code"], actor=actor)
        except FieldError as error:
            add_service_error(enrol, error)
        else:
            _login_finish(request, user, state, "enrolled")
            context = {"codes": codes, "continue_url": safe_next(request, state.get("next", ""))}
            return render(request, "dms_admin/two_factor_codes.html", context)
    return _enrol_page(request, user, enrol, reverse("login-2fa"))


@login_not_required
@never_cache
@sensitive_post_parameters("code")  # codes never reach an error report
@require_http_methods(["GET", "POST"])
def login_second_step(request: HttpRequest) -> HttpResponse:
    pending = _pending(request)
    if pending is None:
        return redirect("login")
    user, state = pending
    actor = Actor(name=user.get_username(), ip=client_ip(request))
    if not tf.two_factor_enabled(user=user):  # REQUIRE_2FA and not set up yet: enrol before anything else
        return _enrol_at_login(request, user, state, actor)
    form = SecondFactorForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            method = tf.second_factor_verify(user=user, code=form.cleaned_data["code"], actor=actor)
        except FieldError as error:
            add_service_error(form, error)
        else:
            _login_finish(request, user, state, "recovery code" if method == "recovery" else "TOTP code")
            if method == "recovery":
                left = tf.recovery_codes_left(user=user)
                messages.warning(
                    request, f"You used a recovery code; {left} left. Make new ones under 2FA.", extra_tags="warn"
                )
            return redirect(safe_next(request, state.get("next", "")))
    return render(request, "dms_admin/login_2fa.html", {"form": form})


@domain_scoped
@enrolment_page
@never_cache
@sensitive_post_parameters("code")  # codes never reach an error report
@require_http_methods(["GET", "POST"])
def two_factor_view(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if tf.two_factor_enabled(user=user):
        context = {"left": tf.recovery_codes_left(user=user), "required": settings.REQUIRE_2FA}
        return render(request, "dms_admin/two_factor_status.html", context)
    form = TotpConfirmForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            codes = tf.two_factor_enable(user=user, code=form.cleaned_data["code"], actor=Actor.from_request(request))
        except FieldError as error:
            add_service_error(form, error)
        else:
            return render(request, "dms_admin/two_factor_codes.html", {"codes": codes})
    return _enrol_page(request, user, form, reverse("two-factor"))


def _confirmed_with_code(
    request: HttpRequest, act: Callable[..., Any], done: Callable[[Any], HttpResponse], context: dict[str, Any]
) -> HttpResponse:
    """GET asks for a current code (TOTP or recovery); POST runs `act` with it, then `done`."""
    user = _user(request)
    if not tf.two_factor_enabled(user=user):
        return redirect("two-factor")
    form = SecondFactorForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            outcome = act(user=user, code=form.cleaned_data["code"], actor=Actor.from_request(request))
        except FieldError as error:
            add_service_error(form, error)
        else:
            return done(outcome)
    return render(request, "dms_admin/two_factor_confirm.html", {"form": form, **context})


@domain_scoped
@enrolment_page
@never_cache
@sensitive_post_parameters("code")  # codes never reach an error report
@require_http_methods(["GET", "POST"])
def two_factor_disable_view(request: HttpRequest) -> HttpResponse:
    def done(_: Any) -> HttpResponse:
        messages.success(request, "Two-factor sign-in is off; the authenticator and recovery codes are forgotten.")
        return redirect("two-factor")

    context = {"title": "Turn off two-factor sign-in", "button": "Turn off", "danger": True}
    return _confirmed_with_code(request, tf.two_factor_disable, done, context)


@domain_scoped
@enrolment_page
@never_cache
@sensitive_post_parameters("code")  # codes never reach an error report
@require_http_methods(["GET", "POST"])
def recovery_codes_view(request: HttpRequest) -> HttpResponse:
    def done(codes: Any) -> HttpResponse:
        return render(request, "dms_admin/two_factor_codes.html", {"codes": codes})

    context = {"title": "New recovery codes", "button": "Make new codes", "danger": False}
    return _confirmed_with_code(request, tf.recovery_codes_renew, done, context)
