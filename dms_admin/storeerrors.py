"""Why the config store refused or failed a change, in words an admin understands."""

from __future__ import annotations

from dms_admin.revert import FileConflict


class ConfigStoreError(Exception):
    """A change could not be made; the message says why in words an admin understands."""


class ConfigLockTimeout(ConfigStoreError):
    pass


class HistoryNotFound(ConfigStoreError):
    """No such commit in the history, or no such file in that commit."""


class RollbackConflict(ConfigStoreError):
    """A later change touched the lines a rollback would undo; `conflicts` says which."""

    def __init__(self, conflicts: list[FileConflict]) -> None:
        lines = "; ".join(c.summary() for c in conflicts)
        super().__init__(f"Not rolled back: a later change touched the same lines ({lines}).")
        self.conflicts = conflicts
