"""The panel pages of signing in, the second factor, the first run, admins and API tokens."""

from django.urls import path

from access import views, views_2fa, views_admins, views_setup, views_tokens

urlpatterns = [
    path("login/", views.login_view, name="login"),
    path("login/2fa/", views_2fa.login_second_step, name="login-2fa"),
    path("account/2fa/", views_2fa.two_factor_view, name="two-factor"),
    path("account/2fa/disable/", views_2fa.two_factor_disable_view, name="two-factor-disable"),
    path("account/2fa/recovery-codes/", views_2fa.recovery_codes_view, name="two-factor-recovery"),
    path("welcome/", views_setup.first_run, name="first-run"),
    path("logout/", views.logout_view, name="logout"),
    path("admins/", views_admins.admin_list, name="admin-list"),
    path("admins/<int:pk>/delete/", views_admins.admin_delete, name="admin-delete"),
    path("mailboxes/tokens/", views_tokens.token_list, name="token-list"),
    path("mailboxes/tokens/<int:pk>/delete/", views_tokens.token_delete_view, name="token-delete"),
]
