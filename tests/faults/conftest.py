"""Fixtures of the fault tests: a private Redis they may stop, and a running dms-admin stack."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.stack import Stack
from tests.realenv.redis_server import RedisServer, start_redis


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.faults)


@pytest.fixture(scope="session")
def fault_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server of the fault tests alone (they stop and restart it); never $REDIS_URL."""
    server = start_redis(tmp_path_factory.mktemp("fault-redis"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, fault_redis: RedisServer) -> Iterator[Stack]:
    """One deployment for the session, with gunicorn serving it; each test starts its own workers."""
    started = time.monotonic()
    deployment = Stack(tmp_path_factory.mktemp("stack"), fault_redis.url)
    deployment.start_web()
    print(f"\nfaults: stack up in {time.monotonic() - started:.1f} s")
    try:
        yield deployment
    finally:
        deployment.stop()


@pytest.fixture
def workers(stack: Stack) -> Iterator[Stack]:
    """The stack; the processes a test starts (workers, a second web server) end with it."""
    kept = len(stack.procs)
    yield stack
    stack.stop(keep=kept)
