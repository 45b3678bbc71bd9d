"""The history of the config folder: listing, rolling one change back, restoring a file."""

from __future__ import annotations

import contextlib
import dataclasses
import re
from datetime import datetime

from django.utils import timezone

from dms_admin.audit import Actor
from dms_admin.changes import ChangeOutcome, change_recorded
from dms_admin.configstore import ChangeResult, clean_relpath, get_store
from dms_admin.errors import FieldError
from dms_admin.historyrepo import Commit, HistoryQuery
from dms_admin.storeerrors import ConfigLockTimeout, ConfigStoreError


def history_current(*, limit: int) -> list[Commit]:
    """The latest commits, hand edits made since the last look recorded first."""
    store = get_store()
    # If a write holds the lock for long, it records them itself.
    with contextlib.suppress(ConfigLockTimeout):
        store.record_external_changes()
    return store.history(limit=limit) if limit else []


def history_rollback(*, sha: str, actor: Actor, dry_run: bool = False) -> tuple[ChangeResult, ChangeOutcome | None]:
    """Undo one change's lines (RollbackConflict if later changes touched them)."""
    result = get_store().rollback(sha, actor=actor.name, dry_run=dry_run)
    if dry_run:
        return result, None
    return result, change_recorded(result, actor=actor, action="history.rollback", object=sha)


@dataclasses.dataclass(frozen=True)
class FileRestore:
    result: ChangeResult
    undone: list[Commit]  # the later changes to the file that the restore undoes, newest first
    outcome: ChangeOutcome | None = None  # None for a preview


def history_restore_file(*, sha: str, path: str, actor: Actor, dry_run: bool = False) -> FileRestore:
    """Put one file back as it was right after `sha`, undoing every later change to it."""
    result, undone = get_store().restore_file(sha, path, actor=actor.name, dry_run=dry_run)
    if dry_run:
        return FileRestore(result, undone)
    outcome = change_recorded(result, actor=actor, action="history.restore-file", object=f"{path} @ {sha[:10]}")
    return FileRestore(result, undone, outcome)


HISTORY_FILTERS = ("author", "file", "action", "search", "after", "before")


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def history_query(params: dict[str, str]) -> HistoryQuery:
    """The history filters from a query string, or FieldError saying which one is wrong."""
    values = {name: str(params.get(name, "")).strip() for name in HISTORY_FILTERS}
    for name, value in values.items():
        if len(value) > 200:
            raise FieldError(name, f"{name} is too long (200 characters at most).")
        if _CONTROL.search(value):
            raise FieldError(name, f"{name} must not hold line breaks or control characters.")
    if values["file"]:
        try:
            values["file"] = clean_relpath(values["file"].rstrip("/"))
        except ConfigStoreError as error:
            raise FieldError("file", str(error)) from None
    after, before = _history_date("after", values["after"]), _history_date("before", values["before"])
    if after and before and after >= before:
        raise FieldError("before", "before must be later than after.")
    return HistoryQuery(
        author=values["author"],
        path=values["file"],
        action=values["action"],
        search=values["search"],
        after=after,
        before=before,
    )


def _history_date(name: str, value: str) -> datetime | None:
    """A date (the start of that day, in the server's time zone) or an ISO 8601 date and time."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise FieldError(name, f"{name} must be a date like 2025-01-31 or a time like 2025-01-31T14:00.") from None
    if parsed.tzinfo is None:
        parsed = timezone.make_aware(parsed)
    if not 0 <= parsed.timestamp() < 4102444800:  # git reads dates from 1970 to 2099
        raise FieldError(name, f"{name} must be between 1970 and 2099.")
    return parsed
