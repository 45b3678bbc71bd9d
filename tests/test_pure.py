"""Pure functions: the apply planner, mailserver.env parsing, secret redaction."""

from __future__ import annotations

import pytest

from dms_admin.apply import Action, action_for, plan
from dms_admin.dms import _create_config
from dms_admin.envfile import env_changes, merge_env, parse_env
from dms_admin.redact import REDACTED, redact_env_text, unredact_env_text


@pytest.mark.parametrize(
    ("path", "action"),
    [
        ("postfix-accounts.cf", Action.WATCHED),
        ("postfix-virtual.cf", Action.WATCHED),
        ("dovecot-quotas.cf", Action.WATCHED),
        ("postfix-sasl-password.cf", Action.WATCHED),
        ("rspamd/override.d/dkim_signing.conf", Action.WATCHED),
        ("postfix-send-access.cf", Action.RELOAD),
        ("postfix-receive-access.cf", Action.RELOAD),
        ("mailserver.env", Action.RECREATE),
        ("spamassassin-rules.cf", Action.RECREATE),
        ("amavis.cf", Action.RECREATE),
        ("opendkim/keys/example.com/mail.private", Action.RECREATE),
        ("opendkim/KeyTable", Action.RECREATE),
        ("ldap-users.cf", Action.RECREATE),
        ("user@example.com.dovecot.sieve", Action.RECREATE),
        ("check-for-changes.sh.lock", Action.NONE),
        ("notes.txt", Action.NONE),
        ("sub/postfix-accounts.cf", Action.NONE),  # DMS reads only the top-level name
    ],
)
def test_action_for(path: str, action: Action) -> None:
    assert action_for(path) == action


def test_a_new_access_table_needs_a_recreate() -> None:
    # DMS hooks access tables into Postfix only at startup (spec §1.9).
    assert action_for("postfix-send-access.cf", created=True) == Action.RECREATE


def test_plan_takes_the_strongest_action() -> None:
    result = plan(["postfix-accounts.cf", "postfix-send-access.cf"])
    assert result.action == Action.RELOAD and result.paths(Action.WATCHED) == ["postfix-accounts.cf"]
    assert plan([]).action == Action.NONE
    assert plan(["postfix-accounts.cf", "mailserver.env"]).action == Action.RECREATE


def test_parse_env_follows_compose_quoting() -> None:
    text = (
        "# comment\n\nSPAM_SUBJECT='[SPAM] '\nPOSTMASTER_ADDRESS=pm@x.test  # inline\n"
        'OVERRIDE_HOSTNAME="mail.x.test"\nexport LOG_LEVEL=debug\nEMPTY=\nnot a var\n'
    )
    assert parse_env(text) == {
        "SPAM_SUBJECT": "[SPAM] ",
        "POSTMASTER_ADDRESS": "pm@x.test",
        "OVERRIDE_HOSTNAME": "mail.x.test",
        "LOG_LEVEL": "debug",
        "EMPTY": "",
    }


def test_env_changes_sets_new_and_unsets_removed() -> None:
    assert env_changes("A=1\nB=2\n", "A=3\nC=4\n") == {"A": "3", "C": "4", "B": None}


def test_merge_env_keeps_order_and_unsets() -> None:
    assert merge_env(["PATH=/bin", "A=1", "B=2"], {"A": "x y", "B": None, "C": "3"}) == ["PATH=/bin", "A=x y", "C=3"]


def test_a_new_image_brings_its_own_defaults_and_keeps_what_the_admin_set() -> None:
    old_image = {
        "Labels": {"version": "15.1.0", "vendor": "dms"},
        "Cmd": ["supervisord"],
        "Healthcheck": {"Test": ["a"]},
    }
    attrs = {
        "Id": "f" * 64,
        "Config": {
            "Image": "dms:15.1",
            "Env": ["A=1"],
            "Labels": {"version": "15.1.0", "vendor": "mine", "com.docker.compose.service": "mailserver"},
            "Cmd": ["supervisord"],
            "Healthcheck": {"Test": ["custom"]},
        },
        "HostConfig": {"NetworkMode": "none"},
    }
    config = _create_config(attrs, {}, "dms:15.2", old_image)
    assert config["Image"] == "dms:15.2" and "Cmd" not in config
    assert config["Labels"] == {"vendor": "mine", "com.docker.compose.service": "mailserver"}
    assert config["Healthcheck"] == {"Test": ["custom"]}  # set by the admin: kept
    same = _create_config(attrs, {"A": "2"}, None)
    assert same["Labels"]["version"] == "15.1.0" and same["Cmd"] == ["supervisord"] and same["Env"] == ["A=2"]


def test_redaction_hides_credentials_only() -> None:
    text = (
        "RELAY_PASSWORD=hunter2\nRELAY_USER=bob\nLDAP_BIND_PW='a b'\nSASL_PASSWD=x\n"
        "RELAY_PASSWORD_FILE=/run/s\nSSL_KEY_PATH=/k\n"
    )
    red = redact_env_text(text)
    assert "hunter2" not in red and "'a b'" not in red and "SASL_PASSWD=" + REDACTED in red
    assert "RELAY_USER=bob" in red and "RELAY_PASSWORD_FILE=/run/s" in red and "SSL_KEY_PATH=/k" in red


def test_unredaction_takes_the_live_values() -> None:
    old = f"RELAY_PASSWORD={REDACTED}\nGONE_PASSWORD={REDACTED}\nENABLE_CLAMAV=0\n"
    assert unredact_env_text(old, "RELAY_PASSWORD=live\n") == "RELAY_PASSWORD=live\nENABLE_CLAMAV=0\n"


def test_mail_hostname_prefers_the_setting_then_override_hostname(settings, store) -> None:  # type: ignore[no-untyped-def]
    from dms_admin.hostname import mail_hostname

    settings.DMS_MAIL_HOSTNAME = ""
    settings.DOCKER_HOST = "unix:///nonexistent/docker.sock"
    assert mail_hostname() == "mail.example.test"  # OVERRIDE_HOSTNAME in the test config
    settings.DMS_MAIL_HOSTNAME = "mx.example.org"
    assert mail_hostname() == "mx.example.org"


def test_a_job_row_write_waits_out_a_locked_database_and_gives_up_on_other_errors() -> None:
    from django.db import OperationalError

    from dms_admin.jobqueue import _while_locked

    calls: list[int] = []

    def locked_twice() -> None:
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("database table is locked: dms_admin_jobrun")

    _while_locked(locked_twice)
    assert len(calls) == 3

    def broken() -> None:
        raise OperationalError("no such table: dms_admin_jobrun")

    with pytest.raises(OperationalError, match="no such table"):
        _while_locked(broken)
