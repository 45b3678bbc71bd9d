from django.apps import AppConfig


class SpamConfig(AppConfig):
    name = "spam"
    verbose_name = "Spam filtering and training"
