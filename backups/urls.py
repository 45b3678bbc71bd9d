from django.urls import path

from backups import views

app_name = "backups"

urlpatterns = [
    path("", views.policy_list, name="policy-list"),
    path("policies/new/", views.policy_edit, name="policy-create"),
    path("policies/<int:policy_id>/", views.policy_edit, name="policy-edit"),
    path("policies/<int:policy_id>/run/", views.policy_run, name="policy-run"),
    path("archives/", views.archive_list, name="archive-list"),
    path("archives/<int:archive_id>/verify/", views.archive_verify, name="archive-verify"),
    path("archives/<int:archive_id>/restore/", views.archive_restore, name="archive-restore"),
    path("archives/<int:archive_id>/download/", views.archive_download, name="archive-download"),
]
