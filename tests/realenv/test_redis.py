"""The ``redis_url`` fixture points at a real, working redis."""

from __future__ import annotations

import redis


def test_redis_url_answers(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.ping()
        client.set("dms-admin-test:key", "value", ex=10)
        assert client.get("dms-admin-test:key") == b"value"
    finally:
        client.close()
