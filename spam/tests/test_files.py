# ruff: noqa: E501  (real tool output, one line per line)
from __future__ import annotations

from spam import files

DUMP = """\
0.000          0          3          0  non-token data: bayes db version
0.000          0        212          0  non-token data: nspam
0.000          0        187          0  non-token data: nham
0.000          0     104233          0  non-token data: ntokens
0.000          0 1722500000          0  non-token data: oldest atime
"""

RSPAMC = """\
Results for command: stat (0.001 seconds)
Messages scanned: 10
Statfile: BAYES_SPAM type: redis; length: 1200; free blocks: 0; total blocks: 0; free: 0.00%; learned: 12; users: 1
Statfile: BAYES_HAM type: redis; length: 800; free blocks: 0; total blocks: 0; free: 0.00%; learned: 3; users: 1
Total learns: 15
"""

LINT = """\
Nov 25 14:26:04.447 [127] warn: config: failed to parse line in /tmp/t/spamassassin-rules.cf (line 3): headr BAD Subject =~ /x/
Nov 25 14:26:04.454 [127] warn: config: invalid regexp for LOCAL_RE '/(unclosed/': Unmatched ( in regex
Nov 25 14:26:04.454 [127] warn: config: invalid expression for rule LOCAL_META: "(LOCAL_TEST &&": syntax error
Nov 25 14:26:04.455 [127] warn: config: failed to parse line in /etc/spamassassin/local.cf (line 9): oops
Nov 25 14:26:06.312 [127] warn: lint: 3 issues detected, please rerun with debug enabled for more information
"""
RULES = """\
header LOCAL_TEST Subject =~ /viagra/i
score LOCAL_TEST 5.0
headr BAD Subject =~ /x/
body LOCAL_RE /(unclosed/
meta LOCAL_META (LOCAL_TEST &&
"""


def test_it_reads_dump_magic() -> None:
    assert files.parse_dump_magic(DUMP) == files.BayesStats(212, 187, 104233)


def test_it_reads_no_database_as_zeros() -> None:
    assert files.parse_dump_magic("ERROR: Bayes dump returned an error, please re-run with -D\n") == files.BayesStats()


def test_it_reads_rspamc_stat() -> None:
    assert files.parse_rspamc_stat(RSPAMC) == files.BayesStats(12, 3, 2000)


def test_it_sums_learned_lines() -> None:
    out = "Learned tokens from 10 message(s) (10 message(s) examined)\nLearned tokens from 0 message(s) (4 message(s) examined)\n"
    assert files.parse_learned(out) == (10, 14)
    assert files.parse_learned("") == (0, 0)


def test_it_maps_lint_warnings_to_lines() -> None:
    problems = files.parse_lint(LINT, RULES)
    assert [p.line for p in problems] == [3, 4, 5]
    assert problems[0].message == "failed to parse line: headr BAD Subject =~ /x/"
    assert "Unmatched (" in problems[1].message


def test_it_says_how_many_are_missing() -> None:
    assert files.BayesStats(150, 250).missing() == (50, 0)
    assert not files.BayesStats(150, 250).active and files.BayesStats(200, 200).active


def test_it_adds_the_subdomain_line_before_the_final_true() -> None:
    text = "use strict;\n# mine\n$sa_tag_level_deflt = 2.0;\n\n1;  # ensure a defined return\n"
    on = files.amavis_set_subdomains(text, True)
    assert files.amavis_subdomains(on)
    assert on.splitlines()[-1] == "1;  # ensure a defined return"
    assert "$sa_tag_level_deflt = 2.0;" in on and "# mine" in on
    assert files.amavis_set_subdomains(on, True) == on
    assert files.amavis_set_subdomains(on, False) == text


def test_it_appends_a_final_true_when_missing() -> None:
    on = files.amavis_set_subdomains("use strict;\n$x = 1;\n", True)
    assert on.rstrip().endswith("1;") and files.amavis_subdomains(on)
    assert files.amavis_set_subdomains("", True).startswith("use strict;")
    off = files.amavis_set_subdomains("@local_domains_maps = ('.');\n1;\n", False)
    assert off == "1;\n"


def test_it_builds_scope_globs_and_refuses_bad_names() -> None:
    assert files.scope_roots("all", "") == "/var/mail/*/*"
    assert files.scope_roots("domain", "example.test") == "/var/mail/example.test/*"
    assert files.scope_roots("mailbox", "user@example.test") == "/var/mail/example.test/user"
    assert files.folder_globs("/r", ".Junk") == ["/r/.Junk/cur", "/r/.Junk/new"]
    for bad in ("../x", "a b", ".Junk;rm", "$(x)", "a/b"):
        assert not files.folder_ok(bad)
    for good in (".Junk", ".Archives*", ".INBOX.*", "cur"):
        assert files.folder_ok(good)
