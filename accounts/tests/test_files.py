from __future__ import annotations

import dataclasses

import pytest

from accounts.files import (
    Account,
    Alias,
    Quota,
    parse_accounts,
    parse_key_values,
    parse_quotas,
    parse_regexp,
    parse_virtual,
    quota_bytes,
)

ACCOUNTS = (
    "# accounts, edited by hand\n"
    "alice@example.com|{SHA512-CRYPT}$6$abc$def\n"
    "\n"
    "bob@example.com|{BLF-CRYPT}$2y$05$xyz|userdb_mail=maildir:~/custom\n"
    "this line is not understood\n"
)


@pytest.mark.parametrize(
    ("parse", "text"),
    [
        (parse_accounts, ACCOUNTS),
        (parse_virtual, "# aliases\n@example.com catch@example.com\nteam@example.com a@example.com,b@example.com\n"),
        (parse_regexp, "/^test[0-9]+@example\\.com$/ qa@example.com\n# x\n/^a\\/b$/i y@example.com\n"),
        (parse_quotas, "alice@example.com:5G\n# comment\nodd line\n"),
        (parse_key_values, "@example.com [smtp.mailgun.org]:587\n@other.com\n# c\n"),
        (parse_key_values, ""),
    ],
)
def test_render_of_parse_is_the_same_text(parse, text: str) -> None:  # type: ignore[no-untyped-def]
    assert parse(text).render() == text


def test_crlf_and_a_missing_final_newline_are_normalised() -> None:
    assert parse_quotas("a@x.com:1G\r\nb@x.com:2G").render() == "a@x.com:1G\nb@x.com:2G\n"


def test_accounts_keep_other_schemes_and_extra_fields() -> None:
    accounts = list(parse_accounts(ACCOUNTS).entries())
    assert accounts == [
        Account("alice@example.com", "{SHA512-CRYPT}$6$abc$def"),
        Account("bob@example.com", "{BLF-CRYPT}$2y$05$xyz", "userdb_mail=maildir:~/custom"),
    ]


def test_an_edit_keeps_every_other_line_byte_for_byte() -> None:
    file = parse_accounts(ACCOUNTS)
    line = file.find(lambda a: a.address == "alice@example.com")
    assert line is not None
    file.replace(line, Account("alice@example.com", "{SHA512-CRYPT}$6$new$hash"))
    file.append(Account("carol@example.com", "{SHA512-CRYPT}$6$c$c"))
    assert file.render() == ACCOUNTS.replace("$6$abc$def", "$6$new$hash") + "carol@example.com|{SHA512-CRYPT}$6$c$c\n"
    assert file.remove(lambda a: a.address == "bob@example.com") == 1
    assert "bob@" not in file.render() and "this line is not understood" in file.render()


def test_aliases() -> None:
    aliases = list(parse_virtual("@example.com catch@example.com\nteam@example.com a@x.com, b@x.com\n").entries())
    assert aliases[0].is_catch_all and aliases[0].domain == "example.com"
    assert aliases[1] == Alias("team@example.com", ("a@x.com", "b@x.com"))


def test_regexp_with_escaped_slash_and_flags() -> None:
    [entry] = parse_regexp("/^a\\/b$/i y@example.com\n").entries()
    assert (entry.pattern, entry.flags, entry.targets) == ("^a\\/b$", "i", ("y@example.com",))


def test_quotas() -> None:
    assert list(parse_quotas("a@x.com:5G\n").entries()) == [Quota("a@x.com", "5G")]
    assert quota_bytes("5G") == 5 * 1024**3 and quota_bytes("0") is None and quota_bytes("10k") == 10240


def test_fast_key_scans_agree_with_the_parsers() -> None:
    from accounts.files import account_keys, alias_keys, append_lines

    accounts = ACCOUNTS + "  Mixed@Example.com|{SHA512-CRYPT}$6$x$y\n|nohash\n#x@y.z|h\n"
    assert account_keys(accounts) == {a.address.lower() for a in parse_accounts(accounts).entries()}
    virtual = "# c\n@example.com catch@example.com\nTeam@example.com a@x.com, b@x.com\nlonely\n  x@y.z t@y.z\n"
    assert alias_keys(virtual) == {a.address.lower() for a in parse_virtual(virtual).entries()}
    assert append_lines("a\r\nb", ["c"]) == "a\nb\nc\n" and append_lines("", ["c"]) == "c\n"
    from accounts.files import account_exists, alias_exists

    assert account_exists(accounts, "mixed@example.com") and not account_exists(accounts, "ixed@example.com")
    assert not account_exists(accounts, "x@y.z") and not account_exists(accounts, "alice@example.co")
    assert alias_exists(virtual, "team@example.com") and alias_exists(virtual, "@example.com")
    assert not alias_exists(virtual, "lonely") and not alias_exists(virtual, "eam@example.com")
    assert alias_exists(virtual, "x@y.z") and not alias_exists("lonely@x.com   \nnext@x.com t@x.com\n", "lonely@x.com")
    assert account_exists("a@b.c \t|h", "A@B.C") and not account_exists("a@b.cd|h\nxa@b.c|h\n", "a@b.c")
    assert not account_exists("a@b.c\n|h\n", "a@b.c")  # the bar on the next line is another line


