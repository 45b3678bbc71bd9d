"""What a write that leaves a config file without content does: keep the file empty, or remove it.

DMS reads most of its files only if they exist, and an existing empty file is not always the same
to it as no file. One rule per file dms-admin writes, each with its reason (dms-spec.md, and DMS's
own scripts where the spec is silent). The config store applies it to every text write
(`Change.write`); raw byte writes (rollback, restore) put back exactly what was there. A removal
is a change like any other: committed to the history (secrets aside) and rolled back as one.

Removing a file DMS's change detector watches is not applied until a re-create (spec §2.1: a
deleted file yields no new checksum line); the apply planner knows that (apply.action_for).
"""

from __future__ import annotations

import dataclasses

KEEP = "keep"
REMOVE = "remove"


@dataclasses.dataclass(frozen=True)
class Rule:
    when_empty: str  # KEEP or REMOVE
    why: str


RULES: dict[str, Rule] = {
    "postfix-accounts.cf": Rule(
        KEEP,
        "watched: DMS never notices a deleted file (spec §2.1), the old accounts "
        "would stay live until a re-create; empty means no accounts",
    ),
    "postfix-virtual.cf": Rule(
        KEEP,
        "watched: a deletion is not applied (spec §2.1); DMS copies an empty file to an empty /etc/postfix/virtual",
    ),
    "postfix-regexp.cf": Rule(
        KEEP,
        "watched: a deletion is not applied, /etc/postfix/regexp would keep the old "
        "patterns (aliases.sh copies it only when it exists); an empty PCRE table "
        "matches nothing",
    ),
    "dovecot-quotas.cf": Rule(
        KEEP,
        "DMS itself creates it empty at start when quotas are on and it is missing "
        "(setup.d/dovecot.sh); a deletion is not applied either",
    ),
    "postfix-relaymap.cf": Rule(
        KEEP,
        "watched: emptied, the change detector rebuilds relayhost_map empty at once; "
        "removed, the old relay routes stay live until a re-create (spec §2.1)",
    ),
    "postfix-sasl-password.cf": Rule(
        REMOVE,
        "while it exists, even empty or only comments, DMS's relay setup "
        "turns on SASL and smtp_tls_security_level=encrypt for all outbound "
        "mail at every start (relay.sh _relayhost_sasl); only absence means "
        "no relay credentials",
    ),
    "postfix-send-access.cf": Rule(
        KEEP,
        "Postfix reads it as texthash straight from the folder once DMS hooked it "
        "in at start (spec §1.9): removed, every lookup fails and mail is "
        "deferred until a re-create; an empty table refuses no one",
    ),
    "postfix-receive-access.cf": Rule(KEEP, "as postfix-send-access.cf (spec §1.9)"),
    "mailserver.env": Rule(
        KEEP,
        "an empty file means every default (spec §3), and compose refuses to start a service whose env_file is missing",
    ),
    "amavis.cf": Rule(
        REMOVE,
        "DMS replaces Amavis's 50-user with it, which must end with a true value "
        "(`1;`, spec §1.11); without the file Amavis keeps the image's own 50-user",
    ),
    "spamassassin-rules.cf": Rule(
        KEEP,
        "DMS copies it into /etc/spamassassin/ when it exists (misc.sh): an "
        "empty rules file and none are the same to SpamAssassin",
    ),
    "opendkim/KeyTable": Rule(
        KEEP,
        "DMS copies opendkim/ into /etc/opendkim only when KeyTable exists "
        "(dmarc_dkim_spf.sh), TrustedHosts included; it creates empty tables itself "
        "otherwise, so OpenDKIM runs with empty ones",
    ),
    "opendkim/SigningTable": Rule(KEEP, "an empty refile table signs nothing; DMS creates it empty itself"),
    "opendkim/TrustedHosts": Rule(KEEP, "DMS creates it empty itself when there is none"),
    "rspamd/override.d/dkim_signing.conf": Rule(
        KEEP, "watched tree: a deleted override stays in Rspamd's override.d until a re-create (spec §2.1)"
    ),
    "rspamd/custom-commands.conf": Rule(KEEP, "watched tree: a deletion is not applied; empty means no commands"),
}


def is_blank(data: bytes) -> bool:
    """No line with content: only blank lines and whole-line `#` comments (DMS's own reading, spec §1.1)."""
    return all(not line.strip() or line.lstrip().startswith(b"#") for line in data.splitlines())


def content_to_write(rel: str, data: bytes) -> bytes | None:
    """`data` for `rel`, or None when the file is to be removed instead of written blank."""
    rule = RULES.get(rel)
    if rule is not None and rule.when_empty == REMOVE and is_blank(data):
        return None
    return data
