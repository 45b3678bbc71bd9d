from django.apps import AppConfig


class AccessConfig(AppConfig):
    """Who may do what: roles, domain admins, API tokens, second factor, throttling, sign-in."""

    name = "access"
    default_auto_field = "django.db.models.BigAutoField"
