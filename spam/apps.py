from django.apps import AppConfig


class SpamConfig(AppConfig):
    name = "spam"
    verbose_name = "Spam filtering and training"

    def ready(self) -> None:
        from dms_admin.ops.health import register_checks
        from spam import health as spam_health

        register_checks("spam", spam_health.checks)
        # Job kinds declare themselves there (which can stop midway); the web process needs to know.
        import spam.jobs  # noqa: F401
