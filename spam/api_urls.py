from django.urls import path

from spam import api

urlpatterns = [
    path("rules/", api.rules, name="api-spam-rules"),
    path("rules/validate/", api.rules_validate, name="api-spam-rules-validate"),
    path("schedules/", api.schedule_list, name="api-spam-schedule-list"),
    path("schedules/<int:schedule_id>/", api.schedule_detail, name="api-spam-schedule-detail"),
    path("schedules/<int:schedule_id>/run/", api.schedule_run, name="api-spam-schedule-run"),
    path("runs/", api.run_list, name="api-spam-run-list"),
    path("bayes/", api.bayes, name="api-spam-bayes"),
]
