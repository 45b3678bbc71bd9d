from __future__ import annotations

import errno
import multiprocessing
import os
import signal
import subprocess
import time
import zlib
from pathlib import Path

import pytest

from dms_admin.configstore import ConfigStore, normalize_text
from dms_admin.historyrepo import stored_zlib
from dms_admin.redact import REDACTED
from dms_admin.storeerrors import ConfigStoreError


def git_log_count(store: ConfigStore) -> int:
    return store.count()


def test_it_adopts_an_existing_folder_as_the_first_commit(store: ConfigStore) -> None:
    sha = store.record_external_changes()
    [first] = store.history()
    assert sha == first.sha and first.parent is None
    assert first.author == "dms-admin"
    assert "postfix-accounts.cf" in first.files
    assert store.record_external_changes() is None  # nothing new


def test_it_writes_lf_utf8_with_a_final_newline_and_commits(store: ConfigStore, config_dir: Path) -> None:
    result = store.write(
        "postfix-virtual.cf", "\ufeffa@x.test b@x.test\r\nc@x.test   d@x.test", actor="alice", message="Two aliases"
    )
    assert (config_dir / "postfix-virtual.cf").read_bytes() == b"a@x.test b@x.test\nc@x.test   d@x.test\n"
    assert result.sha and result.files == ("postfix-virtual.cf",)
    latest = store.history(limit=1)[0]
    assert (latest.author, latest.message, latest.files) == ("alice", "Two aliases", ("postfix-virtual.cf",))
    assert "+a@x.test b@x.test" in store.diff(result.sha)


def test_normalize_text() -> None:
    assert normalize_text("a\r\nb\rc") == "a\nb\nc\n"
    assert normalize_text("") == ""


def test_it_keeps_mode_and_owner(store: ConfigStore, config_dir: Path) -> None:
    path = config_dir / "postfix-virtual.cf"
    os.chmod(path, 0o640)
    os.chown(path, 5000, 5000)
    store.write("postfix-virtual.cf", "x@y.test z@y.test\n", actor="a", message="m")
    st = path.stat()
    assert (st.st_mode & 0o777, st.st_uid, st.st_gid) == (0o640, 5000, 5000)


def test_a_dry_run_shows_the_diff_and_writes_nothing(store: ConfigStore, config_dir: Path) -> None:
    before = (config_dir / "postfix-virtual.cf").read_bytes()
    count = store.count()
    result = store.write("postfix-virtual.cf", "new@x.test t@x.test\n", actor="a", message="m", dry_run=True)
    assert result.dry_run and result.sha is None
    assert "+new@x.test t@x.test" in result.diff and "-alias@example.test user@example.test" in result.diff
    assert (config_dir / "postfix-virtual.cf").read_bytes() == before
    assert store.count() == count


def test_an_unchanged_write_makes_no_commit(store: ConfigStore) -> None:
    store.record_external_changes()
    count = store.count()
    result = store.write("postfix-virtual.cf", store.read("postfix-virtual.cf"), actor="a", message="m")
    assert not result.changed and result.sha is None and store.count() == count


def test_a_hand_edit_between_two_writes_is_kept_as_an_external_change(store: ConfigStore, config_dir: Path) -> None:
    store.write("postfix-virtual.cf", "a@x.test b@x.test\n", actor="alice", message="first")
    with open(config_dir / "postfix-virtual.cf", "a") as fh:
        fh.write("hand@x.test b@x.test\n")
    with store.change(actor="alice", message="second") as change:
        change.write("postfix-virtual.cf", change.read("postfix-virtual.cf") + "c@x.test b@x.test\n")
    assert store.read("postfix-virtual.cf") == "a@x.test b@x.test\nhand@x.test b@x.test\nc@x.test b@x.test\n"
    second, external = store.history(limit=2)
    assert (second.author, second.message) == ("alice", "second")
    assert external.author == "external" and external.files == ("postfix-virtual.cf",)
    assert "+hand@x.test b@x.test" in store.diff(external.sha)


