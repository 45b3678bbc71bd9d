from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.views.generic import RedirectView

from dms_admin import views
from dms_admin.activity import views as activity
from dms_admin.activity import views_jobs
from dms_admin.mailserver_env import views as views_settings
from dms_admin.ops import metrics
from dms_admin.ops import views as views_ops

urlpatterns = [
    path("", views_ops.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("favicon.ico", views.favicon),
    path("metrics", metrics.metrics, name="metrics"),
    path("history/", activity.history_list, name="history-list"),
    path("history/<str:sha>/", activity.history_detail, name="history-detail"),
    path("history/<str:sha>/rollback/", activity.history_rollback, name="history-rollback"),
    path("history/<str:sha>/restore-file/", activity.history_restore_file, name="history-restore-file"),
    path("audit/", activity.audit_list, name="audit-list"),
    path("apply/", activity.apply_view, name="apply"),
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
    path("jobs/<uuid:run_id>/", views_jobs.job_detail, name="job-detail"),
    path("applied/<uuid:run_id>/", views_jobs.apply_status, name="apply-status"),
    path("jobs/<uuid:run_id>/retry/", views_jobs.job_retry_view, name="job-retry"),
    path("jobs/<uuid:run_id>/cancel/", views_jobs.job_cancel_view, name="job-cancel"),
    path("jobs/<uuid:run_id>/stop/", views_jobs.job_stop_view, name="job-stop"),
    path("", include("access.urls")),  # before accounts: /mailboxes/tokens/ is access's
    path("mailboxes/", include("accounts.urls")),
    path("mailboxes/", include("mailrules.urls")),
    path("domains/", include("accounts.urls_domains")),
    path("me/", include("accounts.urls_self")),
    path("me/", include("mailrules.urls_self")),
    path("", include("accounts.urls_autoconfig")),
    path("backups/", include("backups.urls")),
    path("spam/", include("spam.urls")),
    path("api/v1/", include("dms_admin.api.urls")),
    path("django-admin/rq/", include("django_rq.urls")),
    # The admin's own sign-in takes the password alone: no second factor, no throttle, no audit.
    path("django-admin/login/", login_not_required(RedirectView.as_view(pattern_name="login", query_string=True))),
    path("django-admin/", admin.site.urls),
]
