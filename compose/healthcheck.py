"""Docker healthchecks of the dms-admin image: `healthcheck.py [web|worker|cron]`, exit 0 if healthy.

web (default): GET /healthz on $PORT answers 200. Django refuses a Host it does not know, so the
request carries the first entry of ALLOWED_HOSTS; behind TLS (BEHIND_TLS=1) it says so, or
SECURE_SSL_REDIRECT would answer with a redirect.
worker: an RQ worker of this container (same hostname) is registered in Redis ($REDIS_URL).
cron: Redis answers and PID 1 is still the rqcron process.
"""

import http.client
import os
import socket
import sys


def worker() -> int:
    from redis import Redis
    from rq import Worker

    connection = Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"), socket_timeout=4)
    mine = [w.name for w in Worker.all(connection=connection) if w.hostname == socket.gethostname()]
    if not mine:
        print("no RQ worker of this container is registered", file=sys.stderr)
        return 1
    return 0


def cron() -> int:
    from redis import Redis

    Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"), socket_timeout=4).ping()
    with open("/proc/1/cmdline", "rb") as fh:
        if b"rqcron" not in fh.read():
            print("PID 1 is not rqcron", file=sys.stderr)
            return 1
    return 0


def web() -> int:
    hosts = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "localhost").split(",") if h.strip()]
    host = next((h.lstrip(".") for h in hosts if h != "*"), "localhost") or "localhost"
    headers = {"Host": host}
    if os.environ.get("BEHIND_TLS", "").strip().lower() in ("1", "true", "yes", "on"):
        headers["X-Forwarded-Proto"] = "https"
    conn = http.client.HTTPConnection("127.0.0.1", int(os.environ.get("PORT", "8000")), timeout=4)
    try:
        conn.request("GET", "/healthz", headers=headers)
        response = conn.getresponse()
        body = response.read(200)
    except OSError as exc:
        print(f"healthz: {exc}", file=sys.stderr)
        return 1
    finally:
        conn.close()
    if response.status != 200:
        print(f"healthz: HTTP {response.status} {body!r}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "web"
    try:
        sys.exit({"web": web, "worker": worker, "cron": cron}[mode]())
    except Exception as exc:  # any failure is "unhealthy", with the reason in the health log
        print(f"{mode}: {exc!r}", file=sys.stderr)
        sys.exit(1)
