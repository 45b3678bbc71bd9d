"""The line-wise three-way revert, pure and through the config store."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest

from dms_admin.configstore import ConfigStore
from dms_admin.historyrepo import HistoryQuery
from dms_admin.redact import REDACTED
from dms_admin.revert import RevertConflict, revert_file, split_lines
from dms_admin.storeerrors import ConfigStoreError, HistoryNotFound, RollbackConflict


def revert(base: bytes | None, ours: bytes | None, theirs: bytes | None) -> bytes | None:
    return revert_file("f", base=base, ours=ours, theirs=theirs)


def conflict(base: bytes | None, ours: bytes | None, theirs: bytes | None) -> RevertConflict:
    with pytest.raises(RevertConflict) as caught:
        revert(base, ours, theirs)
    return caught.value


# ---- the pure merge ------------------------------------------------------------------------


def test_a_later_line_right_below_the_reverted_one_is_kept() -> None:
    # create A, create B (appended right below A), roll back "create A": git's merge refuses this.
    assert revert(b"#\nx\nA\n", b"#\nx\nA\nB\n", b"#\nx\n") == b"#\nx\nB\n"


def test_later_edits_elsewhere_are_kept() -> None:
    base = b"a\nb\nNEW\nc\nd\n"
    ours = b"A\nb\nNEW\nc\nD\ne\n"
    assert revert(base, ours, b"a\nb\nc\nd\n") == b"A\nb\nc\nD\ne\n"


def test_a_deleted_line_comes_back_where_it_was() -> None:
    assert revert(b"a\nc\n", b"top\na\nc\nend\n", b"a\nb\nc\n") == b"top\na\nb\nc\nend\n"
    # The deleted last line comes back before a line appended later at the same place.
    assert revert(b"#\nx\n", b"#\nx\nD\n", b"#\nx\nB\n") == b"#\nx\nB\nD\n"


def test_an_edited_line_is_refused_with_both_versions() -> None:
    error = conflict(b"#\nx\nA y\n", b"#\nx\nA z\nB\n", b"#\nx\n")
    [file] = error.conflicts
    assert [(line.number, line.text) for line in file.now] == [(3, "A z"), (4, "B")]
    assert [(line.number, line.text) for line in file.change] == [(3, "A y")]
    assert file.summary() == "f lines 3-4: a later change touched these lines"


def test_a_line_deleted_later_is_a_conflict_too() -> None:
    # The later change removed the line the rollback would remove, and the lines around it.
    error = conflict(b"a\nNEW\nb\nc\n", b"a\nc\n", b"a\nb\nc\n")
    [file] = error.conflicts
    assert not file.now and [line.text for line in file.change] == ["NEW", "b"]
    assert "removed" in file.reason


def test_conflict_line_numbers_follow_later_insertions_above() -> None:
    base = b"a\nb\nc\nd\n"
    ours = b"0\n1\n2\na\nb\nC!\nd\n"
    error = conflict(base, ours, b"a\nb\nc2\nd\n")
    assert [(line.number, line.text) for line in error.conflicts[0].now] == [(6, "C!")]
    assert [(line.number, line.text) for line in error.conflicts[0].change] == [(3, "c")]


def test_two_regions_are_two_conflicts() -> None:
    error = conflict(b"a\nb\nc\nd\ne\n", b"A\nb\nc\nd\nE\n", b"a2\nb\nc\nd\ne2\n")
    assert [c.now[0].number for c in error.conflicts] == [1, 5]


def test_the_same_edit_on_both_sides_is_no_conflict() -> None:
    # The change added a line twice over (a later change deleted one): the other half still reverts.
    assert revert(b"a\nX\nb\nY\n", b"a\nb\nY\n", b"a\nb\n") == b"a\nb\n"


def test_crlf_files_keep_their_line_endings() -> None:
    assert revert(b"a\r\nb\r\nc\r\n", b"a\r\nb\r\nc\r\nd\r\n", b"a\r\nc\r\n") == b"a\r\nc\r\nd\r\n"


def test_a_later_crlf_to_lf_rewrite_is_no_conflict_and_restored_lines_take_lf() -> None:
    assert revert(b"a\r\nc\r\n", b"a\nc\nd\n", b"a\r\nb\r\nc\r\n") == b"a\nb\nc\nd\n"


def test_no_final_newline() -> None:
    # The change added a final newline and a line; a later edit at the top stays.
    assert revert(b"x\ny\nz\n", b"X\ny\nz\n", b"x\ny") == b"X\ny\n"
    # The current file has no final newline: neither has the result.
    assert revert(b"x\ny\nz\n", b"X\ny\nz", b"x\ny\n") == b"X\ny"
    # A line put back at the end of a file without a final newline.
    assert revert(b"a\n", b"a", b"a\nb") == b"a\nb"
    assert split_lines(b"a\r\nb") == [(b"a", b"\r\n"), (b"b", b"")]


def test_a_file_the_change_created() -> None:
    assert revert(b"a\n", b"a\n", None) is None  # unchanged since: removed
    assert revert(b"a\n", b"a\nlater\n", None) == b"later\n"  # lines added later stay
    assert revert(b"a\n", None, None) is None  # deleted later: nothing to do
    assert "touched" in conflict(b"a\n", b"a2\n", None).conflicts[0].reason


def test_a_file_the_change_deleted() -> None:
    assert revert(None, None, b"a\n") == b"a\n"  # comes back
    assert revert(None, b"a\r\n", b"a\n") == b"a\r\n"  # created again with the same lines
    assert "created it again" in conflict(None, b"other\n", b"a\n").conflicts[0].reason


def test_a_file_deleted_later_is_a_conflict() -> None:
    assert "deleted the file" in conflict(b"a\nb\n", None, b"a\n").conflicts[0].reason
    assert revert(b"a\n", None, b"a\r\n") is None  # the change only changed line endings


def test_binary_files_are_reverted_whole_or_refused() -> None:
    assert revert(b"\x00new", b"\x00new", b"\x00old") == b"\x00old"
    assert "binary" in conflict(b"\x00new", b"\x00later", b"\x00old").conflicts[0].reason


def test_long_regions_are_quoted_in_part() -> None:
    base = b"".join(b"line %d\n" % i for i in range(100))
    ours = b"".join(b"line %d changed\n" % i for i in range(100))
    file = conflict(base, ours, b"").conflicts[0]
    assert len(file.now) == 20 and file.more == 160


def test_it_agrees_with_git_where_git_finds_no_conflict(tmp_path: Path) -> None:
    """Random edits of a 40-line file: whenever git merge-file merges cleanly, so do we, identically."""
    rng = random.Random(13)
    agreed = 0
    for _ in range(150):
        theirs = [f"entry {i}\n" for i in range(40)]
        base = _edit(rng, theirs, 2)
        ours = _edit(rng, base, 3)
        files = {}
        for name, lines in (("base", base), ("ours", ours), ("theirs", theirs)):
            files[name] = tmp_path / name
            files[name].write_text("".join(lines))
        git = subprocess.run(
            ["git", "merge-file", "-p", str(files["ours"]), str(files["base"]), str(files["theirs"])],
            capture_output=True,
        )
        if git.returncode == 0:
            agreed += 1
            assert revert("".join(base).encode(), "".join(ours).encode(), "".join(theirs).encode()) == git.stdout
    assert agreed > 30


def _edit(rng: random.Random, lines: list[str], count: int) -> list[str]:
    out = list(lines)
    for _ in range(count):
        at = rng.randrange(len(out))
        kind = rng.choice(["insert", "delete", "change"])
        if kind == "insert":
            out.insert(at, f"new {rng.random():.6f}\n")
        elif kind == "delete":
            del out[at]
        else:
            out[at] = f"changed {rng.random():.6f}\n"
    return out


def test_a_big_file_reverts_fast() -> None:
    import time

    theirs = b"".join(b"user%05d@example.test|{SHA512-CRYPT}$6$%064d\n" % (i, i) for i in range(10_000))
    base = theirs.replace(b"user05000@", b"new@example.test|x\nuser05000@")
    ours = base.replace(b"user00010@", b"changed@").replace(b"user09990@", b"changed2@") + b"last@x|y\n"
    started = time.perf_counter()
    result = revert(base, ours, theirs)
    assert time.perf_counter() - started < 0.5
    assert result is not None and b"new@example.test" not in result and b"changed2@" in result


# ---- through the store ---------------------------------------------------------------------

VIRTUAL = "postfix-virtual.cf"


def add_line(store: ConfigStore, line: str, message: str, actor: str = "alice") -> str:
    with store.change(actor=actor, message=message) as change:
        change.write(VIRTUAL, change.read(VIRTUAL) + line + "\n")
    assert change.result is not None and change.result.sha
    return change.result.sha


def test_rollback_of_one_change_keeps_later_changes_of_others(store: ConfigStore) -> None:
    a = add_line(store, "a@example.test user@example.test", "Create alias a@example.test")
    add_line(store, "b@example.test user@example.test", "Create alias b@example.test", actor="bob")
    result = store.rollback(a, actor="carol")
    assert store.read(VIRTUAL) == "# aliases\nalias@example.test user@example.test\nb@example.test user@example.test\n"
    latest = store.history(limit=1)[0]
    assert latest.sha == result.sha and latest.author == "carol"
    assert latest.message == f"Roll back {a[:10]}: Create alias a@example.test"


def test_a_conflicting_rollback_writes_nothing(store: ConfigStore, config_dir: Path) -> None:
    a = add_line(store, "a@example.test user@example.test", "Create alias a@example.test")
    with store.change(actor="bob", message="Change alias a@example.test") as change:
        change.write(VIRTUAL, change.read(VIRTUAL).replace("a@example.test user@", "a@example.test other@"))
    before, count = (config_dir / VIRTUAL).read_bytes(), store.count()
    with pytest.raises(RollbackConflict) as caught:
        store.rollback(a, actor="carol")
    [file] = caught.value.conflicts
    assert file.path == VIRTUAL and file.now[0].number == 3 and file.now[0].text == "a@example.test other@example.test"
    assert "line 3" in str(caught.value)
    assert (config_dir / VIRTUAL).read_bytes() == before and store.count() == count
    with pytest.raises(RollbackConflict):
        store.rollback(a, actor="carol", dry_run=True)


def test_the_first_dashboard_change_in_a_new_folder_can_be_rolled_back(tmp_path: Path) -> None:
    store = ConfigStore(tmp_path / "new")
    first = store.write(VIRTUAL, "a@x.test b@x.test\n", actor="alice", message="Create alias a@x.test")
    assert store.commit(first.sha or "").parent is None  # an empty folder: nothing to adopt
    second = store.write("postfix-regexp.cf", "/^x/ b@x.test\n", actor="alice", message="regexp")
    store.rollback(first.sha or "", actor="bob")
    assert not store.exists(VIRTUAL) and store.exists("postfix-regexp.cf")
    assert store.commit(second.sha or "").parent == first.sha


def test_the_first_change_after_adoption_can_be_rolled_back_but_not_the_adoption(store: ConfigStore) -> None:
    adopted = store.record_external_changes() or ""
    assert store.commit(adopted).is_adoption
    first = add_line(store, "a@example.test user@example.test", "Create alias a@example.test")
    assert not store.commit(first).is_adoption
    store.rollback(first, actor="bob")
    assert "a@example.test" not in store.read(VIRTUAL)
    with pytest.raises(ConfigStoreError, match="would empty the folder") as caught:
        store.rollback(adopted, actor="bob")
    assert not isinstance(caught.value, RollbackConflict)


def test_rollback_of_mailserver_env_keeps_later_lines_and_live_secrets(store: ConfigStore) -> None:
    store.write("mailserver.env", "RELAY_PASSWORD=old\nENABLE_CLAMAV=0\n", actor="a", message="one")
    second = store.write("mailserver.env", "RELAY_PASSWORD=new\nENABLE_CLAMAV=1\n", actor="a", message="two")
    store.write("mailserver.env", "RELAY_PASSWORD=newer\nENABLE_CLAMAV=1\nENABLE_FAIL2BAN=1\n", actor="a", message="3")
    store.rollback(second.sha or "", actor="a")
    assert store.read("mailserver.env") == "RELAY_PASSWORD=newer\nENABLE_CLAMAV=0\nENABLE_FAIL2BAN=1\n"
    assert "newer" not in store.diff(store.history(limit=1)[0].sha)


def test_conflict_lines_of_mailserver_env_are_redacted(store: ConfigStore) -> None:
    one = store.write("mailserver.env", "A=1\nRELAY_PASSWORD=hunter2\n", actor="a", message="one")
    store.write("mailserver.env", "A=2\nRELAY_PASSWORD=hunter3\n", actor="a", message="two")
    with pytest.raises(RollbackConflict) as caught:
        store.rollback(one.sha or "", actor="a")
    shown = repr(caught.value.conflicts) + str(caught.value)
    assert "hunter" not in shown and REDACTED in shown


def test_secret_files_are_left_alone_by_a_rollback(store: ConfigStore, config_dir: Path) -> None:
    with store.change(actor="a", message="relay") as change:
        change.write("postfix-sasl-password.cf", "@x.test u:p\n")
        change.write("postfix-relaymap.cf", "@x.test [relay.x.test]:587\n")
    sha = store.history(limit=1)[0].sha
    store.rollback(sha, actor="a")
    assert not store.exists("postfix-relaymap.cf") and store.read("postfix-sasl-password.cf") == "@x.test u:p\n"


def test_restore_file_puts_back_that_version_and_lists_what_it_undoes(store: ConfigStore) -> None:
    a = add_line(store, "a@example.test user@example.test", "Create alias a@example.test")
    at_a = store.read(VIRTUAL)
    b = add_line(store, "b@example.test user@example.test", "Create alias b@example.test", actor="bob")
    store.write("postfix-regexp.cf", "/x/ y@x.test\n", actor="bob", message="other file")
    preview, undone = store.restore_file(a, VIRTUAL, actor="carol", dry_run=True)
    assert [c.sha for c in undone] == [b] and preview.dry_run and "-b@example.test" in preview.diff
    result, undone = store.restore_file(a, VIRTUAL, actor="carol")
    assert store.read(VIRTUAL) == at_a and [c.sha for c in undone] == [b]
    assert store.history(limit=1)[0].message == f"Restore {VIRTUAL} as of {a[:10]}" and result.sha


@pytest.mark.parametrize("bad", ["../etc/passwd", "/etc/passwd", "a/../../b", "x\x00y", ""])
def test_restore_file_refuses_paths_outside_the_folder(store: ConfigStore, bad: str) -> None:
    a = add_line(store, "a@example.test user@example.test", "Create alias a@example.test")
    with pytest.raises(ConfigStoreError) as caught:
        store.restore_file(a, bad, actor="x")
    assert not isinstance(caught.value, HistoryNotFound)


def test_restore_file_refuses_a_file_the_change_did_not_touch(store: ConfigStore) -> None:
    a = add_line(store, "a@example.test user@example.test", "Create alias a@example.test")
    with pytest.raises(HistoryNotFound, match="not one of the files"):
        store.restore_file(a, "postfix-accounts.cf", actor="x")


def test_restore_file_of_mailserver_env_keeps_the_live_secret(store: ConfigStore) -> None:
    one = store.write("mailserver.env", "RELAY_PASSWORD=old\nA=1\n", actor="a", message="one")
    store.write("mailserver.env", "RELAY_PASSWORD=new\nA=2\n", actor="a", message="two")
    store.restore_file(one.sha or "", "mailserver.env", actor="a")
    assert store.read("mailserver.env") == "RELAY_PASSWORD=new\nA=1\n"


def test_history_filters(store: ConfigStore) -> None:
    store.record_external_changes()
    add_line(store, "a@example.test user@example.test", "Create alias a@example.test")
    add_line(store, "b@example.test user@example.test", "Create alias b@example.test", actor="bob")
    store.write("postfix-regexp.cf", "/x/ y@x.test\n", actor="bob", message="Create regexp alias /x/")

    def messages(**filters: str) -> list[str]:
        query = HistoryQuery(**filters)  # type: ignore[arg-type]
        found = [c.message for c in store.history(query=query)]
        assert store.count(query) == len(found)
        return found

    assert messages(author="BOB") == ["Create regexp alias /x/", "Create alias b@example.test"]
    assert messages(author="dms-admin") == ["Adopted the existing configuration"]  # not every email
    assert messages(path="postfix-regexp.cf") == ["Create regexp alias /x/"]
    assert messages(action="create alias") == ["Create alias b@example.test", "Create alias a@example.test"]
    assert messages(action="alias") == []  # a prefix, not anywhere
    assert messages(search="/x/") == ["Create regexp alias /x/"]
    assert messages(search="a@example.test", author="bob") == []
    assert messages(search="b.example") == []  # a literal, not a regular expression
    assert messages(search="b@example.") == ["Create alias b@example.test"]
    assert messages(action="Create", search="b@") == ["Create alias b@example.test"]


def test_history_filters_by_date(store: ConfigStore) -> None:
    from datetime import timedelta

    sha = add_line(store, "a@example.test user@example.test", "Create alias a@example.test")
    at = store.commit(sha).at
    assert next(c.sha for c in store.history(query=HistoryQuery(after=at))) == sha
    assert sha not in [c.sha for c in store.history(query=HistoryQuery(before=at))]
    assert next(c.sha for c in store.history(query=HistoryQuery(before=at + timedelta(seconds=1)))) == sha
    assert store.history(query=HistoryQuery(after=at + timedelta(seconds=1))) == []


def test_a_deletion_a_later_edit_already_made_is_no_conflict_and_keeps_what_replaced_it() -> None:
    from dms_admin.revert import merge_lines

    theirs = b"x@d.test u@d.test\n"
    base = theirs + b"a@d.test u@d.test\n"  # the change added a
    ours = theirs + b"b@d.test u@d.test\n"  # later: b added below a, then a deleted (difflib: a replaced by b)
    assert merge_lines("f", base=base, ours=ours, theirs=theirs) == ours
    # The replacement still holds the deleted line: the later edit changed it, a real conflict.
    import pytest

    from dms_admin.revert import RevertConflict

    with pytest.raises(RevertConflict):
        merge_lines("f", base=base, ours=theirs + b"a@d.test other@d.test\n", theirs=theirs)
