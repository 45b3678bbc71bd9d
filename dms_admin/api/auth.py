"""API authentication (bearer tokens or the panel session) and the one access rule."""

from __future__ import annotations

import hmac
from typing import Any

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request

from accounts.models import ApiToken
from dms_admin.audit import Actor, client_ip
from dms_admin.models import AuditEntry


class TokenUser:
    """The principal behind a bearer token (not a Django user)."""

    is_authenticated = True
    is_active = True
    is_anonymous = False
    is_staff = False
    is_superuser = False

    def __init__(self, token: ApiToken) -> None:
        self.token = token
        self.username = f"token:{token.name}"

    def get_username(self) -> str:
        return self.username


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[TokenUser, ApiToken] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header.startswith(self.keyword + " "):
            return None
        secret = header[len(self.keyword) + 1 :].strip()
        parts = secret.split("_", 2)  # the random part may contain "_" itself
        if len(parts) != 3 or parts[0] != "dms":
            raise exceptions.AuthenticationFailed("That token is not valid.")
        digest = ApiToken.digest_of(secret)
        token = next(
            (t for t in ApiToken.objects.filter(prefix=parts[1]) if hmac.compare_digest(t.digest, digest)), None
        )
        if token is None:
            raise exceptions.AuthenticationFailed("That token is not valid.")
        if token.expired:
            raise exceptions.AuthenticationFailed("That token has expired; create a new one in the panel.")
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
        return TokenUser(token), token

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


class ApiAccess(permissions.BasePermission):
    """Admins (panel session) may do everything; a token may read, and write with the write scope."""

    message = "This token may only read."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False
        token = api_token(request)
        if token is None:
            return bool(getattr(user, "is_staff", False) or getattr(user, "is_superuser", False))
        return request.method in permissions.SAFE_METHODS or token.scope == ApiToken.Scope.WRITE


def api_token(request: Request) -> ApiToken | None:
    return request.auth if isinstance(request.auth, ApiToken) else None


def api_actor(request: Request) -> Actor:
    return Actor(name=request.user.get_username(), via=AuditEntry.Via.API, ip=client_ip(request))


def allowed_domain(request: Request, domain: str) -> bool:
    token = api_token(request)
    return token is None or token.allows_domain(domain)


class BearerTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[misc]
    """Describes the bearer token in the OpenAPI schema."""

    target_class = "dms_admin.api.auth.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A token made in the panel or with create_api_token.",
        }
