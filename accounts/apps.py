from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Mailboxes, aliases and domains"

    def ready(self) -> None:
        from accounts import health as accounts_health
        from dms_admin.ops.health import register_checks

        register_checks("accounts", accounts_health.checks)
        # Job kinds declare themselves there (which can stop midway); the web process needs to know.
        import accounts.jobs  # noqa: F401
