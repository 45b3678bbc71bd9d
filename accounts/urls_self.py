"""The mail users' self-service pages, under /me/ (`self:` names)."""

from django.urls import path

from accounts import views_self

app_name = "self"

urlpatterns = [
    path("", views_self.self_settings, name="settings"),
    path("login/", views_self.self_login, name="login"),
    path("logout/", views_self.self_logout, name="logout"),
    path("password/", views_self.self_password, name="password"),
    path("apple.mobileconfig", views_self.self_apple_profile, name="apple-profile"),
]
