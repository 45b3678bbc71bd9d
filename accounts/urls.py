from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("", views.mailbox_list, name="mailbox-list"),
    path("new/", views.mailbox_create, name="mailbox-create"),
    path("<str:address>/password/", views.mailbox_password, name="mailbox-password"),
    path("<str:address>/quota/", views.mailbox_quota, name="mailbox-quota"),
    path("<str:address>/delete/", views.mailbox_delete, name="mailbox-delete"),
]
