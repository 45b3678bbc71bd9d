"""gunicorn settings for the dms-admin image, tuned for a small (1 GB) host.

Environment: PORT (8000), BIND_HOST (0.0.0.0), WEB_CONCURRENCY (2 workers),
GUNICORN_THREADS (4), GUNICORN_TIMEOUT (60 s), GUNICORN_MAX_REQUESTS (1000; 0 disables).
"""

import os

bind = f"{os.environ.get('BIND_HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"  # noqa: S104 - inside a container
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 20
# Recycle workers now and then so memory stays flat; jitter keeps them from restarting together.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "1000"))
max_requests_jitter = max_requests // 10
# Heartbeat files in memory, not on the (possibly slow, possibly read-only) container layer.
worker_tmp_dir = "/dev/shm"
accesslog = "-"
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
