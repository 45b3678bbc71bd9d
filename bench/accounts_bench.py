"""Accounts figures at 10,000 mailboxes and 10,000 aliases (issue targets in brackets).

- create one mailbox through the service: median [<= 50 ms], next to the way `setup email add`
  does it (a `docker exec` of `doveadm pw` in the mail container, then the file edit) [ours <= 1/5];
- bulk import of 10,000 mailboxes in one request [<= 20 s];
- for reference (no target): password change, quota set, alias create and delete at the same size;
- the mailbox list/search page p95 [<= 150 ms] and the web worker's RSS [<= 150 MB] (in web_bench).
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path


def fake_hash() -> str:
    # Random like real hashes: they do not compress, which matters for the history's cost.
    alphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    salt, digest = "".join(random.choices(alphabet, k=16)), "".join(random.choices(alphabet, k=86))
    return f"{{SHA512-CRYPT}}$6${salt}${digest}"


def big_config(folder: Path, mailboxes: int = 10_000, aliases: int = 10_000) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "postfix-accounts.cf").write_text(
        "".join(f"user{i}@example.com|{fake_hash()}\n" for i in range(mailboxes))
    )
    (folder / "postfix-virtual.cf").write_text(
        "".join(f"alias{i}@example.com user{i}@example.com\n" for i in range(aliases))
    )
    (folder / "mailserver.env").write_text("OVERRIDE_HOSTNAME=mail.example.com\n")


def setup_django(tmp: Path) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "dms_admin.settings_test"
    os.environ["DMS_ADMIN_DATA_DIR"] = str(tmp)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.DATABASES["default"]["NAME"] = str(tmp / "db.sqlite3")
    call_command("migrate", verbosity=0)
    settings.DOCKER_HOST = "unix:///nonexistent.sock"  # no engine: the service must not need one


def docker_exec_way(rounds: int, tmp: Path) -> list[float] | str:
    """`setup email add`'s way: doveadm pw by docker exec, then append to the file."""
    try:
        from bench.engine import mail_engine

        engine, client, image = mail_engine()
    except Exception as exc:  # no root / no engine: say so, the other figures still print
        return f"no Docker engine ({exc})"
    container = client.containers.run(image, detach=True, network_mode="none", labels={"dms-admin.test": "1"})
    try:
        accounts = tmp / "docker-way-accounts.cf"
        accounts.write_text((tmp / "cfg" / "postfix-accounts.cf").read_text())
        times = []
        for i in range(rounds):
            start = time.perf_counter()
            result = container.exec_run(
                ["doveadm", "pw", "-s", "SHA512-CRYPT", "-u", f"d{i}@example.com", "-p", "pw-12345678"]
            )
            hashed = result.output.decode().strip()
            text = accounts.read_text()
            if f"d{i}@example.com|" not in text:
                with open(accounts, "a") as fh:
                    fh.write(f"d{i}@example.com|{hashed}\n")
                    fh.flush()
                    os.fsync(fh.fileno())
            times.append(time.perf_counter() - start)
        return times
    finally:
        container.remove(force=True)
        engine.stop()


def main(rounds: int = 30) -> None:
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        setup_django(tmp)
        from django.conf import settings

        from accounts import services
        from dms_admin.audit import Actor
        from dms_admin.configstore import get_store

        settings.DMS_CONFIG_DIR = tmp / "cfg"
        settings.DMS_HISTORY_DIR = tmp / "cfg" / ".dms-admin" / "history.git"
        # A real Redis: each create enqueues the job that confirms DMS picked the change up.
        redis = None
        if not os.environ.get("REDIS_URL"):
            from tests.realenv.redis_server import start_redis

            redis = start_redis(tmp / "redis")
        settings.RQ_QUEUES = {"default": {"URL": os.environ.get("REDIS_URL") or redis.url}}  # type: ignore[union-attr]
        big_config(settings.DMS_CONFIG_DIR)
        get_store().record_external_changes()
        actor = Actor("bench")
        ours = []
        for i in range(rounds):
            start = time.perf_counter()
            services.mailbox_create(address=f"new{i}@example.com", password="bench-password", actor=actor)
            ours.append(time.perf_counter() - start)
        median = statistics.median(ours) * 1000
        print(
            f"create 1 mailbox at 10,000 mailboxes + 10,000 aliases ({rounds} runs): median {median:.1f} ms [<= 50 ms]"
        )
        baseline = docker_exec_way(rounds, tmp)
        if isinstance(baseline, str):
            print(f"  baseline `docker exec doveadm pw` + file edit: not measured: {baseline}")
        else:
            base = statistics.median(baseline) * 1000
            print(
                f"  baseline `docker exec doveadm pw` + file edit: median {base:.1f} ms; ours is {median / base:.2f}x [<= 0.20]"
            )

        others = {
            "password change": lambda i: services.mailbox_set_password(
                address=f"user{i}@example.com", password="other-password", actor=actor
            ),
            "quota set": lambda i: services.quota_set(address=f"user{i}@example.com", quota="1G", actor=actor),
            "alias create": lambda i: services.alias_save(
                address=f"extra{i}@example.com", targets=[f"user{i}@example.com"], actor=actor
            ),
            "mailbox delete (also an alias target)": lambda i: services.mailbox_delete(
                address=f"user{100 + i}@example.com", actor=actor
            ),
        }
        for name, operation in others.items():
            took = []
            for i in range(rounds):
                start = time.perf_counter()
                operation(i)
                took.append(time.perf_counter() - start)
            print(f"  {name} at the same size: median {statistics.median(took) * 1000:.1f} ms (no target)")

        big_config(tmp / "bulk")
        settings.DMS_CONFIG_DIR = tmp / "bulk"
        settings.DMS_HISTORY_DIR = tmp / "bulk" / ".dms-admin" / "history.git"
        (tmp / "bulk" / "postfix-accounts.cf").write_text("")
        items = [services.NewMailbox(f"bulk{i}@example.com", f"password-{i}") for i in range(10_000)]
        start = time.perf_counter()
        services.mailboxes_create(items=items, actor=actor)
        took = time.perf_counter() - start
        print(f"bulk import of 10,000 mailboxes in one call: {took:.1f} s [<= 20 s] on {os.cpu_count()} cores")
        if redis is not None:
            redis.stop()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
