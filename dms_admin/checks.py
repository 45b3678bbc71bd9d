"""Misconfiguration shows as a system check (and on the health page), never as a 500."""

from __future__ import annotations

import os
import shutil
from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register


@register()
def config_dir_check(app_configs: Any, **kwargs: Any) -> list[Any]:
    path = settings.DMS_CONFIG_DIR
    if not path.is_dir():
        return [
            Warning(
                f"DMS_CONFIG_DIR {path} does not exist.",
                hint="Mount DMS's config folder and set DMS_CONFIG_DIR.",
                id="dms_admin.W002",
            )
        ]
    if not os.access(path, os.W_OK):
        return [
            Warning(
                f"DMS_CONFIG_DIR {path} is not writable.",
                hint="Mount it read-write for the admin and worker.",
                id="dms_admin.W003",
            )
        ]
    return []


@register()
def git_check(app_configs: Any, **kwargs: Any) -> list[Any]:
    if shutil.which("git") is None:
        return [
            Error("git is not installed; the config history needs it.", hint="apt-get install git", id="dms_admin.E003")
        ]
    return []


@register(deploy=True)
def debug_check(app_configs: Any, **kwargs: Any) -> list[Any]:
    if settings.DEBUG:
        return [Warning("DEBUG is on: error pages show settings and code.", hint="Unset DEBUG.", id="dms_admin.W001")]
    return []
