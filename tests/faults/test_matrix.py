"""The fault matrix of issue 20: each fault against each kind of work, with real components.

Every cell asserts: no config file partial or lost, the history consistent with the files, no
job left running (the reaper), a clear state in the API, and a retry that completes.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from tests.faults.checks import assert_config_sound, assert_nothing_running, process_group
from tests.faults.stack import Stack
from tests.realenv.containers import wait_for

MAIL_FILES = 1500
MAIL_FILE_BYTES = 48 * 1024


def make_mail(root: Path) -> dict[str, str]:
    """A mailbox of incompressible messages, enough that a backup or restore takes seconds."""
    box = root / "example.test" / "user"
    sums = {}
    for sub in ("cur", "new", "tmp"):
        (box / sub).mkdir(parents=True, exist_ok=True)
    for i in range(MAIL_FILES):
        path = box / "cur" / f"{1700000000 + i}.M{i}P1.mail:2,S"
        data = os.urandom(MAIL_FILE_BYTES)
        path.write_bytes(data)
        sums[str(path)] = hashlib.sha256(data).hexdigest()
    return sums


def digest(paths: dict[str, str]) -> dict[str, str]:
    return {p: hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths}


def kill_midway(stack: Stack, worker: object, run_id: str, midway: object) -> dict[str, object]:
    """SIGKILL the work horse once the job's row says it is midway; returns that row."""
    seen: list[dict[str, object]] = []

    def now_midway() -> dict[str, object] | None:
        row = stack.row(run_id)
        if not seen or seen[-1] != row:
            seen.append(row)
        return row if row and midway(row) else None  # type: ignore[operator]

    try:
        row = wait_for(now_midway, 120, 0.01, what="the job to be midway")
    except TimeoutError as exc:
        raise AssertionError(f"{exc}; the row was: {seen}") from None
    horse = stack.horse(worker)  # type: ignore[arg-type]
    stack.kill(horse)
    wait_for(lambda: not process_group(horse), 10, what="the work horse's children to end")
    return row


def reaped(stack: Stack, run_id: str) -> dict[str, object]:
    """The housekeeping of the next minute has run: the job is failed, saying why, in the API."""
    wait_for(lambda: stack.agent("reap") or stack.row(run_id)["status"] == "failed", 30, what="the reaper")
    job = stack.job(run_id)
    assert job["status"] == "failed", job
    assert "stopped (killed or out of memory)" in job["error"] and "Retry it" in job["error"], job
    return job


# ---- worker SIGKILL midway ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mail(stack: Stack) -> dict[str, str]:
    return make_mail(stack.root / "mail")


def test_worker_sigkill_x_config_write(workers: Stack) -> None:
    """A DKIM key made in a worker (the panel's way), killed while it makes the key."""
    stack = workers
    worker = stack.start_worker()
    before = assert_config_sound(stack)
    run_id = stack.agent("dkim_start", domain="example.test", bits=4096)
    kill_midway(stack, worker, run_id, lambda r: r["status"] == "running" and r["progress"] >= 10)
    reaped(stack, run_id)
    after = assert_config_sound(stack)
    assert after["commits"] == before["commits"]  # nothing written: the kill came before the write
    retry = stack.agent("retry", run_id=run_id)
    assert stack.wait_job(retry, "succeeded", "failed", timeout=120)["status"] == "succeeded"
    assert (stack.config_dir / "opendkim" / "keys" / "example.test" / "mail.private").exists()
    done = assert_config_sound(stack)
    assert done["commits"] == before["commits"] + 1
    assert_nothing_running(stack)


def _policy(stack: Stack, name: str) -> int:
    created = stack.api(
        "POST",
        "/backups/policies/",
        json={"name": name, "include": ["mail", "config"], "destination": str(stack.root / "backups" / name)},
    )
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def archives_of(stack: Stack, name: str) -> list[dict[str, object]]:
    return [a for a in stack.api("GET", "/backups/archives/").json()["results"] if a["policy"] == name]


def test_worker_sigkill_x_backup(workers: Stack, mail: dict[str, str]) -> None:
    stack = workers
    worker = stack.start_worker()
    policy = _policy(stack, "killed")
    started = stack.api("POST", f"/backups/policies/{policy}/run/")
    assert started.status_code == 202, started.text
    run_id = started.json()["id"]
    kill_midway(stack, worker, run_id, lambda r: r["status"] == "running" and 5 <= r["progress"] <= 80)
    # The dead run still says "running" until reaped, and blocks the policy's next run:
    assert stack.api("POST", f"/backups/policies/{policy}/run/").status_code == 409
    reaped(stack, run_id)
    assert archives_of(stack, "killed") == []  # no half archive recorded
    retry = stack.agent("retry", run_id=run_id)
    assert stack.wait_job(retry, "succeeded", "failed", timeout=180)["status"] == "succeeded"
    dest = stack.root / "backups" / "killed"
    assert not [p.name for p in dest.iterdir() if p.name.startswith(".dms-admin-tmp")]  # the retry cleaned up
    [archive] = archives_of(stack, "killed")
    verify = stack.api("POST", f"/backups/archives/{archive['id']}/verify/", json={})
    assert verify.status_code == 202, verify.text
    assert stack.wait_job(verify.json()["id"], "succeeded", "failed", timeout=180)["status"] == "succeeded"
    assert_config_sound(stack)
    assert_nothing_running(stack)


def test_worker_sigkill_x_restore(workers: Stack, mail: dict[str, str]) -> None:
    stack = workers
    worker = stack.start_worker()
    policy = _policy(stack, "restored")
    run = stack.api("POST", f"/backups/policies/{policy}/run/").json()["id"]
    assert stack.wait_job(run, "succeeded", "failed", timeout=180)["status"] == "succeeded"
    [archive] = archives_of(stack, "restored")
    for path in mail:  # every message changed since the backup: a restore overwrites them all
        with open(path, "ab") as fh:
            fh.write(b"changed")
    started = stack.api("POST", f"/backups/archives/{archive['id']}/restore/", json={"scope": "all"})
    assert started.status_code == 202, started.text
    run_id = started.json()["id"]
    row = kill_midway(
        stack,
        worker,
        run_id,
        lambda r: r["status"] == "running" and str(r["message"]).startswith("Restored"),
    )
    now = digest(mail)
    assert 0 < sum(now[p] == mail[p] for p in mail) < len(mail), row  # half restored, as a kill leaves it
    reaped(stack, run_id)
    retry = stack.agent("retry", run_id=run_id)
    assert stack.wait_job(retry, "succeeded", "failed", timeout=300)["status"] == "succeeded"
    assert digest(mail) == mail  # the retry completed it
    assert_config_sound(stack)
    assert_nothing_running(stack)
