"""Brute-force throttling for password logins, counted per username and per client address.

Failures live in the database so every gunicorn worker sees the same counts. The message on
lockout is the same whether or not the account exists.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from dms_admin.models import LoginFailure

LOCKED_MESSAGE = "Too many failed sign-in attempts. Wait a few minutes and try again."


def _window_start() -> datetime:
    return timezone.now() - timedelta(seconds=settings.LOGIN_FAILURE_WINDOW)


def login_throttled(*, username: str, ip: str | None) -> bool:
    since = _window_start()
    recent = LoginFailure.objects.filter(at__gte=since)
    limit = settings.LOGIN_MAX_FAILURES
    if recent.filter(username=username.lower()).count() >= limit:
        return True
    # An address may try a few accounts; many more failures than one account allows is guessing.
    return bool(ip) and recent.filter(ip=ip).count() >= limit * 4


def login_failed(*, username: str, ip: str | None) -> None:
    LoginFailure.objects.create(username=username.lower()[:254], ip=ip)


def forget_old_failures() -> None:
    LoginFailure.objects.filter(at__lt=_window_start()).delete()


def login_succeeded(*, username: str) -> None:
    LoginFailure.objects.filter(username=username.lower()).delete()
