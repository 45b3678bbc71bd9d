"""Which change needs what to take effect in the mail container (spec §2.4), and doing it.

`plan()` is pure: paths in, the cheapest correct action out. `changes_applied()` is what every
service calls after a config change: it audits, runs a `postfix reload` right away where that is
enough, queues the confirmation that DMS picked up a watched file, and records what needs a
re-create as pending until an admin applies it.
"""

from __future__ import annotations

import dataclasses
import enum
import fnmatch
from collections.abc import Iterable

from dms_admin.configstore import is_housekeeping


class Action(enum.IntEnum):
    NONE = 0  # not a file DMS reads
    WATCHED = 1  # DMS's change detector applies it by itself
    RELOAD = 2  # `postfix reload` by exec
    RECREATE = 3  # the container must be re-created (a restart re-reads nothing)

    @property
    def label(self) -> str:
        return self.name.lower()


# Kept by hand (fmt: skip): DMS's file names packed by kind, readable at a glance (not one a line).
WATCHED_FILES = (
    "postfix-accounts.cf", "postfix-virtual.cf", "postfix-regexp.cf", "postfix-aliases.cf",
    "dovecot-quotas.cf", "dovecot-masters.cf", "postfix-relaymap.cf", "postfix-sasl-password.cf",
)  # fmt: skip
WATCHED_TREES = ("rspamd/",)
# Postfix reads these access tables straight from the config folder, as texthash: only a
# reload re-reads them — but only if the file existed when the container started (spec §1.9).
RELOAD_FILES = ("postfix-send-access.cf", "postfix-receive-access.cf")
# Kept by hand (fmt: skip): packed like WATCHED_FILES, a table to read at a glance.
RECREATE_FILES = (
    "mailserver.env", "postfix-main.cf", "postfix-master.cf", "dovecot.cf", "amavis.cf",
    "spamassassin-rules.cf", "fail2ban-jail.cf", "fail2ban-fail2ban.cf", "whitelist_clients.local",
    "whitelist_recipients", "before.dovecot.sieve", "after.dovecot.sieve", "dhparams.pem",
    "fetchmail.cf", "ldap-*.cf", "user-patches.sh", "*.dovecot.sieve",
)  # fmt: skip
RECREATE_TREES = ("opendkim/", "ssl/", "sieve-filter/", "sieve-pipe/", "getmail/")


# Read by Rspamd straight from the config folder, at the path dkim_signing.conf names: once that
# file no longer names it (a change the detector applies), a removed key is gone for Rspamd too.
REMOVAL_WATCHED_TREES = ("rspamd/dkim/",)


def action_for(path: str, *, created: bool = False, removed: bool = False) -> Action:
    if is_housekeeping(path):
        return Action.NONE
    if path in WATCHED_FILES or path.startswith(WATCHED_TREES):
        # DMS's change detector never sees a deleted file (spec §2.1): only a re-create does.
        if removed and not path.startswith(REMOVAL_WATCHED_TREES):
            return Action.RECREATE
        return Action.WATCHED
    if path in RELOAD_FILES:  # hooked in (or out) only at start: a new or removed table needs a re-create
        return Action.RECREATE if created or removed else Action.RELOAD
    if path.startswith(RECREATE_TREES):
        return Action.RECREATE
    if "/" not in path and any(fnmatch.fnmatchcase(path, p) for p in RECREATE_FILES):
        return Action.RECREATE
    return Action.NONE


@dataclasses.dataclass(frozen=True)
class Plan:
    files: dict[str, Action]

    @property
    def action(self) -> Action:
        return max(self.files.values(), default=Action.NONE)

    def paths(self, action: Action) -> list[str]:
        return sorted(p for p, a in self.files.items() if a == action)


def plan(paths: Iterable[str], *, created: Iterable[str] = (), removed: Iterable[str] = ()) -> Plan:
    new, gone = set(created), set(removed)
    return Plan({p: action_for(p, created=p in new, removed=p in gone) for p in paths})
