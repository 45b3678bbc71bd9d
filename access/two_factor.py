"""Two-factor sign-in for admins: TOTP (RFC 6238: SHA-1, 30 s, 6 digits, one step either side)
and single-use recovery codes.

The TOTP secret leaves the database only onto the enrolment page; recovery codes are shown once,
as they are made, and kept as password hashes. Nothing here logs or audits a secret or a code.
Wrong codes are counted by the login throttle under `2fa:<username>` and the client's address.
"""

from __future__ import annotations

import hmac
import re
import secrets
from typing import Literal

import pyotp
import segno
from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from access.models import RecoveryCode, TwoFactor
from access.throttle import login_failed, login_lock, login_succeeded
from dms_admin.audit import Actor, audit_record
from dms_admin.errors import FieldError

ISSUER = "dms-admin"
RECOVERY_CODE_COUNT = 10
# No 0/o, 1/l/i: codes are read off paper.
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_RECOVERY_LENGTH = 10
BAD_CODE = "That code is not valid."

Method = Literal["totp", "recovery"]


def _throttle_key(user: AbstractBaseUser) -> str:
    return f"2fa:{user.get_username()}"


def _normalize(code: str) -> str:
    return re.sub(r"[\s-]", "", code).lower()


def two_factor_enabled(*, user: AbstractBaseUser) -> bool:
    return TwoFactor.objects.filter(user_id=user.pk, enabled=True).exists()


def second_step_needed(*, user: AbstractBaseUser) -> bool:
    """After the password: ask for a code, or (when required and not set up yet) enrol first."""
    return settings.REQUIRE_2FA or two_factor_enabled(user=user)


def two_factor_pending(*, user: AbstractBaseUser) -> TwoFactor:
    """The user's authenticator, made with a fresh secret if there is none yet.

    The pending secret is kept across reloads so an app that already scanned it stays valid.
    """
    two_factor, _ = TwoFactor.objects.get_or_create(user_id=user.pk, defaults={"secret": pyotp.random_base32()})
    return two_factor


def otpauth_uri(*, two_factor: TwoFactor, username: str) -> str:
    return pyotp.TOTP(two_factor.secret).provisioning_uri(name=username, issuer_name=ISSUER)


def qr_svg(*, data: str) -> str:
    # Presentation attributes only (fill/stroke): the panel's CSP allows no style= attribute.
    return str(
        segno.make(data, error="m").svg_inline(scale=5, dark="#000", light="#fff", svgclass="qr", title="QR code")
    )


def _totp_accept(two_factor: TwoFactor, code: str) -> bool:
    totp = pyotp.TOTP(two_factor.secret)
    current = totp.timecode(timezone.now())
    for step in (current - 1, current, current + 1):
        if step > two_factor.last_step and hmac.compare_digest(totp.generate_otp(step), code):
            # Conditional update: of two requests racing with the same code, only one wins.
            won = TwoFactor.objects.filter(pk=two_factor.pk, last_step__lt=step).update(last_step=step) == 1
            two_factor.last_step = step
            return won
    return False


def _recovery_accept(user: AbstractBaseUser, code: str) -> bool:
    for recovery in RecoveryCode.objects.filter(user_id=user.pk, used_at__isnull=True):
        if check_password(code, recovery.hash):
            return RecoveryCode.objects.filter(pk=recovery.pk, used_at__isnull=True).update(used_at=timezone.now()) == 1
    return False


def _recovery_codes_make(user: AbstractBaseUser) -> list[str]:
    RecoveryCode.objects.filter(user_id=user.pk).delete()
    codes = [
        "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH)) for _ in range(RECOVERY_CODE_COUNT)
    ]
    RecoveryCode.objects.bulk_create(RecoveryCode(user_id=user.pk, hash=make_password(c)) for c in codes)
    return [f"{c[:5]}-{c[5:]}" for c in codes]


def recovery_codes_left(*, user: AbstractBaseUser) -> int:
    return RecoveryCode.objects.filter(user_id=user.pk, used_at__isnull=True).count()


def two_factor_enable(*, user: AbstractBaseUser, code: str, actor: Actor) -> list[str]:
    """Confirm the pending authenticator with a code from it; returns the recovery codes (shown once)."""
    with transaction.atomic():
        two_factor = TwoFactor.objects.select_for_update().get(user_id=user.pk)
        if two_factor.enabled:
            raise FieldError("code", "Two-factor sign-in is already on.")
        if not _totp_accept(two_factor, _normalize(code)):
            raise FieldError("code", f"{BAD_CODE} Check the clock of the device with the app.")
        TwoFactor.objects.filter(pk=two_factor.pk).update(enabled=True, enabled_at=timezone.now())
        codes = _recovery_codes_make(user)
    audit_record(actor=actor, action="2fa.enable", object=user.get_username())
    return codes


def second_factor_verify(*, user: AbstractBaseUser, code: str, actor: Actor) -> Method:
    """Check a TOTP or recovery code of an enabled authenticator, throttled like passwords."""
    key = _throttle_key(user)
    if lock := login_lock(username=key, ip=actor.ip):
        raise FieldError("code", lock.message)
    two_factor = TwoFactor.objects.filter(user_id=user.pk, enabled=True).first()
    code = _normalize(code)
    method: Method | None = None
    if two_factor is not None and re.fullmatch(r"\d{6}", code) and _totp_accept(two_factor, code):
        method = "totp"
    elif two_factor is not None and len(code) == _RECOVERY_LENGTH and _recovery_accept(user, code):
        method = "recovery"
        audit_record(
            actor=actor,
            action="2fa.recovery-used",
            object=user.get_username(),
            detail=f"{recovery_codes_left(user=user)} recovery codes left",
        )
    if method is None:
        login_failed(username=key, ip=actor.ip)
        raise FieldError("code", BAD_CODE)
    login_succeeded(username=key, ip=actor.ip)
    return method


def two_factor_disable(*, user: AbstractBaseUser, code: str, actor: Actor) -> None:
    second_factor_verify(user=user, code=code, actor=actor)
    TwoFactor.objects.filter(user_id=user.pk).delete()
    RecoveryCode.objects.filter(user_id=user.pk).delete()
    audit_record(actor=actor, action="2fa.disable", object=user.get_username())


def recovery_codes_renew(*, user: AbstractBaseUser, code: str, actor: Actor) -> list[str]:
    """New recovery codes (the old ones stop working); returned this once."""
    second_factor_verify(user=user, code=code, actor=actor)
    codes = _recovery_codes_make(user)
    audit_record(actor=actor, action="2fa.recovery-renew", object=user.get_username())
    return codes
