"""The access models moved from accounts and dms_admin without moving a row.

Migrated back to before the move, rows are written with the old models; migrated forward, the
access models read the same rows (the tables kept their names, only Django's state changed).
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("accounts", "0003_dns_check"), ("dms_admin", "0004_jobrun_stop"), ("access", None)]
AFTER = [
    ("accounts", "0004_access_models_moved"),
    ("dms_admin", "0005_access_models_moved"),
    ("access", "0001_moved_models"),
]


def _migrate(targets: list[tuple[str, str | None]]):  # type: ignore[no-untyped-def]
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state([t for t in targets if t[1] is not None]).apps


def test_rows_written_before_the_move_are_read_after_it() -> None:
    old = _migrate(BEFORE)
    user = old.get_model("auth", "User").objects.create(username="dora", is_staff=True)
    old.get_model("accounts", "ApiToken").objects.create(name="backup-script", prefix="abcd1234", digest="d" * 64)
    old.get_model("accounts", "DomainAdmin").objects.create(user_id=user.pk, domains=["example.test"])
    old.get_model("dms_admin", "LoginFailure").objects.create(username="dora", ip="192.0.2.7")
    old.get_model("dms_admin", "TwoFactor").objects.create(user_id=user.pk, secret="S" * 32, enabled=True)
    old.get_model("dms_admin", "RecoveryCode").objects.create(user_id=user.pk, hash="h")

    new = _migrate(AFTER)

    assert new.get_model("access", "ApiToken").objects.get().name == "backup-script"
    assert new.get_model("access", "DomainAdmin").objects.get(user_id=user.pk).domains == ["example.test"]
    assert new.get_model("access", "LoginFailure").objects.get().ip == "192.0.2.7"
    assert new.get_model("access", "TwoFactor").objects.get(user_id=user.pk).enabled
    assert new.get_model("access", "RecoveryCode").objects.filter(user_id=user.pk).count() == 1
    with pytest.raises(LookupError):
        new.get_model("accounts", "ApiToken")
