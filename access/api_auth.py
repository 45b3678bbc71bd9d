"""API authentication (bearer tokens or the panel session) and the one access rule."""

from __future__ import annotations

import hmac
from typing import Any

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request

from access.models import ApiToken
from access.roles import decides_itself, scope_of_user
from dms_admin.audit import Actor, audit_api_call, client_ip
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
            # Still audited under its name: whoever runs it should find out it stopped working.
            audit_api_call(request, token_name=token.name, detail="HTTP 401 (the token has expired)")
            raise exceptions.AuthenticationFailed("That token has expired; create a new one in the panel.")
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
        return TokenUser(token), token

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


class ApiAccess(permissions.BasePermission):
    """The roles of access.roles, and a token's scope: read, or read and write."""

    message = "This token may only read."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False
        scope = scope_of_user(user)
        if scope is None:
            self.message = "Your account has no admin role here."
            return False
        match = request.resolver_match
        if not scope.superadmin and not decides_itself(match and match.func):
            self.message = "Only a superadmin (or a token not limited to domains) may use this."
            return False
        return request.method in permissions.SAFE_METHODS or may_write(request)


def may_write(request: Request) -> bool:
    """A panel session, or a token with the write scope."""
    token = api_token(request)
    return token is None or token.scope == ApiToken.Scope.WRITE


def api_token(request: Request) -> ApiToken | None:
    return request.auth if isinstance(request.auth, ApiToken) else None


def api_actor(request: Request) -> Actor:
    return Actor(name=request.user.get_username(), via=AuditEntry.Via.API, ip=client_ip(request))


def allowed_domain(request: Request, domain: str) -> bool:
    scope = scope_of_user(request.user)
    return scope is not None and scope.allows(domain)


class BearerTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[misc]
    """Describes the bearer token in the OpenAPI schema."""

    target_class = "access.api_auth.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A token made in the panel or with create_api_token.",
        }
