"""Brute-force throttling of sign-ins (admin password, 2FA code, mail user's /me/ password).

Failures are counted per (username, client address), so someone guessing from elsewhere never
refuses an account's owner: after LOGIN_MAX_FAILURES failures of one pair within
LOGIN_FAILURE_WINDOW, that pair waits 2, 4, 8 … seconds after each further failure, at most
LOGIN_LOCK_MAX. One address guessing many usernames is held the same way once it has failed
LOGIN_ADDRESS_MAX_FAILURES times across all of them. A success forgets its own pair's failures.

Failures live in the database so every gunicorn worker sees the same counts. The refusal reads
the same whether or not the account exists, and every lock is audited.
"""

from __future__ import annotations

import dataclasses
import math
import re
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Max, QuerySet
from django.utils import timezone

from access.models import LoginFailure
from dms_admin.audit import Actor, audit_record

# What every refusal starts with (tests and the login page look for it).
LOCKED_PREFIX = "Too many failed sign-ins from your address"


@dataclasses.dataclass(frozen=True)
class Lock:
    seconds: int
    whole_address: bool = False  # the address failed too often across usernames

    @property
    def message(self) -> str:
        wait = f"try again in {self.seconds} second{'' if self.seconds == 1 else 's'}."
        return f"{LOCKED_PREFIX}; {wait}" if self.whole_address else f"{LOCKED_PREFIX} for this account; {wait}"


def _key(username: str) -> str:
    return username.lower()[:254]


def _window_start(now: datetime) -> datetime:
    return now - timedelta(seconds=settings.LOGIN_FAILURE_WINDOW)


def _from(failures: QuerySet[LoginFailure], ip: str | None) -> QuerySet[LoginFailure]:
    return failures.filter(ip=ip) if ip else failures.filter(ip__isnull=True)


def _failures(*, username: str | None, ip: str | None, now: datetime) -> QuerySet[LoginFailure]:
    """The failures within the window from `ip`: of `username`, or (None) of every username."""
    recent = LoginFailure.objects.filter(at__gte=_window_start(now))
    return _from(recent.filter(username=_key(username)) if username is not None else recent, ip)


def lock_seconds(*, failures: int, allowed: int) -> int:
    """How long the latest of `failures` holds: nothing before `allowed`, then 2^k s, capped."""
    if failures < allowed:
        return 0
    return int(min(2 ** min(failures - allowed + 1, 30), settings.LOGIN_LOCK_MAX))


def _lock(failures: QuerySet[LoginFailure], *, allowed: int, now: datetime, whole_address: bool) -> Lock | None:
    seen = failures.aggregate(count=Count("id"), last=Max("at"))
    hold = lock_seconds(failures=seen["count"], allowed=allowed)
    if not hold:
        return None
    left = (seen["last"] + timedelta(seconds=hold) - now).total_seconds()
    return Lock(seconds=math.ceil(left), whole_address=whole_address) if left > 0 else None


def login_lock(*, username: str, ip: str | None) -> Lock | None:
    """The refusal in force for this username from this address, if any (the longer of the two)."""
    now = timezone.now()
    pair = _failures(username=username, ip=ip, now=now)
    locks = [_lock(pair, allowed=settings.LOGIN_MAX_FAILURES, now=now, whole_address=False)]
    if ip:
        address = _failures(username=None, ip=ip, now=now)
        locks.append(_lock(address, allowed=settings.LOGIN_ADDRESS_MAX_FAILURES, now=now, whole_address=True))
    return max((lock for lock in locks if lock), key=lambda lock: lock.seconds, default=None)


def login_failed(*, username: str, ip: str | None) -> None:
    """Count a failure; when it starts a lock (of the pair or of the whole address), audit that."""
    LoginFailure.objects.create(username=_key(username), ip=ip)
    now = timezone.now()
    checks: list[tuple[str, str, str | None, int]] = [
        ("login.lock", _printable(_key(username)), username, settings.LOGIN_MAX_FAILURES)
    ]
    if ip:
        checks.append(("login.lock-address", ip, None, settings.LOGIN_ADDRESS_MAX_FAILURES))
    for action, object_, of, allowed in checks:
        failures = _failures(username=of, ip=ip, now=now).count()
        if hold := lock_seconds(failures=failures, allowed=allowed):
            detail = f"{failures} failed sign-ins from {ip or 'an unknown address'}; refused for {hold} s"
            audit_record(actor=Actor(name="anonymous", ip=ip), action=action, object=object_, detail=detail)


def _printable(text: str) -> str:
    # The username is whatever the guesser typed: keep the audit row on one readable line.
    return re.sub(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", "?", text)


def forget_old_failures() -> None:
    LoginFailure.objects.filter(at__lt=_window_start(timezone.now())).delete()


def login_succeeded(*, username: str, ip: str | None) -> None:
    # Only this pair: the failures of whoever guesses from elsewhere keep holding them.
    _from(LoginFailure.objects.filter(username=_key(username)), ip).delete()
