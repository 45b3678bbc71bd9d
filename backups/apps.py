from django.apps import AppConfig


class BackupsConfig(AppConfig):
    name = "backups"
    verbose_name = "Backups"

    def ready(self) -> None:
        from backups import health as backups_health
        from dms_admin.ops.health import register_checks

        register_checks("backups", backups_health.checks)
        # Job kinds declare themselves there (which can stop midway); the web process needs to know.
        import backups.jobs  # noqa: F401
