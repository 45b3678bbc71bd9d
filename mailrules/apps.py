from django.apps import AppConfig


class MailrulesConfig(AppConfig):
    name = "mailrules"
    verbose_name = "Mail rules: vacation replies and forwarding (Sieve)"
