"""Mail container figures, with the real engine and the test mail image.

- re-create through the adapter (stop, rename, create, start, remove the old one) against the bare
  Docker SDK stop/remove/create/start of the same container [ratio];
- from saving an account change to "applied" by DMS's change detector [<= poll interval + 3 s].
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROUNDS = 5


def main() -> None:
    try:
        from bench.engine import mail_engine

        engine, client, image = mail_engine()
    except Exception as exc:
        print(f"container figures not measured: no Docker engine ({exc})")
        return
    from dms_admin.changes import watched_confirm
    from dms_admin.configstore import ConfigStore
    from dms_admin.dms import MailServer

    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        config = tmp / "config"
        config.mkdir()
        (config / "postfix-accounts.cf").write_text("a@example.test|{SHA512-CRYPT}$6$x$y\n")
        kwargs = {
            "detach": True,
            "hostname": "mail.example.test",
            "network_mode": "none",
            "volumes": {str(config): {"bind": "/tmp/docker-mailserver", "mode": "rw"}},
            "labels": {"dms-admin.test": "1"},
            "environment": {"DMS_CONFIG_POLL": "1"},
        }
        client.containers.run(image, name="dms-bench-mail", **kwargs)
        try:
            mailserver = ourselves = MailServer(name="dms-bench-mail", base_url=engine.host)
            mailserver.wait_healthy(timeout=60, interval=0.2)
            ours, bare = [], []
            for i in range(ROUNDS):
                start = time.perf_counter()
                ourselves.recreate(env={"BENCH_ROUND": str(i)}, stop_timeout=10)
                ourselves.wait_healthy(timeout=60, interval=0.2)
                ours.append(time.perf_counter() - start)
                start = time.perf_counter()
                current = client.containers.get("dms-bench-mail")
                current.stop(timeout=10)
                current.remove()
                client.containers.run(
                    image,
                    name="dms-bench-mail",
                    **{**kwargs, "environment": {"DMS_CONFIG_POLL": "1", "BENCH_ROUND": str(i)}},
                )
                ourselves.wait_healthy(timeout=60, interval=0.2)
                bare.append(time.perf_counter() - start)
            m, b = statistics.median(ours), statistics.median(bare)
            print(
                f"re-create until healthy ({ROUNDS} runs): median {m:.2f} s; bare SDK stop/remove/create/start: {b:.2f} s; ratio {m / b:.2f}"
            )
            store = ConfigStore(config)
            applied = []
            for i in range(ROUNDS):
                start = time.perf_counter()
                store.write(
                    "postfix-accounts.cf",
                    store.read("postfix-accounts.cf") + f"b{i}@example.test|{{SHA512-CRYPT}}$6$x$y\n",
                    actor="bench",
                    message="add",
                )
                done = watched_confirm(["postfix-accounts.cf"], store=store, mailserver=mailserver, timeout=20)
                assert all(done.values())
                applied.append(time.perf_counter() - start)
            print(
                f"account change saved -> applied by DMS ({ROUNDS} runs): median {statistics.median(applied):.2f} s, max {max(applied):.2f} s [<= poll 1 s + 3 s]"
            )
        finally:
            client.containers.get("dms-bench-mail").remove(force=True)
            engine.stop()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dms_admin.settings_test")
    import django

    django.setup()
    main()
