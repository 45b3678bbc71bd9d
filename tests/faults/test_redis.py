"""Redis stopped, then started again (its data lost, as a restart without persistence loses it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.checks import assert_config_sound, assert_nothing_running
from tests.faults.stack import Stack
from tests.realenv.redis_server import RedisServer, start_redis


@pytest.fixture
def redis_down(workers: Stack, fault_redis: RedisServer) -> Iterator[RedisServer]:
    """Redis, which the test stops; `restart()` brings it back on the same port (and at the end)."""
    yield fault_redis
    if fault_redis.process.poll() is not None:
        restart(fault_redis)


def restart(server: RedisServer) -> None:
    fresh = start_redis(server.workdir, port=server.port)
    server.process, server.log_path = fresh.process, fresh.log_path


def test_redis_down_x_config_write(workers: Stack, redis_down: RedisServer) -> None:
    """The write needs no Redis: it lands, versioned. Its confirmation job cannot be queued: its row
    says so in words (not left "queued" or "running"); once Redis is back a retry finishes it."""
    stack = workers
    before = assert_config_sound(stack)
    stack.api("GET", "/mailboxes/")  # the API token is made while Redis is up
    redis_down.stop()
    created = stack.api("POST", "/mailboxes/", json={"address": "down@example.test", "password": "a-long-secret-1"})
    assert created.status_code == 201, created.text
    apply = created.json()["apply"]
    # Saved, but nothing can watch DMS pick it up: the answer says so, not "waiting".
    assert apply["state"] == "failed" and "Written to postfix-accounts.cf" in apply["message"], apply
    assert "Not confirmed" in apply["message"] and "Waiting" not in apply["message"], apply
    assert created.json()["change"]["pending"] is True
    assert "down@example.test|" in (stack.config_dir / "postfix-accounts.cf").read_text()
    row = stack.row(apply["job"])
    assert row["status"] == "failed" and "job queue (Redis) cannot be reached" in row["error"], row

    restart(redis_down)
    stack.start_worker()
    retry = stack.agent("retry", run_id=apply["job"])
    confirm = stack.wait_job(retry, "succeeded", "failed", timeout=60)
    # This stack has no mail container: the confirmation ends, saying it cannot reach the engine.
    assert "reach" in stack.job(retry)["error"], confirm
    after = assert_config_sound(stack)
    assert after["commits"] == before["commits"] + 1
    assert_nothing_running(stack)


def test_redis_down_x_backup(workers: Stack, redis_down: RedisServer) -> None:
    """A backup started while Redis is down is refused with 503 and the reason (never 202
    "queued"); its row is failed, and after Redis is back a retry makes the archive."""
    stack = workers
    created = stack.api(
        "POST",
        "/backups/policies/",
        json={"name": "redisdown", "include": ["config"], "destination": str(stack.root / "backups" / "redisdown")},
    )
    assert created.status_code == 201, created.text
    redis_down.stop()
    started = stack.api("POST", f"/backups/policies/{created.json()['id']}/run/")
    assert started.status_code == 503, started.text
    body = started.json()
    assert "job queue (Redis) cannot be reached" in body["error"], body
    assert body["job"]["status"] == "failed", body
    row = stack.row(body["job"]["id"])
    assert row["status"] == "failed" and "job queue (Redis) cannot be reached" in row["error"], row
    restart(redis_down)
    stack.start_worker()
    retry = stack.agent("retry", run_id=body["job"]["id"])
    assert stack.wait_job(retry, "succeeded", "failed", timeout=120)["status"] == "succeeded"
    assert any((stack.root / "backups" / "redisdown").iterdir())
    assert_config_sound(stack)
    assert_nothing_running(stack)
