from django.apps import AppConfig


class DmsAdminConfig(AppConfig):
    name = "dms_admin"
    verbose_name = "dms-admin core"

    def ready(self) -> None:
        from dms_admin import checks  # noqa: F401  (registers the system checks)
        from dms_admin.memory import tune_malloc

        tune_malloc()
