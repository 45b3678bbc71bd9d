"""Keeps secret values of `mailserver.env` out of the version history.

Used as a git clean filter (`python -m dms_admin.redact` reads stdin, writes stdout), for the
diffs we show, and in reverse on rollback so a restored file keeps the live secret values.
"""

from __future__ import annotations

import re
import sys

REDACTED = "**redacted**"

# Variables whose value is a credential: RELAY_PASSWORD, LDAP_BIND_PW, SASL_PASSWD,
# DOVECOT_..._PASSWORD, anything *_SECRET / *_TOKEN. `*_FILE` names only point at a secret.
_SECRET_LINE = re.compile(
    r"^(?P<head>\s*(?:export\s+)?"
    r"(?P<name>[A-Za-z0-9_]*(?:PASSWORD|PASSWD|_PW|SECRET|TOKEN)(?:_[A-Z0-9]+)*)"
    r"\s*=\s*)(?P<value>.*)$"
)

# Files whose secret variables are redacted in history (others are left alone).
REDACTED_FILES = ("mailserver.env",)


def _is_secret_value(name: str, value: str) -> bool:
    return not name.endswith("_FILE") and value.strip() not in ("", "''", '""')


def redact_env_text(text: str) -> str:
    out = []
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\n")
        match = _SECRET_LINE.match(body)
        if match and _is_secret_value(match["name"], match["value"]):
            line = match["head"] + REDACTED + line[len(body) :]
        out.append(line)
    return "".join(out)


def unredact_env_text(old: str, current: str) -> str:
    """Put the live secret values from `current` back into a redacted `old` text."""
    live: dict[str, str] = {}
    for line in current.splitlines():
        match = _SECRET_LINE.match(line)
        if match:
            live[match["name"]] = match["value"]
    out = []
    for line in old.splitlines(keepends=True):
        body = line.rstrip("\n")
        match = _SECRET_LINE.match(body)
        if match and match["value"] == REDACTED:
            if match["name"] not in live:
                continue  # the secret no longer exists; better no line than a fake value
            line = match["head"] + live[match["name"]] + line[len(body) :]
        out.append(line)
    return "".join(out)


def main() -> None:
    data = sys.stdin.buffer.read().decode("utf-8", errors="surrogateescape")
    sys.stdout.buffer.write(redact_env_text(data).encode("utf-8", errors="surrogateescape"))


if __name__ == "__main__":
    main()
