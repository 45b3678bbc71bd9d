"""Known errors and log lines, from sample lines (pure: no engine, no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dms_admin.ops import logscan

SAMPLES = {
    "opendkim-down": "Nov 25 14:18:43 mail postfix/cleanup[812]: warning: connect to Milter service"
    " inet:localhost:8891: Connection refused",
    "opendmarc-down": "Nov 25 14:18:43 mail postfix/smtpd[811]: warning: connect to Milter service"
    " inet:localhost:8893: Connection refused",
    "rspamd-down": "mail postfix/smtpd[9]: warning: connect to Milter service inet:localhost:11332: Connection refused",
    "clamav-down": "mail amavis[1459]: (01459-01) (!)connect to /var/run/clamav/clamd.ctl failed, attempt #1:"
    " Can't connect to a UNIX socket /var/run/clamav/clamd.ctl: No such file or directory",
    "amavis-down": "Nov 25 10:00:01 mail postfix/smtp[3001]: connect to 127.0.0.1[127.0.0.1]:10024: Connection refused",
    "amavis-bdb-permission": "mail amavis[77]: (!)TROUBLE in pre_loop_hook: BDB can't create db env. at"
    " /var/lib/amavis/db: Permission denied. at (eval 98) line 342.",
    "no-accounts": "[  ERROR  ]  You need at least one mail account to start Dovecot (120s left for account"
    " creation before shutdown)",
    "hostname-missing": "[  ERROR  ]  Setting hostname/domainname is required",
    "hostname-is-mail-domain": "mail postfix/trivial-rewrite[55]: warning: do not list domain example.com in BOTH"
    " mydestination and virtual_mailbox_domains",
    "user-unknown-local": "mail postfix/smtpd[56]: NOQUEUE: reject: RCPT from x[198.51.100.4]: 550 5.1.1"
    " <bob@example.com>: Recipient address rejected: User unknown in local recipient table",
    "crlf": "[ WARNING ]  File '/tmp/docker-mailserver/postfix-accounts.cf' contains CRLF line-endings",
    "missing-newline": "[ WARNING ]  File '/tmp/docker-mailserver/postfix-virtual.cf' was missing a final newline",
    "lock-file": "[  ERROR  ]  Lock file '/tmp/docker-mailserver/check-for-changes.sh.lock' exists - another"
    " execution of 'check-for-changes.sh' is happening - trying again shortly",
    "rspamd-dkim-permission": "[ WARNING ]  Rspamd DKIM private key file '/tmp/docker-mailserver/rspamd/dkim/"
    "rsa-2048-mail-example.com.private.txt' does not appear to have correct permissions/ownership",
}


@pytest.mark.parametrize("error_id", sorted(SAMPLES))
def test_it_recognises_each_known_error_with_an_explanation_and_a_fix(error_id: str) -> None:
    known = logscan.match_known(SAMPLES[error_id])
    assert known is not None and known.id == error_id
    assert known.title and len(known.explanation) > 40 and len(known.fix) > 30
    assert known.severity in (logscan.ERROR, logscan.WARN)


def test_every_known_error_has_a_sample() -> None:
    assert {k.id for k in logscan.KNOWN_ERRORS} == set(SAMPLES)


def test_the_faq_clamav_lines_are_all_recognised() -> None:
    for line in (
        "mail amavis[1459]: (01459-01) (!)ClamAV-clamd: All attempts (1) failed connecting to"
        " /var/run/clamav/clamd.ctl, retrying (2)",
        "mail amavis[1459]: (01459-01) (!)ClamAV-clamscan av-scanner FAILED: /usr/bin/clamscan KILLED, signal 9",
        "mail amavis[1459]: (01459-01) (!!)AV: ALL VIRUS SCANNERS FAILED",
    ):
        assert (logscan.match_known(line) or pytest.fail(line)).id == "clamav-down"


def test_ordinary_lines_are_not_known_errors() -> None:
    for line in (
        "Nov 25 14:18:43 mail postfix/master[85]: daemon started -- version 3.7.11, configuration /etc/postfix",
        "mail postfix/smtpd[1]: connect from unknown[198.51.100.7]",
        "mail postfix/smtp[2]: connect to mx.example.net[203.0.113.5]:25: Connection refused",
        "[   INF   ]  Welcome to docker-mailserver v15.1.0",
    ):
        assert logscan.match_known(line) is None, line


def test_it_splits_the_docker_timestamp_and_finds_the_service() -> None:
    line = logscan.parse_line(
        "2026-11-25T14:18:43.787002374Z Nov 25 14:18:43 mail postfix/master[85]: daemon started -- version 3.7.11"
    )
    assert line.at == datetime(2026, 11, 25, 14, 18, 43, 787002, tzinfo=UTC)
    assert line.text.startswith("Nov 25") and line.service == "postfix" and line.known is None
    cases = {
        "2026-11-25 14:18:43,696 INFO success: dovecot entered RUNNING state": "supervisord",
        "2026-11-25 14:18:43 master: Info: Dovecot v2.3.19.1 starting up for imap, lmtp": "dovecot",
        "Nov 25 10:00:00 mail dovecot: imap-login: Login: user=<a@example.test>": "dovecot",
        "mail amavis[1459]: (01459-01) Passed CLEAN": "amavis",
        "mail clamd[12]: SelfCheck: Database status OK.": "clamav",
        "mail opendkim[40]: 4XyZ: DKIM-Signature field added": "opendkim",
        "[   INF   ]  2026-11-25 14:18:43  Change detected": "changedetector",
        "[   INF   ]  Welcome to docker-mailserver": "mailserver",
        "something else entirely": "other",
    }
    for text, service in cases.items():
        assert logscan.service_of(text) == service, text


def test_filter_by_service_includes_supervisord_speaking_about_it() -> None:
    lines = logscan.parse_lines(
        "2026-11-25T14:18:43.1Z Nov 25 14:18:43 mail postfix/smtpd[1]: connect from x[1.2.3.4]\n"
        "2026-11-25T14:18:44.1Z 2026-11-25 14:18:44,000 INFO exited: postfix (exit status 1; not expected)\n"
        "2026-11-25T14:18:45.1Z 2026-11-25 14:18:45 master: Info: Dovecot starting\n"
    )
    assert [line.service for line in logscan.filter_lines(lines, service="postfix")] == ["postfix", "supervisord"]
    assert len(logscan.filter_lines(lines, service="dovecot")) == 1
    assert len(logscan.filter_lines(lines, search="EXITED")) == 1
    assert logscan.filter_lines(lines, service="postfix", search="dovecot") == []


def test_findings_count_each_error_errors_first_then_newest() -> None:
    lines = logscan.parse_lines(
        f"2026-11-25T10:00:00Z {SAMPLES['crlf']}\n"
        f"2026-11-25T10:00:01Z {SAMPLES['opendkim-down']}\n"
        f"2026-11-25T10:00:02Z {SAMPLES['amavis-down']}\n"
        f"2026-11-25T10:00:03Z {SAMPLES['opendkim-down']}\n"
    )
    found = logscan.findings(lines)
    assert [(f.error.id, f.count) for f in found] == [("opendkim-down", 2), ("amavis-down", 1), ("crlf", 1)]
    assert found[0].last.at == datetime(2026, 11, 25, 10, 0, 3, tzinfo=UTC)


def test_since_accepts_relative_iso_and_epoch_and_refuses_the_rest() -> None:
    now = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
    assert logscan.parse_since("", now=now) is None
    assert logscan.parse_since("15m", now=now) == now - timedelta(minutes=15)
    assert logscan.parse_since("2h", now=now) == now - timedelta(hours=2)
    assert logscan.parse_since("1d", now=now) == now - timedelta(days=1)
    assert logscan.parse_since("2026-01-30T08:00", now=now) == datetime(2026, 1, 30, 8, 0, tzinfo=UTC)
    assert logscan.parse_since("2026-01-30T08:00:00Z", now=now) == datetime(2026, 1, 30, 8, 0, tzinfo=UTC)
    assert logscan.parse_since("1769860800", now=now) == datetime.fromtimestamp(1769860800, tz=UTC)
    for bad in ("yesterday", "5x", "2026-13-01"):
        with pytest.raises(ValueError, match="is not a time"):
            logscan.parse_since(bad, now=now)
