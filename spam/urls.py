from django.urls import path

from spam import views

app_name = "spam"

urlpatterns = [
    path("", views.spam_settings, name="settings"),
    path("subdomains/", views.subdomains, name="subdomains"),
    path("rules/", views.rules_edit, name="rules"),
    path("schedules/", views.schedule_list, name="schedule-list"),
    path("schedules/new/", views.schedule_edit, name="schedule-create"),
    path("schedules/<int:schedule_id>/", views.schedule_edit, name="schedule-edit"),
    path("schedules/<int:schedule_id>/delete/", views.schedule_delete, name="schedule-delete"),
    path("schedules/<int:schedule_id>/run/", views.schedule_run, name="schedule-run"),
    path("runs/", views.run_list, name="run-list"),
    path("bayes/", views.bayes, name="bayes"),
]
