from __future__ import annotations

import pytest

from dms_admin.envfile import parse_env
from dms_admin.errors import FieldError
from dms_admin.mailserver_env import catalogue as dmsenv


def test_render_keeps_comments_order_and_unknown_lines() -> None:
    text = "# general\nLOG_LEVEL=info\nMY_OWN=1\n\n# spam\nSPAM_SUBJECT=\nONE_DIR=1\n"
    out = dmsenv.render(text, {"LOG_LEVEL": "debug", "SPAM_SUBJECT": "[SPAM] ", "ONE_DIR": None, "ENABLE_CLAMAV": "1"})
    assert out == "# general\nLOG_LEVEL=debug\nMY_OWN=1\n\n# spam\nSPAM_SUBJECT='[SPAM] '\nENABLE_CLAMAV=1\n"
    assert parse_env(out)["SPAM_SUBJECT"] == "[SPAM] "  # the trailing space survives


@pytest.mark.parametrize("value", ["[SPAM] ", "a b", "it's", 'say "hi"', "100%", "x#y", " lead"])
def test_quoted_values_read_back_the_same(value: str) -> None:
    assert parse_env(dmsenv.render("", {"SPAM_SUBJECT": value}))["SPAM_SUBJECT"] == value


def test_duplicate_lines_collapse_to_one() -> None:
    assert dmsenv.render("A=1\nA=2\n", {"A": "3"}) == "A=3\n"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SA_TAG", "high", "number"),
        ("POSTFIX_MESSAGE_SIZE_LIMIT", "10M", "whole number"),
        ("LOG_LEVEL", "loud", "one of"),
        ("ENABLE_CLAMAV", "yes", "one of"),
        ("SPAM_SUBJECT", "a\nENABLE_CLAMAV=1", "Line breaks"),
        ("BAD=NAME", "1", "not a variable name"),
        ("OVERRIDE_HOSTNAME", "mail", "full host name"),
        ("POSTMASTER_ADDRESS", "nobody", "mail address"),
    ],
)
def test_hostile_values_are_refused(name: str, value: str, message: str) -> None:
    with pytest.raises(FieldError, match=message) as error:
        dmsenv.validate(name, value)
    assert error.value.field == name


def test_deprecations_are_version_aware_and_carry_their_fix() -> None:
    values = {"ONE_DIR": "1", "SA_SPAM_SUBJECT": "undef", "DMS_DEBUG": "1"}
    found = {d.name: d for d in dmsenv.deprecations(values, "v15.1.0")}
    assert found["SA_SPAM_SUBJECT"].fix == {"SA_SPAM_SUBJECT": None, "SPAM_SUBJECT": ""}
    assert found["DMS_DEBUG"].fix == {"DMS_DEBUG": None, "LOG_LEVEL": "debug"}
    assert found["ONE_DIR"].fix == {"ONE_DIR": None}
    assert {d.name for d in dmsenv.deprecations(values, "v13.3.1")} == {"DMS_DEBUG"}
    assert {d.name for d in dmsenv.deprecations(values, "edge")} == set(found)  # unknown: assume current
