from django.contrib import admin
from django.urls import include, path

from dms_admin import metrics, views, views_jobs, views_settings, views_setup

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.login_view, name="login"),
    path("welcome/", views_setup.first_run, name="first-run"),
    path("logout/", views.logout_view, name="logout"),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", metrics.metrics, name="metrics"),
    path("history/", views.history_list, name="history-list"),
    path("history/<str:sha>/", views.history_detail, name="history-detail"),
    path("history/<str:sha>/rollback/", views.history_rollback, name="history-rollback"),
    path("audit/", views.audit_list, name="audit-list"),
    path("apply/", views.apply_view, name="apply"),
    path("settings/", views_settings.settings_view, name="settings"),
    path("settings/fix/<str:name>/", views_settings.settings_fix_view, name="settings-fix"),
    path("jobs/", views_jobs.job_list, name="job-list"),
    path("jobs/<uuid:run_id>/", views.job_detail, name="job-detail"),
    path("jobs/<uuid:run_id>/retry/", views_jobs.job_retry_view, name="job-retry"),
    path("jobs/<uuid:run_id>/cancel/", views_jobs.job_cancel_view, name="job-cancel"),
    path("mailboxes/", include("accounts.urls")),
    path("domains/", include("accounts.urls_domains")),
    path("me/", include("accounts.urls_self")),
    path("", include("accounts.urls_autoconfig")),
    path("backups/", include("backups.urls")),
    path("spam/", include("spam.urls")),
    path("api/v1/", include("dms_admin.api.urls")),
    path("django-admin/rq/", include("django_rq.urls")),
    path("django-admin/", admin.site.urls),
]
