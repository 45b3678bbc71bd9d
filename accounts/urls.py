from django.urls import path

from accounts import views, views_aliases, views_relays

app_name = "accounts"

urlpatterns = [
    path("", views.mailbox_list, name="mailbox-list"),
    path("relays/", views_relays.relay_list, name="relay-list"),
    path("relays/<str:domain>/delete/", views_relays.relay_delete, name="relay-delete"),
    path("restrictions/", views_relays.restriction_add, name="restriction-add"),
    path(
        "restrictions/<str:direction>/<str:address>/delete/", views_relays.restriction_delete, name="restriction-delete"
    ),
    path("aliases/", views_aliases.alias_list, name="alias-list"),
    path("aliases/regexp/", views_aliases.regexp_create, name="regexp-create"),
    path("aliases/regexp/<str:id>/delete/", views_aliases.regexp_delete, name="regexp-delete"),
    path("aliases/<str:address>/", views_aliases.alias_edit, name="alias-edit"),
    path("aliases/<str:address>/delete/", views_aliases.alias_delete, name="alias-delete"),
    path("new/", views.mailbox_create, name="mailbox-create"),
    path("<str:address>/password/", views.mailbox_password, name="mailbox-password"),
    path("<str:address>/quota/", views.mailbox_quota, name="mailbox-quota"),
    path("<str:address>/delete/", views.mailbox_delete, name="mailbox-delete"),
]
