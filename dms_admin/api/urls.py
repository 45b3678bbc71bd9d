from django.urls import include, path, re_path

from accounts import api as accounts_api
from accounts import api_domains, api_relays
from dms_admin.activity import api as activity
from dms_admin.api import views
from dms_admin.api.schema import DocsView, SchemaView
from dms_admin.mailserver_env import api as mailserver_env
from dms_admin.ops import api as ops
from mailrules import api as mailrules_api

urlpatterns = [
    path("schema/", SchemaView.as_view(), name="api-schema"),
    path("docs/", DocsView.as_view(url_name="api-schema"), name="api-docs"),
    path("mailboxes/", accounts_api.mailbox_list, name="api-mailbox-list"),
    path("mailboxes/<str:address>/", accounts_api.mailbox_detail, name="api-mailbox-detail"),
    path("mailboxes/<str:address>/vacation/", mailrules_api.vacation, name="api-mailbox-vacation"),
    path("mailboxes/<str:address>/forwarding/", mailrules_api.forwarding, name="api-mailbox-forwarding"),
    path("mailboxes/<str:address>/filters/", mailrules_api.filters, name="api-mailbox-filters"),
    path("mailboxes/<str:address>/sieve/", mailrules_api.script, name="api-mailbox-sieve"),
    path("mailboxes/<str:address>/sieve/validate/", mailrules_api.script_validate, name="api-mailbox-sieve-validate"),
    path("quotas/<str:address>/", accounts_api.quota_detail, name="api-quota-detail"),
    path("aliases/", accounts_api.alias_list, name="api-alias-list"),
    path("aliases/<str:address>/", accounts_api.alias_detail, name="api-alias-detail"),
    path("regexp-aliases/", accounts_api.regexp_list, name="api-regexp-list"),
    path("regexp-aliases/<str:id>/", accounts_api.regexp_detail, name="api-regexp-detail"),
    path("domains/", api_domains.domain_list, name="api-domain-list"),
    path("domains/<str:domain>/dns/", api_domains.domain_dns, name="api-domain-dns"),
    path("domains/<str:domain>/dkim/", api_domains.domain_dkim, name="api-domain-dkim"),
    path(
        "domains/<str:domain>/dkim/<str:selector>/", api_domains.domain_dkim_selector, name="api-domain-dkim-selector"
    ),
    path("relays/", api_relays.relay_list, name="api-relay-list"),
    path("relays/<str:domain>/", api_relays.relay_detail, name="api-relay-detail"),
    path("restrictions/", api_relays.restriction_list, name="api-restriction-list"),
    path("audit/", activity.audit, name="api-audit"),
    path("backups/", include("backups.api_urls")),
    path("spam/", include("spam.api_urls")),
    path("history/", activity.history_list, name="api-history-list"),
    path("history/<str:sha>/", activity.history_detail, name="api-history-detail"),
    path("history/<str:sha>/rollback/", activity.history_rollback, name="api-history-rollback"),
    path("history/<str:sha>/restore-file/", activity.history_restore_file, name="api-history-restore-file"),
    path("apply/", activity.apply, name="api-apply"),
    path("settings/", mailserver_env.settings_api, name="api-settings"),
    path("settings/validate/", mailserver_env.settings_validate, name="api-settings-validate"),
    path("container/", ops.container, name="api-container"),
    path("health/", ops.health_detail, name="api-health"),
    path("logs/", ops.log_list, name="api-log-list"),
    path("fail2ban/", ops.fail2ban_list, name="api-fail2ban-list"),
    path("fail2ban/ban/", ops.fail2ban_ban, name="api-fail2ban-ban"),
    path("fail2ban/unban/", ops.fail2ban_unban, name="api-fail2ban-unban"),
    path("updates/", ops.update_list, name="api-update-list"),
    path("jobs/", activity.job_list, name="api-job-list"),
    path("jobs/<uuid:run_id>/", activity.job_detail, name="api-job-detail"),
    path("jobs/<uuid:run_id>/cancel/", activity.job_cancel, name="api-job-cancel"),
    path("jobs/<uuid:run_id>/stop/", activity.job_stop, name="api-job-stop"),
    # Last: anything else under /api/v1/ is a JSON 404.
    re_path(r"^(?P<path>[\s\S]*)$", views.not_found, name="api-not-found"),  # [\s\S]: a path with a newline too
]
