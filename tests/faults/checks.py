"""What every cell of the fault matrix asserts once the fault is over."""

from __future__ import annotations

from pathlib import Path

from tests.faults.stack import Stack


def process_group(pgid: int) -> list[int]:
    """Live processes in process group `pgid` (a work horse's own group holds its tar, zstd…)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            found.append(int(stat.parent.name))
    return found


def assert_config_sound(stack: Stack) -> dict[str, object]:
    """No temp file left in the config folder, git's check of the history passes, and after
    housekeeping (which records outside changes) the files are what the newest commit holds."""
    assert stack.config_dir is not None
    stack.agent("housekeeping")
    state = stack.agent("drift")
    assert state["drift"] == [], state
    assert state["fsck"] == 0, state["fsck_errors"]
    leftovers = [str(p) for p in stack.config_dir.rglob(".dms-admin-tmp-*")]
    return {**state, "temp_files": leftovers}


def assert_nothing_running(stack: Stack) -> None:
    stack.agent("reap")
    assert stack.agent("active") == []
