from django.urls import path

from accounts import views_domains

app_name = "domains"

urlpatterns = [
    path("", views_domains.domain_list, name="domain-list"),
    path("<str:domain>/", views_domains.domain_detail, name="domain-detail"),
    path("<str:domain>/dkim/", views_domains.dkim_generate, name="dkim-generate"),
    path("<str:domain>/dkim/<str:selector>/delete/", views_domains.dkim_delete, name="dkim-delete"),
]
