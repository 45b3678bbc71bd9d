# ruff: noqa: E501  (real tool output, one line per line)
from __future__ import annotations

import pytest

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


# ---- what a rules file may not say -----------------------------------------------------------------

ALLOWED = """\
# loadplugin Mail::SpamAssassin::Plugin::Foo   (a comment: not read)
header   LOCAL_TEST  Subject =~ /viagra/i   # include /etc/passwd (comment)
score LOCAL_TEST 5.0
describe LOCAL_TEST Mentions \\# a hash
ifplugin Mail::SpamAssassin::Plugin::Shortcircuit
  shortcircuit LOCAL_TEST on
endif
if (version >= 4.000000)
  header LOCAL_NO_TO eval:check_for_missing_to_header()
  body   LOCAL_STOCK eval:check_stock_info('3')
  header LOCAL_RBL   eval:check_rbl('local', 'zen.example.test.')
endif
urirhssub LOCAL_URIBL multi.uribl.example.test. A 2
body LOCAL_TABS\tlooks fine
meta LOCAL_META (LOCAL_TEST && LOCAL_NO_TO)
use_bayes 1
bayes_auto_learn 1
dns_options rotate
rbl_timeout 15
"""


def test_rules_that_only_score_and_match_are_allowed() -> None:
    assert files.rules_refusals(ALLOWED) == []
    assert files.rules_refusals("") == []


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("loadplugin Mail::SpamAssassin::Plugin::Evil /tmp/evil.pm", "loadplugin loads Perl code"),
        ("  LoadPlugin Evil", "loadplugin loads Perl code"),
        ("\ttryplugin Evil", "tryplugin loads Perl code"),
        ("LOADPLUGIN Evil", "loadplugin"),
        ("include /etc/shadow", "include reads another file"),
        ("file start /etc/spamassassin/local.cf", "file is SpamAssassin's own marker"),
        ("allow_user_rules 1", "allow_user_rules lets users' own preferences add rules"),
        ("allow-user-rules 1", "allow_user_rules"),  # SpamAssassin reads - as _
        ("bayes_path /tmp/bayes", "bayes_path moves the Bayes database"),
        ("bayes_store_module Mail::SpamAssassin::BayesStore::SQL", "bayes_store_module"),
        ("bayes_sql_dsn DBI:mysql:spam", "bayes_sql_dsn"),
        ("auto_whitelist_path /tmp/awl", "auto_whitelist_path"),
        ("auto_welcomelist_factory Evil", "auto_welcomelist_factory"),
        ("user_scores_dsn DBI:mysql:prefs", "user_scores_dsn reads per-user settings"),
        ("helper_home_dir /tmp", "helper_home_dir changes which program"),
        ("razor_config /tmp/razor.conf", "razor_config"),
        ("pyzor_options --homedir /tmp", "pyzor_options"),
        ("pyzor_path /tmp/evil", "pyzor_path"),
        ("dcc_path /tmp/evil", "dcc_path"),
        ("dcc_home /tmp", "dcc_home"),
        ("extracttext_external evil /bin/sh -c {}", "extracttext_external runs external programs"),
        ("lock_method nfssafe", "lock_method"),
        ("geodb_module GeoIP2", "geodb_module"),
        ("some_future_plugin_path /tmp/x", "some_future_plugin_path names a file"),
        ("lang en loadplugin Evil", "loadplugin"),  # the i18n prefix SpamAssassin drops
        ("lang de_DE lang fr include /x", "include"),
        ("header EVIL eval:system('id')", "eval:system is not one of SpamAssassin's own eval tests"),
        ("body EVIL eval:_private_method()", "eval:_private_method"),
        ("rawbody EVIL eval:unknown_thing()", "eval:unknown_thing"),
        ("full EVIL EVAL:check_rbl_x()", "eval:check_rbl_x"),
        ("uri EVIL eval:nope()", "eval:nope"),
        ("header EVIL eval:", "eval: names no test"),
        ("header EVIL Subject =~ /(?{ system('id') })/", "runs Perl code from a regular expression"),
        ("body EVIL /(??{ 'x' })/", "runs Perl code"),
        ("header EVIL Subject =~ /x/\x00", "control character"),
        ("score EVIL\x0b1", "control character"),
    ],
)
def test_a_denied_directive_is_refused_with_its_line_and_reason(line: str, words: str) -> None:
    problems = files.rules_refusals(f"header OK Subject =~ /ok/\nscore OK 1\n{line}\nscore OK 2\n")
    assert [(p.line, p.denied) for p in problems] == [(3, True)]
    assert words in problems[0].message and problems[0].message.startswith("not allowed here: ")


def test_an_if_block_does_not_hide_a_denied_directive() -> None:
    text = (
        "if (0)\n  loadplugin Evil\nelse\nifplugin Mail::SpamAssassin::Plugin::Bayes\n\tbayes_path /x\nendif\nendif\n"
    )
    assert [p.line for p in files.rules_refusals(text)] == [2, 5]


def test_line_ending_and_bom_tricks_are_read_as_the_store_writes_them() -> None:
    # The store drops a BOM and turns CR and CRLF into LF (spec §1.1): a lone CR must not hide a
    # line from the check that the saved file then has.
    assert [p.line for p in files.rules_refusals("\ufeffloadplugin Evil\n")] == [1]
    assert [p.line for p in files.rules_refusals("score A 1\rinclude /etc/passwd\r\nscore B 2")] == [2]
    assert files.rules_text("a\r\nb\rc") == "a\nb\nc\n"


def test_every_eval_test_of_spamassassin_is_allowed_and_names_are_case_sensitive() -> None:
    assert "check_rbl" in files.EVAL_TESTS and "check_access_database" not in files.EVAL_TESTS
    assert files.rules_refusals("header A eval:check_for_missing_to_header()\n") == []
    assert files.rules_refusals("header A eval:Check_For_Missing_To_Header()\n")  # Perl subs are case-sensitive
