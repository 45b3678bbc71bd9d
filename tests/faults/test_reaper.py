"""A worker killed under a running job: the reaper marks the job failed with the reason, a retry completes.

Real components: `manage.py rqworker` on a real Redis, gunicorn serving the API, a real SIGKILL.
"""

from __future__ import annotations

import os
import signal
import time

import redis
from rq.job import Job

from tests.faults.stack import Stack, children
from tests.realenv.containers import wait_for

BLOCK = "tests.faults.jobs.blocking_job"


def start_blocking(stack: Stack, name: str) -> tuple[str, int]:
    """A blocking job, started by a worker: (run id, pid of its work horse)."""
    gate = stack.gate / name
    gate.mkdir()
    run_id = stack.agent("enqueue", kind="faults-block", func=BLOCK, args=[str(gate)])
    pid_file = gate / f"pid-{run_id}"
    wait_for(pid_file.exists, 30, what="the job to start")
    return run_id, int(pid_file.read_text())


def rq_status(stack: Stack, run_id: str) -> str:
    client = redis.Redis.from_url(stack.redis_url)
    try:
        return str(Job.fetch(run_id, connection=client).get_status())
    finally:
        client.close()


def test_a_killed_work_horse_is_reaped_with_the_reason_and_the_retry_completes(workers: Stack) -> None:
    stack, started = workers, time.monotonic()
    worker = stack.start_worker()
    run_id, horse = start_blocking(stack, "horse")
    assert horse in children(worker.pid)
    assert stack.job(run_id)["status"] == "running"

    os.kill(horse, signal.SIGKILL)  # what the OOM killer does to the biggest process
    wait_for(lambda: rq_status(stack, run_id) == "JobStatus.FAILED", 30, what="RQ to see its work horse die")
    # RQ knows; the panel's row does not until the reaper runs.
    assert stack.job(run_id)["status"] == "running"
    stack.agent("housekeeping")  # what rqcron runs every minute

    job = stack.job(run_id)
    assert job["status"] == "failed" and job["finished_at"]
    assert "The worker running this job stopped (killed or out of memory)" in job["error"]
    assert "terminated unexpectedly" in job["error"] and "Retry it" in job["error"]
    page = stack.panel().get(f"{stack.web_url}/jobs/{run_id}/", timeout=30)
    assert page.status_code == 200 and "stopped (killed or out of memory)" in page.text
    assert worker.poll() is None  # the worker itself lives on and takes the retry

    (stack.gate / "horse" / "release").touch()
    retry = stack.agent("retry", run_id=run_id)
    stack.wait_job(retry, "succeeded", "failed")
    assert stack.job(retry)["status"] == "succeeded"
    assert stack.agent("reap") == []  # nothing else to reap: a finished job is left alone
    print(f"\nfaults: killed horse reaped and retried in {time.monotonic() - started:.1f} s")


def test_a_worker_killed_with_its_horse_is_reaped_once_its_heartbeat_is_stale(workers: Stack) -> None:
    stack = workers
    worker = stack.start_worker()
    run_id, horse = start_blocking(stack, "whole")
    stack.kill(horse)
    stack.kill(worker)  # the whole worker gone: nothing left to tell RQ the job died
    assert rq_status(stack, run_id) == "JobStatus.STARTED"
    assert stack.agent("reap", stale_after=30) == []  # a heartbeat seconds old: maybe still alive
    time.sleep(2.5)
    assert stack.agent("reap", stale_after=2) == [run_id]
    job = stack.job(run_id)
    assert job["status"] == "failed" and "stopped answering" in job["error"], job

    (stack.gate / "whole" / "release").touch()
    stack.start_worker("worker-2")
    retry = stack.agent("retry", run_id=run_id)
    assert stack.wait_job(retry, "succeeded", "failed")["status"] == "succeeded"


def test_a_running_job_of_a_live_worker_is_not_reaped(workers: Stack) -> None:
    stack = workers
    stack.start_worker()
    run_id, _ = start_blocking(stack, "alive")
    assert stack.agent("reap") == []  # its worker's heartbeat is fresh
    assert stack.job(run_id)["status"] == "running"
    (stack.gate / "alive" / "release").touch()
    assert stack.wait_job(run_id, "succeeded", "failed")["status"] == "succeeded"
