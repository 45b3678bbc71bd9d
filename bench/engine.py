"""The Docker engine and test mail image the benches measure against (see tests/realenv)."""

from __future__ import annotations

from typing import Any


def mail_engine() -> tuple[Any, Any, str]:
    """(engine, client, mail image tag): $DOCKER_HOST's engine or the cached test dockerd.

    Raises with the reason when there is none (not root, no dockerd): the caller prints that
    its figures were not measured, and the other benches go on.
    """
    from tests.realenv.dockerd import default_cache_dir, engine_from_env, start_dockerd
    from tests.realenv.mailimage import ensure_mail_image

    engine = engine_from_env() or start_dockerd(default_cache_dir())
    client = engine.client()
    return engine, client, ensure_mail_image(client)
