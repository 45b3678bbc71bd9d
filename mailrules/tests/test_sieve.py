"""mailrules.sieve: rendering, merging into a hand-written script, reading back, and refusing unsafe values."""

from __future__ import annotations

import dataclasses
import datetime

import pytest

from mailrules import sieve
from mailrules.sieve import END, MailRules, RulesError, Vacation, merge_into, parse_rules, render_rules, tokenize

FULL = MailRules(
    vacation=Vacation(
        enabled=True,
        start=datetime.date(2026, 7, 1),
        end=datetime.date(2026, 7, 31),
        subject='Away "for now" \\ back soon — ünïcode',
        text="Hello,\n.\n..dots\nI am away.\n\nRegards\n",
        days=3,
        addresses=("user@example.com", "alias@example.com"),
    ),
    forward_to=("other@example.org", "third@example.net"),
    keep_copy=True,
)


@pytest.mark.parametrize(
    "rules",
    [
        MailRules(),
        FULL,
        MailRules(forward_to=("a@example.org",), keep_copy=False),
        MailRules(vacation=Vacation(enabled=True, text="Away.")),
        MailRules(vacation=Vacation(enabled=False, subject="Kept", text="Kept while off", days=10)),
        MailRules(vacation=Vacation(enabled=True, start=datetime.date(2026, 1, 2), text="x")),
    ],
)
def test_round_trip(rules):
    script = render_rules(rules)
    assert parse_rules(script) == rules
    assert parse_rules(merge_into(script, rules)) == rules


def test_requires_only_what_is_used():
    assert "require" not in render_rules(MailRules())
    assert 'require ["copy"];' in render_rules(MailRules(forward_to=("a@example.org",)))
    assert "require" not in render_rules(MailRules(forward_to=("a@example.org",), keep_copy=False))
    assert 'require ["vacation"];' in render_rules(MailRules(vacation=Vacation(enabled=True, text="x")))
    assert 'require ["vacation", "date", "relational", "copy"];' in render_rules(FULL)


def test_vacation_never_answers_lists_bulk_or_spam():
    script = render_rules(FULL)
    for needle in ('"list-id"', '"list-unsubscribe"', '"bulk", "list", "junk"', '"x-spam-flag" "YES"'):
        assert needle in script
    assert 'currentdate :value "ge" "date" "2026-07-01"' in script
    assert 'currentdate :value "le" "date" "2026-07-31"' in script


def test_disabled_vacation_is_kept_but_never_runs():
    script = render_rules(MailRules(vacation=Vacation(subject="s", text="t")))
    assert "if allof(false," in script


def test_quoting_and_dot_stuffing():
    script = render_rules(FULL)
    assert ':subject "Away \\"for now\\" \\\\ back soon' in script
    assert "text:\nHello,\n..\n...dots\n" in script and "\r" not in script
    # A text that is only a dot cannot end the block early.
    rules = MailRules(vacation=Vacation(enabled=True, text='.\n.\nredirect "evil@example.org";'))
    script = render_rules(rules)
    assert parse_rules(script) == rules
    assert [t for t in tokenize(script) if t == ("ident", "redirect")] == []


@pytest.mark.parametrize(
    "subject", ['x"; redirect "evil@example.org";\r\n', "line\nbreak", "nul\x00", "tab\tbad", "x" * 201]
)
def test_subject_injection_refused(subject):
    with pytest.raises(RulesError):
        render_rules(MailRules(vacation=Vacation(enabled=True, subject=subject, text="t")))


def test_quote_in_subject_stays_inside_the_string():
    script = render_rules(MailRules(vacation=Vacation(enabled=True, subject='x"; redirect "e@example.org', text="t")))
    assert [t for t in tokenize(script) if t == ("ident", "redirect")] == []


@pytest.mark.parametrize(
    "address",
    [
        "",
        "no-at",
        "a@b",
        'a"@example.org',
        "a@example.org\n",
        "a b@example.org",
        "a@exa mple.org",
        "a@-x.org",
        "a@example.org\x00",
        '"; discard; "@example.org',
        "a@example..org",
    ],
)
def test_bad_addresses_refused(address):
    with pytest.raises(RulesError):
        render_rules(MailRules(forward_to=(address,)))
    with pytest.raises(RulesError):
        render_rules(MailRules(vacation=Vacation(enabled=True, text="t", addresses=(address,))))


@pytest.mark.parametrize(
    "vacation",
    [
        Vacation(enabled=True, text="t", days=0),
        Vacation(enabled=True, text="t", days=366),
        Vacation(enabled=True, text="   "),
        Vacation(enabled=True, text="t", start=datetime.date(2026, 2, 1), end=datetime.date(2026, 1, 1)),
        Vacation(enabled=True, text="nul\x00"),
    ],
)
def test_bad_vacation_refused(vacation):
    with pytest.raises(RulesError):
        render_rules(MailRules(vacation=vacation))


def test_duplicate_forward_refused():
    with pytest.raises(RulesError):
        render_rules(MailRules(forward_to=("a@example.org", "a@example.org")))


