"""Who may see and change what: the one place roles are decided (panel, API and jobs).

- superadmin: a Django superuser, or an API token not limited to domains;
- domain admin: a staff user with a DomainAdmin row, or a token limited to domains — only the
  mailboxes, aliases, quotas, DKIM and DNS of those domains;
- anyone else signed in (a Django user with no role) reaches nothing. Mail users never have a
  Django session; they use /me/.

A page or endpoint is superadmin-only unless it is in EXEMPT_PREFIXES or its view is marked
`domain_scoped` (it narrows a domain admin to their domains itself); `superadmin_required` says
so in the view. tests/test_url_access.py walks every URL pattern against one table of decisions.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, TypeVar

from django.http import HttpRequest, HttpResponseBase, HttpResponseForbidden, JsonResponse

from dms_admin.mailnames import domain_key

# Whole-server pages and endpoints: superadmins only.
# Kept by hand (fmt: skip): the paths packed by area, the panel's then the API's (not one a line).
SUPERADMIN_PREFIXES = (
    "/settings/", "/apply/", "/history/", "/audit/", "/health/", "/logs/", "/fail2ban/",
    "/updates/", "/backups/", "/spam/", "/django-admin/", "/admins/",
    "/mailboxes/relays/", "/mailboxes/restrictions/", "/mailboxes/tokens/", "/mailboxes/aliases/regexp/",
    "/api/v1/settings/", "/api/v1/apply/", "/api/v1/history/", "/api/v1/audit/",
    "/api/v1/container/", "/api/v1/health/", "/api/v1/logs/", "/api/v1/fail2ban/", "/api/v1/updates/",
    "/api/v1/backups/", "/api/v1/spam/", "/api/v1/relays/", "/api/v1/restrictions/", "/api/v1/regexp-aliases/",
    "/api/v1/tokens/",
)  # fmt: skip
# Open to everyone or with their own checks (mail users, autoconfig, health probes, API docs).
EXEMPT_PREFIXES = (
    "/login/",
    "/logout/",
    "/welcome/",
    "/me/",
    "/static/",
    "/healthz",
    "/metrics",
    "/mail/",
    "/.well-known/",
    "/autodiscover/",
    "/Autodiscover/",
    "/api/v1/schema/",
    "/api/v1/docs/",
    "/applied/",
    "/favicon.ico",
)


@dataclasses.dataclass(frozen=True)
class Scope:
    superadmin: bool
    domains: frozenset[str] = frozenset()

    def allows(self, domain: str) -> bool:
        # Scopes hold A-labels (punycode); the domain may be asked in either form.
        return self.superadmin or domain_key(domain.strip().lstrip("@")) in self.domains

    def allows_address(self, address: str) -> bool:
        return self.allows(address.rpartition("@")[2])


SUPERADMIN = Scope(superadmin=True)


def scope_of_user(user: Any) -> Scope | None:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    token = getattr(user, "token", None)  # dms_admin.api.auth.TokenUser
    if token is not None:
        return Scope(superadmin=not token.domains, domains=frozenset(token.domains))
    if getattr(user, "is_superuser", False):
        return SUPERADMIN
    if getattr(user, "is_staff", False):
        from accounts.models import DomainAdmin

        row = DomainAdmin.objects.filter(user_id=user.pk).first()
        if row is not None and row.domains:
            return Scope(superadmin=False, domains=frozenset(d.lower() for d in row.domains))
    return None


def scope_of(request: HttpRequest) -> Scope | None:
    if not hasattr(request, "_dms_scope"):
        request._dms_scope = scope_of_user(getattr(request, "user", None))  # type: ignore[attr-defined]
    scope: Scope | None = request._dms_scope  # type: ignore[attr-defined]
    return scope


def _must_enrol(user: Any) -> bool:
    from django.conf import settings

    if not settings.REQUIRE_2FA:
        return False
    from dms_admin.two_factor import two_factor_enabled

    return not two_factor_enabled(user=user)


def superadmin_only(path: str) -> bool:
    return path.startswith(SUPERADMIN_PREFIXES)


View = TypeVar("View", bound=Callable[..., Any])
DECIDES = "dms_decides_access"  # set on a view that checks the role itself


def domain_scoped(view: View) -> View:
    """Mark a view a domain admin may open: it narrows them to their domains itself (require_domain,
    visible, check_domain) or to what is theirs (their jobs, their own account). On an API view, put
    it above @api_view."""
    setattr(view, DECIDES, True)
    return view


def superadmin_required(view: View) -> View:
    """403 for anyone but a superadmin (or a token not limited to domains), checked on the Scope.

    On an API view put it below @api_view, where the token has been authenticated; a panel view
    gets the panel's 403 page."""

    @functools.wraps(view)
    def wrapper(request: Any, *args: Any, **kwargs: Any) -> Any:
        # The user, not scope_of's cache: under @api_view this is the token's user, not the session's.
        scope = scope_of_user(getattr(request, "user", None))
        if scope is None or not scope.superadmin:
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied("Only a superadmin may do this.")
        return view(request, *args, **kwargs)

    setattr(wrapper, DECIDES, True)
    return wrapper  # type: ignore[return-value]


