"""``python -m tests.realenv prepare|stop|status``.

``prepare`` starts (or reuses) the test dockerd and builds the mail image, so
the first, slow build is visible before pytest runs; the daemon keeps running
and the pytest ``docker_engine`` fixture reuses it.  ``stop`` ends a daemon
left running by ``prepare`` (``make test`` calls it at the end).
With ``DOCKER_HOST`` set, that engine is used and never started or stopped.
"""

from __future__ import annotations

import argparse
import sys
import time

from tests.realenv.dockerd import (
    Dockerd,
    default_cache_dir,
    engine_from_env,
    find_running_dockerd,
    start_dockerd,
    stop_dockerd,
)
from tests.realenv.mailimage import ensure_mail_image


def _engine() -> Dockerd:
    return engine_from_env() or start_dockerd(default_cache_dir())


def cmd_prepare() -> int:
    started = time.monotonic()
    engine = _engine()
    state = "started" if engine.owned else "reusing"
    print(f"dockerd: {state} {engine.host}", file=sys.stderr)
    client = engine.client()
    try:
        tag = ensure_mail_image(client)
    finally:
        client.close()
    print(f"image: {tag} ({time.monotonic() - started:.1f} s)", file=sys.stderr)
    # Machine-readable lines on stdout.
    print(f"MAIL_IMAGE={tag}")
    print(f"DOCKER_HOST={engine.host}")
    return 0


def cmd_stop() -> int:
    if engine_from_env() is not None:
        print("DOCKER_HOST is set: not stopping an engine we did not start", file=sys.stderr)
        return 0
    pid = stop_dockerd(default_cache_dir())
    if pid is None:
        print("no test dockerd running", file=sys.stderr)
    else:
        print(f"stopped test dockerd (pid {pid})", file=sys.stderr)
    return 0


def cmd_status() -> int:
    engine = engine_from_env() or find_running_dockerd(default_cache_dir())
    if engine is None or not engine.ping():
        print("no test dockerd running", file=sys.stderr)
        return 1
    print(f"DOCKER_HOST={engine.host}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.realenv", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["prepare", "stop", "status"])
    args = parser.parse_args(argv)
    return {"prepare": cmd_prepare, "stop": cmd_stop, "status": cmd_status}[args.command]()


if __name__ == "__main__":
    sys.exit(main())
