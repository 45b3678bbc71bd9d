"""Mounted under api/v1/backups/ by dms_admin/api/urls.py."""

from django.urls import path

from backups import api

urlpatterns = [
    path("policies/", api.policy_list, name="api-backup-policy-list"),
    path("policies/<int:policy_id>/", api.policy_detail, name="api-backup-policy-detail"),
    path("policies/<int:policy_id>/run/", api.policy_run, name="api-backup-policy-run"),
    path("runs/", api.run_list, name="api-backup-run-list"),
    path("archives/", api.archive_list, name="api-backup-archive-list"),
    path("archives/<int:archive_id>/verify/", api.archive_verify, name="api-backup-archive-verify"),
    path("archives/<int:archive_id>/restore/", api.archive_restore, name="api-backup-archive-restore"),
    path("archives/<int:archive_id>/download/", api.archive_download, name="api-backup-archive-download"),
]
