"""The mail user's own rules page, under /me/ (`mailrules_self:` names)."""

from django.urls import path

from mailrules import views

app_name = "mailrules_self"

urlpatterns = [
    path("rules/", views.self_rules, name="rules"),
]
