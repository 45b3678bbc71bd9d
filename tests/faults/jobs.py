"""Job functions only the fault tests enqueue: a job that blocks until the test lets it go."""

from __future__ import annotations

import os
import time
from pathlib import Path

from dms_admin.jobqueue import job_running


def blocking_job(run_id: str, gate: str) -> None:
    """Write the work horse's pid to `gate`/pid, then wait until `gate`/release exists."""
    folder = Path(gate)
    with job_running(run_id) as report:
        report.progress(10, "Waiting for the test to release it")
        (folder / f"pid-{run_id}").write_text(str(os.getpid()))
        while not (folder / "release").exists():
            time.sleep(0.05)
        report.progress(100, "Released")