def test_effective_quotas_follow_dms_substring_lookup() -> None:
    from accounts.files import effective_quotas

    lines = [("alice.bob@x.com", "5G"), ("bob@x.com", "1G"), ("Carol@X.com", "2G"), ("ann@x.com", "3G")]
    found = effective_quotas(lines, ["bob@x.com", "carol@x.com", "dan@x.com", "lice.bob@x.com", "nn@x.com"])
    # bob has a line of his own, but DMS's first hit is alice.bob's; "nn@x.com:" is inside "ann@x.com:3G".
    assert found == {
        "bob@x.com": ("5G", "alice.bob@x.com"),
        "lice.bob@x.com": ("5G", "alice.bob@x.com"),
        "carol@x.com": ("2G", "carol@x.com"),
        "nn@x.com": ("3G", "ann@x.com"),
    }


@pytest.mark.parametrize(
    "text",
    [
        "a@x.test|{SHA512-CRYPT}$6$old\nuser@x.test|{SHA512-CRYPT}$6$old|userdb_quota_rule=*:storage=1G\nz@x.test|h\n",
        "# user@x.test|commented\r\n  USER@X.test|{PLAIN}old\r\nuser@x.test|second\r\nlast@x.test|h",
        "xuser@x.test|h\nuser@x.testx|h\nuser@x.test|old",
    ],
)
def test_with_account_hash_changes_only_that_line_as_the_full_parse_does(text: str) -> None:
    from accounts.files import parse_accounts, with_account_hash

    accounts = parse_accounts(text)
    line = accounts.find(lambda a: a.address.lower() == "user@x.test")
    assert line is not None and line.entry is not None
    accounts.replace(line, dataclasses.replace(line.entry, password_hash="{SHA512-CRYPT}$6$new"))
    assert with_account_hash(text, "user@x.test", "{SHA512-CRYPT}$6$new") == accounts.render()


@pytest.mark.parametrize(
    "text",
    ["a@x.test|h\n", "user@x.test  |h\n", "# user@x.test|h\n", "xuser@x.test|h\n", "user@x.test\n", ""],
)
def test_an_account_the_parse_does_not_read_is_not_found_by_the_key_scan_either(text: str) -> None:
    from accounts.files import has_account, parse_accounts, with_account_hash

    assert parse_accounts(text).find(lambda a: a.address.lower() == "user@x.test") is None
    assert not has_account(text, "user@x.test")
    assert with_account_hash(text, "user@x.test", "new") is None


def test_the_key_scan_reads_old_mac_line_ends_like_the_parse() -> None:
    from accounts.files import has_account, with_account_hash

    text = "a@x.test|h\ruser@x.test|old\rz@x.test|h"
    assert has_account(text, "USER@x.test")
    assert with_account_hash(text, "user@x.test", "new") == "a@x.test|h\nuser@x.test|new\nz@x.test|h\n"


VIRTUAL_SAMPLES = [
    "",
    "team@x.test user@x.test,b@x.test\nonly@x.test USER@x.test\nother@x.test b@x.test\n",
    "# user@x.test is commented\r\nteam@x.test  b@x.test , user@x.test\r\n\r\nsolo@x.test user@x.test",
    "xuser@x.test b@x.test\nteam@x.test xuser@x.test,user@x.test.org\nlast@x.test user@x.test user@x.test",
    "no-target-line\nuser@x.test b@x.test\n",
]


def _without_target_by_parse(text: str, address: str) -> str | None:
    virtual, touched = parse_virtual(text), False
    for line in list(virtual.lines):
        alias = line.entry
        if alias is not None and address in (t.lower() for t in alias.targets):
            rest, touched = tuple(t for t in alias.targets if t.lower() != address), True
            if rest:
                virtual.replace(line, dataclasses.replace(alias, targets=rest))
            else:
                virtual.lines.remove(line)
    return virtual.render() if touched else None


@pytest.mark.parametrize("text", VIRTUAL_SAMPLES)
def test_without_target_writes_what_the_full_parse_writes(text: str) -> None:
    from accounts.files import without_target

    assert without_target(text, "user@x.test") == _without_target_by_parse(text, "user@x.test")


@pytest.mark.parametrize(
    "text",
    ["", "a@x.test|h\n", "user@x.test|h\nUSER@x.test|h2|extra\r\nz@x.test|h", "# user@x.test|h\nuser@x.test  |h\n"],
)
def test_without_account_writes_what_the_full_parse_writes(text: str) -> None:
    from accounts.files import parse_accounts, without_account

    accounts = parse_accounts(text)
    removed = accounts.remove(lambda a: a.address.lower() == "user@x.test")
    assert without_account(text, "user@x.test") == (accounts.render() if removed else None)
