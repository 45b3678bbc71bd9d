"""`mailserver.env` as Docker Compose reads it (pure functions, no I/O).

Compose's `env_file` honours quotes, so `SPAM_SUBJECT='[SPAM] '` keeps its trailing space; the
Engine API takes raw `KEY=value` strings with no quotes (spec §3).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_LINE = re.compile(r"^\s*(?:export\s+)?(?P<key>[A-Za-z_][A-Za-z0-9_]*)\s*=(?P<value>.*)$")


def _unquote(raw: str) -> str:
    value = raw.strip()
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1]
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\([\\\"$n])", lambda m: "\n" if m[1] == "n" else m[1], value[1:-1])
    # Unquoted: an inline comment starts at " #".
    return re.split(r"\s+#", value, maxsplit=1)[0].rstrip()


def parse_env(text: str) -> dict[str, str]:
    """Variables in file order; blank lines, comments and lines that are not KEY=value are skipped."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LINE.match(line)
        if match:
            values[match["key"]] = _unquote(match["value"])
    return values


def env_changes(old_text: str, new_text: str) -> dict[str, str | None]:
    """What to set (value) and unset (None) in a container's env to go from old to new."""
    old, new = parse_env(old_text), parse_env(new_text)
    changes: dict[str, str | None] = dict(new)
    changes.update({key: None for key in old if key not in new})
    return changes


def env_to_restore(before: Mapping[str, str], current: Mapping[str, str]) -> dict[str, str | None]:
    """The env changes (None removes) that take a container from `current` back to `before`."""
    back: dict[str, str | None] = {k: v for k, v in before.items() if current.get(k) != v}
    back.update({k: None for k in current if k not in before})
    return back


def merge_env(current: list[str], changes: Mapping[str, str | None]) -> list[str]:
    """Apply `changes` to a `KEY=value` list, keeping the order of what stays."""
    out: list[str] = []
    seen: set[str] = set()
    for item in current:
        key = item.split("=", 1)[0]
        if key in changes:
            seen.add(key)
            value = changes[key]
            if value is not None:
                out.append(f"{key}={value}")
        else:
            out.append(item)
    out += [f"{k}={v}" for k, v in changes.items() if k not in seen and v is not None]
    return out
