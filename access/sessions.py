"""A user's panel sessions."""

from __future__ import annotations


def sessions_end(*, user_id: int | None) -> int:
    """End every session of a user (other browsers, stolen cookies); returns how many."""
    from django.contrib.sessions.models import Session

    mine = [s.pk for s in Session.objects.iterator() if s.get_decoded().get("_auth_user_id") == str(user_id)]
    Session.objects.filter(pk__in=mine).delete()
    return len(mine)
