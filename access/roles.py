"""Who may see and change what: the one place roles are decided (panel, API and jobs).

- superadmin: a Django superuser, or an API token not limited to domains;
- domain admin: a staff user with a DomainAdmin row, or a token limited to domains — only the
  mailboxes, aliases, quotas, DKIM and DNS of those domains;
- anyone else signed in (a Django user with no role) reaches nothing. Mail users never have a
  Django session; they use /me/.

Each view says who may open it, with one mark: `superadmin_required` (it checks), `domain_scoped`
(it narrows a domain admin to their domains itself: require_domain, visible, check_domain),
`enrolment_page` (any admin's own second factor), `any_signed_in_user` (signing out) or Django's
`login_not_required` (public pages and the mail users' /me/, which check their own session). A
view with no mark is for superadmins only, so a new page is never open by accident.
tests/test_url_access.py walks every URL pattern against one table of decisions.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, TypeVar

from django.http import HttpRequest, HttpResponseBase, HttpResponseForbidden, JsonResponse
from rest_framework.permissions import BasePermission

from dms_admin.mailnames import domain_key


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
    token = getattr(user, "token", None)  # access.api_auth.TokenUser
    if token is not None:
        return Scope(superadmin=not token.domains, domains=frozenset(token.domains))
    if getattr(user, "is_superuser", False):
        return SUPERADMIN
    if getattr(user, "is_staff", False):
        from access.models import DomainAdmin

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
    from access.two_factor import two_factor_enabled

    return not two_factor_enabled(user=user)


View = TypeVar("View", bound=Callable[..., Any])
DECIDES = "dms_decides_access"  # set on a view that checks the role itself
ENROLMENT = "dms_enrolment_page"  # reachable while REQUIRE_2FA still waits for the user's enrolment
ANY_USER = "dms_any_signed_in_user"  # no role needed at all
# Third-party trees (Django's admin, django-rq) mark their views public and check only is_staff,
# which a domain admin is: superadmins only as a whole, by their URL namespace.
THIRD_PARTY_NAMESPACES = frozenset({"admin", "django_rq"})


def domain_scoped(view: View) -> View:
    """Mark a view a domain admin may open: it narrows them to their domains itself (require_domain,
    visible, check_domain) or to what is theirs (their jobs, their own account). On an API view, put
    it above @api_view."""
    setattr(view, DECIDES, True)
    return view


class SuperadminOnly(BasePermission):
    """The API's side of superadmin_required: a superadmin's session or a token not limited to domains."""

    message = "Only a superadmin (or a token not limited to domains) may use this."

    def has_permission(self, request: Any, view: Any) -> bool:
        scope = scope_of_user(getattr(request, "user", None))
        return scope is not None and scope.superadmin


def superadmin_required(view: View) -> View:
    """403 for anyone but a superadmin (or a token not limited to domains), checked on the Scope.

    A panel view gets the panel's 403 page. On an API view put it above @api_view: it adds
    SuperadminOnly to the view's permissions, checked once the token is authenticated."""
    api_view_class = getattr(view, "cls", None)  # what @api_view made of the function
    if api_view_class is not None:
        api_view_class.permission_classes = [*api_view_class.permission_classes, SuperadminOnly]
        setattr(view, DECIDES, True)
        return view

    @functools.wraps(view)
    def wrapper(request: Any, *args: Any, **kwargs: Any) -> Any:
        scope = scope_of_user(getattr(request, "user", None))
        if scope is None or not scope.superadmin:
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied("Only a superadmin may do this.")
        return view(request, *args, **kwargs)

    setattr(wrapper, DECIDES, True)
    return wrapper  # type: ignore[return-value]


def enrolment_page(view: View) -> View:
    """Mark a page of the signed-in admin's own second factor: any admin role may open it, and it
    stays reachable while REQUIRE_2FA waits for their enrolment."""
    setattr(view, DECIDES, True)
    setattr(view, ENROLMENT, True)
    return view


def any_signed_in_user(view: View) -> View:
    """Mark a view that anyone signed in may use, with a role or none (signing out)."""
    setattr(view, ANY_USER, True)
    return view


def decides_itself(view: Any) -> bool:
    """Does the view (a function, or a class-based view's as_view()) say who may open it?"""
    return bool(getattr(view, DECIDES, False) or getattr(getattr(view, "view_class", None), DECIDES, False))


def is_public(view: Any) -> bool:
    """Marked with Django's login_not_required: the view decides alone (it may check a session)."""
    return getattr(view, "login_required", True) is False


def _denied(request: HttpRequest, message: str) -> HttpResponseBase:
    if request.path_info.startswith("/api/"):
        return JsonResponse({"error": message, "fields": {}}, status=403)
    return HttpResponseForbidden(message)


class RoleMiddleware:
    """Panel pages, by the mark on their view (see the module's docstring): no role, 403; a
    second factor still to enrol, to its page; an unmarked view, superadmins only.

    The API authenticates tokens in its views, so it decides there, in `ApiAccess`.
    """

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view: Any, args: Any, kwargs: Any) -> HttpResponseBase | None:
        match = request.resolver_match
        third_party = bool(match and THIRD_PARTY_NAMESPACES & set(match.namespaces))
        if request.path_info.startswith("/api/") or not request.user.is_authenticated:
            return None
        if (is_public(view) and not third_party) or getattr(view, ANY_USER, False):
            return None
        scope = scope_of(request)
        if scope is None:
            return _denied(request, "Your account has no admin role here.")
        if _must_enrol(request.user) and not getattr(view, ENROLMENT, False):
            # REQUIRE_2FA also covers sessions opened before it was switched on, and the first run.
            from django.shortcuts import redirect

            return redirect("two-factor")
        if not scope.superadmin and (third_party or not decides_itself(view)):
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