HAND = """# my filters
require ["fileinto", "envelope"];
require "imap4flags";

if header :contains "subject" "[list]" {
  fileinto "Lists";
  stop;
}
"""


def test_merge_keeps_hand_written_part_and_requires_on_top():
    merged = merge_into(HAND, FULL)
    before, _, after = merged.partition(render_rules(FULL))
    assert before == '# my filters\nrequire ["fileinto", "envelope"];\nrequire "imap4flags";\n\n'
    assert after == 'if header :contains "subject" "[list]" {\n  fileinto "Lists";\n  stop;\n}\n'
    assert parse_rules(merged) == FULL


def test_merge_replaces_our_region_in_place():
    first = merge_into(HAND, FULL)
    second = merge_into(first, MailRules(forward_to=("x@example.org",), keep_copy=False))
    assert second.replace(render_rules(MailRules(forward_to=("x@example.org",), keep_copy=False)), "") == HAND
    assert parse_rules(second).forward_to == ("x@example.org",)
    assert merge_into(second, MailRules()).count("dms-admin") == 2


def test_merge_into_empty_and_no_region():
    assert merge_into("", FULL) == render_rules(FULL)
    assert parse_rules(HAND) == MailRules()


def test_region_without_end_refused():
    broken = merge_into(HAND, FULL).replace(END, "# the end")
    with pytest.raises(RulesError):
        merge_into(broken, FULL)
    with pytest.raises(RulesError):
        parse_rules(broken)


def test_without_region_gives_back_the_hand_written_script_exactly():
    own = 'require "fileinto";\nif header :contains "subject" "x" { fileinto "X"; }\n'
    merged = sieve.merge_into(own, MailRules(forward_to=("a@example.org",)))
    assert sieve.BEGIN in merged
    assert sieve.without_region(merged) == own
    assert sieve.hand_written(merged) == own.strip()
    assert sieve.without_region(own) == own and sieve.hand_written(sieve.render_rules(MailRules())) == ""


def test_vacation_dates_in_a_named_time_zone_use_its_offset_and_read_back():
    vacation = Vacation(
        enabled=True,
        start=datetime.date(2026, 7, 1),
        end=datetime.date(2026, 7, 14),
        text="Away",
        timezone="Europe/Berlin",
    )
    script = render_rules(MailRules(vacation=vacation))
    assert 'currentdate :zone "+0200" :value "ge" "date" "2026-07-01"' in script
    assert 'currentdate :zone "+0200" :value "le" "date" "2026-07-14"' in script
    assert parse_rules(script).vacation == vacation
    winter = dataclasses.replace(vacation, start=datetime.date(2026, 12, 20), end=None)
    assert ':zone "+0100"' in render_rules(MailRules(vacation=winter))


@pytest.mark.parametrize("name", ["../../etc/passwd", "Europe/../etc", "Mars/Olympus", "Europe", "x" * 80, "UTC\n"])
def test_bad_time_zone_names_refused(name):
    with pytest.raises(RulesError, match="time zone"):
        render_rules(MailRules(vacation=Vacation(enabled=True, text="x", timezone=name)))


FILTERS = (
    sieve.Filter("subject", "contains", 'invoice "42"', "fileinto", "Invoices/2026"),
    sieve.Filter("from", "is", "news@example.org", "seen"),
    sieve.Filter("header", "matches", "*spam*", "discard", header="X-Spam-Flag"),
    sieve.Filter("to", "contains", "sales@", "redirect", "boss@example.org"),
)


def test_filters_render_with_their_requires_and_read_back():
    rules = MailRules(forward_to=("a@example.org",), keep_copy=False, filters=FILTERS)
    script = render_rules(rules)
    assert 'require ["fileinto", "mailbox", "imap4flags", "copy"];' in script
    assert 'if header :contains "subject" "invoice \\"42\\"" { fileinto :create "Invoices/2026"; }' in script
    assert 'if header :is "from" "news@example.org" { addflag "\\\\Seen"; }' in script
    assert 'if header :matches "X-Spam-Flag" "*spam*" { discard; }' in script
    assert 'if header :contains "to" "sales@" { redirect :copy "boss@example.org"; }' in script
    assert 'redirect "a@example.org";' in script  # the forward is not mistaken for a filter's, nor back
    assert parse_rules(script) == rules


@pytest.mark.parametrize(
    "one",
    [
        sieve.Filter("subject", "contains", "x\nredirect", "discard"),
        sieve.Filter("body", "contains", "x", "discard"),
        sieve.Filter("subject", "regex", "x", "discard"),
        sieve.Filter("subject", "contains", "x", "vacation"),
        sieve.Filter("header", "is", "x", "discard", header="X Bad:"),
        sieve.Filter("subject", "is", "", "discard"),
        sieve.Filter("subject", "is", "x", "fileinto", ""),
        sieve.Filter("subject", "is", "x", "fileinto", "a\x00b"),
        sieve.Filter("subject", "is", "x", "redirect", "not an address"),
    ],
)
def test_bad_filters_refused(one):
    with pytest.raises(RulesError):
        render_rules(MailRules(filters=(one,)))
