"""The settings editor's operations on `mailserver.env` (through the config store)."""

from __future__ import annotations

import contextlib
import dataclasses

from dms_admin.audit import Actor
from dms_admin.changes import ChangeOutcome, change_recorded
from dms_admin.configstore import ChangeResult, get_store
from dms_admin.dms import DockerUnavailable, get_mailserver
from dms_admin.errors import Conflict, FieldError
from dms_admin.mailserver_env import catalogue as dmsenv

ENV_FILE = "mailserver.env"


@dataclasses.dataclass(frozen=True)
class Setting:
    name: str
    value: str  # "" when unset; secrets are never returned (see `is_set`)
    is_set: bool
    var: dmsenv.Var | None  # None for a variable the catalogue does not know (kept as it is)
    deprecated: str = ""

    version: str | None = None  # the running DMS version, for the label of unknown variables

    @property
    def secret(self) -> bool:
        return self.var is not None and self.var.type == "secret"

    @property
    def label(self) -> str:
        """How the panel marks a variable DMS does not know: it stays in the file as it is."""
        if self.var is not None:
            return ""
        return f"unknown to DMS {self.version}" if self.version else "unknown to DMS"


def dms_version() -> str | None:
    with contextlib.suppress(DockerUnavailable):
        return get_mailserver().status().version
    return None


def settings_read(*, version: str | None = None) -> tuple[list[Setting], list[dmsenv.Deprecation]]:
    """Every catalogued variable (set or not), then the unknown ones in the file, plus deprecations."""
    values = dmsenv.values_of(get_store().read(ENV_FILE))
    problems = dmsenv.deprecations(values, version)
    flagged = {d.name: d.message for d in problems}
    rows = [
        Setting(
            var.name,
            "" if var.type == "secret" else values.get(var.name, ""),
            var.name in values,
            var,
            flagged.get(var.name, ""),
        )
        for var in dmsenv.CATALOGUE
    ]
    rows += [
        Setting(name, value, True, None, flagged.get(name, ""), version)
        for name, value in values.items()
        if name not in dmsenv.BY_NAME
    ]
    return rows, problems


def _validate_one(name: str, value: str | None, *, allow_unknown: bool) -> str | None:
    if value is None:
        dmsenv.validate(name, "")
        return None  # removing is always allowed: that is how a deprecated variable goes
    if not isinstance(value, str):
        raise FieldError(name, f"{name} must be text.")
    clean = dmsenv.validate(name, value)
    if name not in dmsenv.BY_NAME and not allow_unknown:
        raise FieldError(
            name,
            f"{name} is not a variable DMS knows (a typo?); DMS would ignore it. "
            'To write it anyway, send "allow_unknown": true.',
        )
    return clean


def settings_validate(updates: dict[str, str | None], *, allow_unknown: bool = False) -> dict[str, str | None]:
    """The updates as they will be written (normalised: punycode host names, no leading zeros);
    FieldError for the first bad one. Variables outside the catalogue need allow_unknown."""
    if not updates:
        raise FieldError("settings", "Nothing to change.")
    return {name: _validate_one(name, value, allow_unknown=allow_unknown) for name, value in updates.items()}


def settings_problems(updates: dict[str, str | None], *, allow_unknown: bool = False) -> dict[str, str]:
    """Every bad value at once, by variable (empty: all fine); the same checks as settings_update."""
    if not updates:
        return {"settings": "Nothing to change."}
    problems: dict[str, str] = {}
    for name, value in updates.items():
        try:
            _validate_one(name, value, allow_unknown=allow_unknown)
        except FieldError as error:
            problems[error.field] = error.message
    return problems


def unknown_warnings(updates: dict[str, str | None]) -> list[str]:
    """What to tell whoever writes variables outside the catalogue (with allow_unknown)."""
    return [
        f"{name} is not a variable DMS knows; it was written as given and DMS may ignore it."
        for name, value in updates.items()
        if value is not None and name not in dmsenv.BY_NAME
    ]


def settings_update(
    *,
    updates: dict[str, str | None],
    actor: Actor,
    dry_run: bool = False,
    message: str = "",
    allow_unknown: bool = False,
) -> tuple[ChangeResult, ChangeOutcome | None]:
    clean = settings_validate(updates, allow_unknown=allow_unknown)
    names = ", ".join(sorted(clean))
    with get_store().change(actor=actor.name, message=message or f"Settings: {names}", dry_run=dry_run) as change:
        change.write(ENV_FILE, dmsenv.render(change.read(ENV_FILE), clean))
    result = change.result
    assert result is not None
    if dry_run or not result.changed:
        return result, None
    return result, change_recorded(result, actor=actor, action="settings.update", object=names)


def settings_fix(*, name: str, actor: Actor) -> tuple[ChangeResult, ChangeOutcome | None]:
    """Apply the one-click fix of a deprecated variable."""
    values = dmsenv.values_of(get_store().read(ENV_FILE))
    fix = next((d for d in dmsenv.deprecations(values, None) if d.name == name), None)
    if fix is None:
        raise Conflict("name", f"{name} needs no fix.")
    return settings_update(updates=fix.fix, actor=actor, message=f"Fix deprecated {name}")
