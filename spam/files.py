"""Pure functions over what SpamAssassin, sa-learn, rspamc and Amavis print or read. No I/O."""

from __future__ import annotations

import dataclasses
import re

RULES_FILE = "spamassassin-rules.cf"
AMAVIS_FILE = "amavis.cf"
MIN_SPAM = 200  # bayes_min_spam_num: SA's default, DMS does not change it (spec §6)
MIN_HAM = 200  # bayes_min_ham_num; Rspamd's min_learns is 200 too

# spec §6: four numeric columns and a name; the third column is the value.
_MAGIC = re.compile(r"^\s*\S+\s+\S+\s+(\d+)\s+\S+\s+non-token data: (.+)$")
_LEARNED = re.compile(r"Learned tokens from (\d+) message\(s\) \((\d+) message\(s\) examined\)")
_RSPAMD_STATFILE = re.compile(r"Statfile:\s*(BAYES_SPAM|BAYES_HAM)\b(.*)$", re.MULTILINE)
_RSPAMD_LEARNED = re.compile(r"learned:\s*(\d+)")
_RSPAMD_LENGTH = re.compile(r"length:\s*(\d+)")
# "warn: config: failed to parse line in /tmp/x/spamassassin-rules.cf (line 3): headr BAD …"
_LINT_WARN = re.compile(r"^(?:.*?\[\d+\]\s+)?(?:warn|error):\s*(.+)$")
_LINT_LINE = re.compile(r"\bin (\S+) \(line (\d+)\):\s*(.*)$")
_LINT_RULE = re.compile(r"\b(?:for rule|for|rule)\s+([A-Za-z_][A-Za-z0-9_]*)\b")
_LINT_SUMMARY = re.compile(r"^lint: \d+ issues? detected")
_RULE_DEF = re.compile(r"^\s*(?:header|body|rawbody|full|uri|meta|mimeheader|askdns|uri_detail)\s+([A-Za-z0-9_]+)\b")

AMAVIS_SUBDOMAINS_LINE = '@local_domains_maps = (".");'
_AMAVIS_SUBDOMAINS = re.compile(r"""^\s*@local_domains_maps\s*=\s*\(\s*(["'])\.\1\s*\)\s*;""")
_AMAVIS_COMMENT = "# dms-admin: add SpamAssassin x-headers for subdomains too (DMS FAQ)"
_AMAVIS_TRUE = re.compile(r"^\s*1\s*;")
# What DMS ships as 50-user, which amavis.cf replaces (spec §1.11).
AMAVIS_DEFAULT = """use strict;

#
# Place your configuration directives here.  They will override those in
# earlier files.
#
# See /usr/share/doc/amavisd-new/ for documentation and examples of
# the directives you can use in this file
#

1;  # ensure a defined return
"""


@dataclasses.dataclass(frozen=True)
class BayesStats:
    nspam: int = 0
    nham: int = 0
    ntokens: int = 0

    def missing(self, min_spam: int = MIN_SPAM, min_ham: int = MIN_HAM) -> tuple[int, int]:
        return max(0, min_spam - self.nspam), max(0, min_ham - self.nham)

    @property
    def active(self) -> bool:
        return self.missing() == (0, 0)


@dataclasses.dataclass(frozen=True)
class LintProblem:
    line: int | None  # 1-based line of the rules file, when the message lets us tell
    message: str


