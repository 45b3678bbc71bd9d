"""manage.py create_api_token NAME --scope read|write [--domain D]... [--expires DAYS]"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from access.tokens import token_create
from dms_admin.audit import Actor
from dms_admin.errors import Conflict, FieldError
from dms_admin.models import AuditEntry


class Command(BaseCommand):
    help = "Create an API token and print its secret once."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("name")
        parser.add_argument("--scope", choices=["read", "write"], default="read")
        parser.add_argument("--domain", action="append", default=[], help="Limit to this domain (repeatable).")
        parser.add_argument("--expires", type=int, default=None, help="Days until it expires.")

    def handle(self, *args: Any, name: str, scope: str, domain: list[str], expires: int | None, **options: Any) -> None:
        try:
            token, secret = token_create(
                name=name, scope=scope, domains=domain, expires_days=expires, actor=Actor("cli", via=AuditEntry.Via.CLI)
            )
        except (FieldError, Conflict) as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(secret)
        self.stderr.write(f"Token {token.name!r} ({token.scope}); shown only this once.")
