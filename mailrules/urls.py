"""The admin's rules page of a mailbox (`mailrules:` names); the mail user's is under /me/."""

from django.urls import path

from mailrules import views

app_name = "mailrules"

urlpatterns = [
    path("<str:address>/rules/", views.rules_edit, name="rules"),
]