def parse_dump_magic(text: str) -> BayesStats:
    """`sa-learn --dump magic`; no database yet (an error instead of the lines) reads as zeros."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        match = _MAGIC.match(line)
        if match:
            values[match[2].strip()] = int(match[1])
    return BayesStats(values.get("nspam", 0), values.get("nham", 0), values.get("ntokens", 0))


def parse_rspamc_stat(text: str) -> BayesStats:
    """`rspamc stat`: the `learned:` of the BAYES_SPAM and BAYES_HAM statfiles (tokens: their `length:`)."""
    learned = {"BAYES_SPAM": 0, "BAYES_HAM": 0}
    tokens = 0
    for match in _RSPAMD_STATFILE.finditer(text):
        rest = match[2]
        if count := _RSPAMD_LEARNED.search(rest):
            learned[match[1]] += int(count[1])
        if length := _RSPAMD_LENGTH.search(rest):
            tokens += int(length[1])
    return BayesStats(learned["BAYES_SPAM"], learned["BAYES_HAM"], tokens)


def parse_learned(text: str) -> tuple[int, int]:
    """(learned, examined) summed over every `Learned tokens from N message(s) (M … examined)` line."""
    learned = examined = 0
    for match in _LEARNED.finditer(text):
        learned += int(match[1])
        examined += int(match[2])
    return learned, examined


def parse_rspamc_learn(text: str) -> tuple[int, int]:
    """(learned, examined) from `rspamc learn_spam|learn_ham <dir>`: one `Results for file` per message."""
    examined = len(re.findall(r"^Results for file:", text, re.MULTILINE))
    learned = len(re.findall(r"success\s*=\s*true", text))
    return learned, examined


def parse_lint(output: str, text: str, filename: str = RULES_FILE) -> list[LintProblem]:
    """The warnings of `spamassassin --lint`, each with the line of `text` it is about when we can tell.

    SA names the line for parse failures; for a bad regexp or meta expression it names the rule,
    whose definition line we look up.
    """
    definitions: dict[str, int] = {}
    for number, source in enumerate(text.splitlines(), 1):
        if match := _RULE_DEF.match(source):
            definitions.setdefault(match[1], number)
    problems = []
    for raw in output.splitlines():
        match = _LINT_WARN.match(raw.strip())
        if not match:
            continue
        message = match[1].strip()
        if _LINT_SUMMARY.match(message):
            continue
        line: int | None = None
        if located := _LINT_LINE.search(message):
            if not located[1].endswith("/" + filename) and located[1] != filename:
                continue  # a problem in the image's own files: not the admin's to fix here
            line = int(located[2])
            message = f"{message[: located.start()].rstrip()}: {located[3]}"  # the temp path means nothing to the admin
        elif rule := _LINT_RULE.search(message):
            line = definitions.get(rule[1])
        problems.append(LintProblem(line, message.removeprefix("config: ")))
    return problems


def number_lines(text: str) -> list[tuple[int, str]]:
    return list(enumerate(text.splitlines(), 1))


# ---- amavis.cf ---------------------------------------------------------------------------------


def amavis_subdomains(text: str) -> bool:
    return any(_AMAVIS_SUBDOMAINS.match(line) for line in text.splitlines())


def amavis_set_subdomains(text: str, enabled: bool) -> str:
    """`text` with `@local_domains_maps = (".");` added or removed; the rest kept, ending in `1;`.

    Amavis `do`es the file and needs a true value at its end, or it refuses to start (spec §1.11).
    """
    lines = (text or AMAVIS_DEFAULT).replace("\r\n", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    lines = [line for line in lines if not _AMAVIS_SUBDOMAINS.match(line) and line.strip() != _AMAVIS_COMMENT]
    last_true = _final_true_index(lines)
    if last_true is None:
        lines.append("1;")
        last_true = len(lines) - 1
    if enabled:
        lines[last_true:last_true] = [_AMAVIS_COMMENT, AMAVIS_SUBDOMAINS_LINE]
    return "\n".join(lines) + "\n"


def _final_true_index(lines: list[str]) -> int | None:
    """The `1;` that ends the file (only blank lines and comments after it), if there is one."""
    for index in range(len(lines) - 1, -1, -1):
        stripped = lines[index].strip()
        if not stripped or stripped.startswith("#"):
            continue
        return index if _AMAVIS_TRUE.match(stripped) else None
    return None


# ---- training commands ---------------------------------------------------------------------------

MAIL_ROOT = "/var/mail"
BAYES_DIR = "/var/mail-state/lib-amavis/.spamassassin"
_FOLDER = re.compile(r"^[A-Za-z0-9_.*?\[\]-]{1,100}$")  # used unquoted in a bash glob: no spaces
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9-]{1,63}\.)+[a-z0-9-]{1,63}$")
_LOCAL = re.compile(r"^[a-z0-9._+-]{1,64}$")


def folder_ok(folder: str) -> bool:
    """A Maildir folder pattern (`.Junk`, `.Archives*`, `.INBOX.*`, `cur` for the inbox): no paths, no shell."""
    return bool(_FOLDER.match(folder)) and ".." not in folder and "/" not in folder


def scope_roots(scope: str, target: str) -> str:
    """The mailbox folders a scope covers, as a shell glob under /var/mail (Maildir: domain/user)."""
    if scope == "all":
        return f"{MAIL_ROOT}/*/*"
    if scope == "domain":
        if not _DOMAIN.match(target):
            raise ValueError(f"{target!r} is not a domain.")
        return f"{MAIL_ROOT}/{target}/*"
    local, _, domain = target.partition("@")
    if not _LOCAL.match(local) or not _DOMAIN.match(domain):
        raise ValueError(f"{target!r} is not a mailbox address.")
    return f"{MAIL_ROOT}/{domain}/{local}"


def folder_globs(root: str, folder: str) -> list[str]:
    """The Maildir `cur` and `new` of `folder` below `root` (`cur`/`new`/"" mean the inbox)."""
    if folder in ("", "INBOX", "cur", "new"):
        return [f"{root}/cur", f"{root}/new"]
    return [f"{root}/{folder}/cur", f"{root}/{folder}/new"]