def test_rollback_restores_the_exact_previous_bytes_as_a_new_commit(store: ConfigStore, config_dir: Path) -> None:
    original = (config_dir / "postfix-virtual.cf").read_bytes()
    change = store.write("postfix-virtual.cf", "replaced@x.test b@x.test\n", actor="alice", message="replace")
    created = store.write("postfix-regexp.cf", "/^x$/ y@x.test\n", actor="alice", message="regexp")
    result = store.rollback(change.sha or "", actor="bob")
    assert (config_dir / "postfix-virtual.cf").read_bytes() == original
    latest = store.history(limit=1)[0]
    assert latest.sha == result.sha and latest.author == "bob" and latest.message.startswith("Roll back")
    # Rolling back a commit that created a file removes it.
    store.rollback(created.sha or "", actor="bob")
    assert not (config_dir / "postfix-regexp.cf").exists()


def test_rollback_of_the_first_commit_is_refused(store: ConfigStore) -> None:
    sha = store.record_external_changes()
    with pytest.raises(ConfigStoreError, match="would empty the"):
        store.rollback(sha or "", actor="bob")


def test_secrets_are_written_but_never_committed(store: ConfigStore, config_dir: Path) -> None:
    store.write("postfix-sasl-password.cf", "@example.test user:hunter2\n", actor="a", message="relay")
    store.write(
        "opendkim/keys/example.test/mail.private", "-----BEGIN PRIVATE KEY-----\nabc\n", actor="a", message="dkim"
    )
    assert (config_dir / "postfix-sasl-password.cf").stat().st_mode & 0o777 == 0o600
    (config_dir / "check-for-changes.sh.lock").write_text("uuid\n")
    store.write(
        "mailserver.env", "RELAY_PASSWORD=hunter2\nRELAY_USER=bob\nLDAP_BIND_PW='x y'\n", actor="a", message="env"
    )
    everything = subprocess.run(
        ["git", f"--git-dir={store.history_dir}", "log", "--all", "-p", "--format=%H"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "hunter2" not in everything and "'x y'" not in everything and "BEGIN PRIVATE KEY" not in everything
    assert f"RELAY_PASSWORD={REDACTED}" in everything and "RELAY_USER=bob" in everything
    assert "check-for-changes.sh.lock" not in everything
    tracked = subprocess.run(
        ["git", f"--git-dir={store.history_dir}", "ls-files"],
        capture_output=True,
        text=True,
        check=True,
        cwd=config_dir,
        env={**os.environ, "GIT_WORK_TREE": str(config_dir)},
    ).stdout
    assert "postfix-sasl-password.cf" not in tracked and ".private" not in tracked


def test_rollback_of_mailserver_env_keeps_the_live_secret(store: ConfigStore, config_dir: Path) -> None:
    store.write("mailserver.env", "RELAY_PASSWORD=old\nENABLE_CLAMAV=0\n", actor="a", message="one")
    second = store.write("mailserver.env", "RELAY_PASSWORD=new\nENABLE_CLAMAV=1\n", actor="a", message="two")
    store.rollback(second.sha or "", actor="a")
    assert store.read("mailserver.env") == "RELAY_PASSWORD=new\nENABLE_CLAMAV=0\n"


@pytest.mark.parametrize("bad", ["../etc/passwd", "/etc/passwd", "a/../../b", ".dms-admin/lock", "a\x00b", "x\ny", ""])
def test_paths_outside_the_folder_are_refused(store: ConfigStore, bad: str) -> None:
    with pytest.raises(ConfigStoreError):
        store.write(bad, "x", actor="a", message="m")


def test_an_error_inside_a_change_writes_nothing(store: ConfigStore, config_dir: Path) -> None:
    before = (config_dir / "postfix-virtual.cf").read_bytes()
    with pytest.raises(RuntimeError), store.change(actor="a", message="m") as change:
        change.write("postfix-virtual.cf", "lost@x.test y@x.test\n")
        raise RuntimeError("validation failed")
    assert (config_dir / "postfix-virtual.cf").read_bytes() == before


def test_a_disk_error_while_writing_keeps_the_old_file_and_commits_nothing(
    store: ConfigStore, config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.record_external_changes()
    before, commits = (config_dir / "postfix-virtual.cf").read_bytes(), store.count()

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr("dms_admin.configstore.os.fsync", disk_full)
        with pytest.raises(OSError, match="No space left"):
            store.write("postfix-virtual.cf", "lost@x.test y@x.test\n", actor="a", message="m")
    assert (config_dir / "postfix-virtual.cf").read_bytes() == before
    assert store.count() == commits
    assert not [p for p in config_dir.iterdir() if p.name.startswith(".dms-admin-tmp-")]
    # The history's helper thread is free again: the next change goes through.
    assert store.write("postfix-virtual.cf", "kept@x.test y@x.test\n", actor="a", message="m").sha


def _append_many(root: str, tag: str, count: int) -> None:
    store = ConfigStore(Path(root))
    for i in range(count):
        with store.change(actor=tag, message=f"{tag} {i}") as change:
            change.write("postfix-virtual.cf", change.read("postfix-virtual.cf") + f"{tag}{i}@x.test t@x.test\n")


def test_two_processes_writing_200_times_each_lose_nothing(store: ConfigStore, config_dir: Path) -> None:
    store.record_external_changes()
    base = store.count()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append_many, args=(str(config_dir), tag, 200)) for tag in ("p", "q")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0
    lines = store.read("postfix-virtual.cf").splitlines()
    for tag in ("p", "q"):
        assert [line for line in lines if line.startswith(tag)] == [f"{tag}{i}@x.test t@x.test" for i in range(200)]
    assert store.count() == base + 400


def _rewrite_forever(root: str) -> None:
    store = ConfigStore(Path(root))
    n = 0
    while True:
        n += 1
        # ~4 MB per write so a kill often lands mid-write
        store.write("postfix-virtual.cf", f"v{n}@x.test t@x.test\n" * 150_000, actor="w", message=str(n))


def test_a_writer_killed_mid_write_never_leaves_a_partial_file(store: ConfigStore, config_dir: Path) -> None:
    target = config_dir / "postfix-virtual.cf"
    original = target.read_text()
    ctx = multiprocessing.get_context("spawn")
    for delay in (0.6, 0.9, 1.3, 1.7):
        proc = ctx.Process(target=_rewrite_forever, args=(str(config_dir),))
        proc.start()
        time.sleep(delay)
        os.kill(proc.pid or 0, signal.SIGKILL)
        proc.join()
        text = target.read_text()
        lines = text.splitlines()
        assert text == original or (len(set(lines)) == 1 and len(lines) == 150_000), "partial or mixed file"
    # The next write cleans up temp files a killed writer left behind.
    store.write("postfix-virtual.cf", "a@x.test b@x.test\n", actor="a", message="after")
    assert not list(config_dir.glob(".dms-admin-tmp-*"))


def test_a_writer_killed_mid_commit_does_not_wedge_the_history(store: ConfigStore) -> None:
    store.write("postfix-virtual.cf", "a@x.test b@x.test\n", actor="a", message="first")
    # What libgit2 leaves when its process dies between locking the branch and moving it.
    (store.history_dir / "refs" / "heads" / "main.lock").write_text("0" * 40 + "\n")
    (store.history_dir / "HEAD.lock").write_text("ref: refs/heads/main\n")
    result = store.write("postfix-virtual.cf", "c@x.test d@x.test\n", actor="a", message="second")
    assert result.sha and store.history(limit=1)[0].sha == result.sha
    assert not list(store.history_dir.glob("**/*.lock"))


def test_big_files_are_stored_fast_and_the_history_stays_valid_for_git(store: ConfigStore, config_dir: Path) -> None:
    big = "".join(
        f"user{i}@example.test|{{SHA512-CRYPT}}$6${os.urandom(12).hex()}${os.urandom(40).hex()}\n" for i in range(2000)
    )
    first = store.write("postfix-accounts.cf", big, actor="a", message="big")
    second = store.write("postfix-accounts.cf", big + "x@example.test|h\n", actor="a", message="bigger")
    assert store.content_at(first.sha or "", "postfix-accounts.cf") == big.encode()
    fsck = subprocess.run(["git", f"--git-dir={store.history_dir}", "fsck", "--strict"], capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stderr
    assert store.compact_history(above_bytes=0)
    assert store.loose_object_bytes() == 0
    assert store.content_at(second.sha or "", "postfix-accounts.cf") == (big + "x@example.test|h\n").encode()
    assert "+x@example.test|h" in store.diff(second.sha or "")


@pytest.mark.parametrize("size", [0, 1, 65_526, 65_527, 65_535, 65_536, 131_071, 200_000])
def test_stored_zlib_is_a_valid_zlib_stream_at_every_block_boundary(size: int) -> None:
    header, content = b"blob %d\x00" % size, os.urandom(size)
    assert zlib.decompress(b"".join(stored_zlib(header, content))) == header + content
