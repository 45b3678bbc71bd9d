"""The archive's errors: each message says what went wrong in plain words."""

from __future__ import annotations


class ArchiveError(Exception):
    """An archive could not be written, read or restored; the message says why."""


class NotEnoughSpace(ArchiveError):
    pass


class WrongKey(ArchiveError):
    """The age secret key given does not open the archive."""
