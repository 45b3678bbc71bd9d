"""Create the first superadmin if none exists, printing its generated password once."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from access.forms import AdminUsernameField


class Command(BaseCommand):
    help = "Create the first admin (username 'admin' by default) when no superuser exists yet."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument("--email", default="")

    def handle(self, *args: Any, username: str, email: str, **options: Any) -> None:
        users = get_user_model()
        if users.objects.filter(is_superuser=True).exists():
            self.stdout.write("An admin exists already; no new one created.")
            return
        try:
            username = AdminUsernameField().clean(username)
        except ValidationError as error:
            raise CommandError(f"Not a usable user name: {' '.join(error.messages)}") from None
        password = secrets.token_urlsafe(15)
        users.objects.create_superuser(username=username, email=email, password=password)
        self.stdout.write(self.style.SUCCESS(f"Created admin {username!r} with password: {password}"))
        self.stdout.write("Write it down: it is shown only this once. Change it after signing in.")
