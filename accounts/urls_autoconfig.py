"""Where mail clients look for their settings; these paths are fixed by the clients, at the root."""

from django.urls import path

from accounts import views_self

urlpatterns = [
    path("mail/config-v1.1.xml", views_self.autoconfig, name="autoconfig"),
    path(".well-known/autoconfig/mail/config-v1.1.xml", views_self.autoconfig, name="autoconfig-well-known"),
    path("autodiscover/autodiscover.xml", views_self.autodiscover, name="autodiscover"),
    # Outlook spells it either way and URL paths are case-sensitive.
    path("Autodiscover/Autodiscover.xml", views_self.autodiscover),
]
