from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.views.generic import RedirectView

from accounts import views_admins
from dms_admin import metrics, views, views_2fa, views_jobs, views_ops, views_settings, views_setup

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.login_view, name="login"),
    path("login/2fa/", views_2fa.login_second_step, name="login-2fa"),
    path("account/2fa/", views_2fa.two_factor_view, name="two-factor"),
    path("account/2fa/disable/", views_2fa.two_factor_disable_view, name="two-factor-disable"),
    path("account/2fa/recovery-codes/", views_2fa.recovery_codes_view, name="two-factor-recovery"),
    path("welcome/", views_setup.first_run, name="first-run"),
    path("logout/", views.logout_view, name="logout"),
    path("healthz", views.healthz, name="healthz"),
    path("favicon.ico", views.favicon),
    path("metrics", metrics.metrics, name="metrics"),
    path("history/", views.history_list, name="history-list"),
    path("history/<str:sha>/", views.history_detail, name="history-detail"),
    path("history/<str:sha>/rollback/", views.history_rollback, name="history-rollback"),
    path("history/<str:sha>/restore-file/", views.history_restore_file, name="history-restore-file"),
    path("audit/", views.audit_list, name="audit-list"),
    path("admins/", views_admins.admin_list, name="admin-list"),
    path("admins/<int:pk>/delete/", views_admins.admin_delete, name="admin-delete"),
    path("apply/", views.apply_view, name="apply"),
    path("settings/", views_settings.settings_view, name="settings"),
    path("health/", views_ops.health_view, name="health"),
    path("logs/", views_ops.logs_view, name="logs"),
    path("fail2ban/", views_ops.fail2ban_list, name="fail2ban-list"),
    path("fail2ban/ban/", views_ops.fail2ban_ban, name="fail2ban-ban"),
    path("fail2ban/<str:ip>/unban/", views_ops.fail2ban_unban, name="fail2ban-unban"),
    path("updates/", views_ops.updates_view, name="updates"),
    path("updates/start/", views_ops.update_start, name="update-start"),
    path("settings/fix/<str:name>/", views_settings.settings_fix_view, name="settings-fix"),
    path("jobs/", views_jobs.job_list, name="job-list"),
    path("jobs/<uuid:run_id>/", views.job_detail, name="job-detail"),
    path("applied/<uuid:run_id>/", views.apply_status, name="apply-status"),
    path("jobs/<uuid:run_id>/retry/", views_jobs.job_retry_view, name="job-retry"),
    path("jobs/<uuid:run_id>/cancel/", views_jobs.job_cancel_view, name="job-cancel"),
    path("jobs/<uuid:run_id>/stop/", views_jobs.job_stop_view, name="job-stop"),
    path("mailboxes/", include("accounts.urls")),
    path("domains/", include("accounts.urls_domains")),
    path("me/", include("accounts.urls_self")),
    path("", include("accounts.urls_autoconfig")),
    path("backups/", include("backups.urls")),
    path("spam/", include("spam.urls")),
    path("api/v1/", include("dms_admin.api.urls")),
    path("django-admin/rq/", include("django_rq.urls")),
    # The admin's own sign-in takes the password alone: no second factor, no throttle, no audit.
    path("django-admin/login/", login_not_required(RedirectView.as_view(pattern_name="login", query_string=True))),
    path("django-admin/", admin.site.urls),
]
