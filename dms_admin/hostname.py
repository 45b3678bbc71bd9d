"""The mail server's host name, as DMS sees it."""

from __future__ import annotations

import contextlib

from django.conf import settings

from dms_admin.configstore import (
    get_store,
)
from dms_admin.dms import DockerUnavailable, get_mailserver


def mail_hostname() -> str:
    """The mail server's public name: the setting, OVERRIDE_HOSTNAME, or the container's FQDN."""
    from dms_admin.envfile import parse_env

    if settings.DMS_MAIL_HOSTNAME:
        return str(settings.DMS_MAIL_HOSTNAME)
    override = parse_env(get_store().read("mailserver.env")).get("OVERRIDE_HOSTNAME", "").strip()
    if override:
        return override
    with contextlib.suppress(DockerUnavailable):
        return get_mailserver().hostname()
    return ""