def open_to_domain_admins(path: str, view: Any) -> bool:
    """May a domain admin reach this view at all? A path in no table is superadmin-only, unless
    its view decides itself: a new page must say who may open it."""
    if superadmin_only(path):
        return False
    return path.startswith(EXEMPT_PREFIXES) or bool(getattr(view, DECIDES, False))


def _denied(request: HttpRequest, message: str) -> HttpResponseBase:
    if request.path_info.startswith("/api/"):
        return JsonResponse({"error": message, "fields": {}}, status=403)
    return HttpResponseForbidden(message)


class RoleMiddleware:
    """Panel pages: a signed-in user without a role gets 403; whole-server pages need a superadmin,
    and so does any page in no table whose view does not decide itself (`open_to_domain_admins`).

    The API authenticates tokens in its views, so it re-checks there through `ApiAccess`.
    """

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        path = request.path_info
        user = getattr(request, "user", None)
        if (
            not path.startswith(EXEMPT_PREFIXES)
            and not path.startswith("/api/")
            and user is not None
            and user.is_authenticated
        ):
            scope = scope_of(request)
            if scope is None:
                return _denied(request, "Your account has no admin role here.")
            if _must_enrol(user) and not path.startswith("/account/2fa/"):
                # REQUIRE_2FA also covers sessions opened before it was switched on, and the first run.
                from django.shortcuts import redirect

                return redirect("two-factor")
            if not scope.superadmin and superadmin_only(path):
                return _denied(request, "Only a superadmin may open this page.")
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view: Any, args: Any, kwargs: Any) -> HttpResponseBase | None:
        # After URL resolution, so the view's mark is known; the API checks the same in ApiAccess.
        if request.path_info.startswith("/api/") or not request.user.is_authenticated:
            return None
        scope = scope_of(request)
        if scope is not None and not scope.superadmin and not open_to_domain_admins(request.path_info, view):
            return _denied(request, "Only a superadmin may open this page.")
        return None


def require_domain(request: HttpRequest, domain: str) -> None:
    """404 (not 403: it does not even exist for them) when the domain is outside the admin's scope."""
    from django.http import Http404

    scope = scope_of(request)
    if scope is None or not scope.allows(domain):
        raise Http404("Not found.")


def require_superadmin(request: HttpRequest) -> None:
    from django.core.exceptions import PermissionDenied

    scope = scope_of(request)
    if scope is None or not scope.superadmin:
        raise PermissionDenied("Only a superadmin may do this.")


def visible(request: HttpRequest, items: list[Any], domain_of: Any) -> list[Any]:
    scope = scope_of(request)
    if scope is None:
        return []
    return items if scope.superadmin else [item for item in items if scope.allows(domain_of(item))]


def visible_jobs(user: Any) -> Any:
    """Superadmins see every job; a domain admin (or domain-limited token) the jobs they started."""
    from dms_admin.models import JobRun

    scope = scope_of_user(user)
    if scope is None:
        return JobRun.objects.none()
    if scope.superadmin:
        return JobRun.objects.all()
    return JobRun.objects.filter(created_by=user.get_username())


def check_domain(request: HttpRequest, address: str, *, field: str) -> None:
    """FieldError when a form would create something in a domain outside the admin's scope."""
    from dms_admin.errors import FieldError

    domain = address.strip().rpartition("@")[2].lower()
    scope = scope_of(request)
    if scope is None or not scope.allows(domain):
        raise FieldError(field, f"You may not manage addresses of {domain or 'that domain'}.")
