"""A real RQ worker running in a background thread, for browser tests that watch jobs live.

The usual `get_worker(...).work(burst=True)` blocks the test until the queue is empty, so the
page can only ever see the outcome. Here jobs run (in this process, on the real Redis and the
test database) while Playwright watches, clicks Stop, and so on.
"""

from __future__ import annotations

import threading
from types import TracebackType

import django_rq
from django.db import connections
from rq.timeouts import TimerDeathPenalty
from rq.worker import SimpleWorker


class _ThreadWorker(SimpleWorker):
    death_penalty_class = TimerDeathPenalty  # SIGALRM works only in the main thread

    def _install_signal_handlers(self) -> None:  # signal.signal() too
        pass


class ThreadedWorker:
    def __init__(self, *queues: str, poll: float = 0.2) -> None:
        self.queues = [django_rq.get_queue(name) for name in queues or ("default",)]
        self.poll = poll
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rq-test-worker", daemon=True)
        self.errors: list[BaseException] = []
        # The test database is in-memory SQLite in shared-cache mode: a second connection from this
        # thread gets "database table is locked" at once whenever another holds a lock. Share the
        # test thread's connection instead, as Django's live server thread does.
        self._shared = {c.alias: c for c in connections.all() if c.vendor == "sqlite" and c.is_in_memory_db()}

    def _run(self) -> None:
        for alias, connection in self._shared.items():
            connections[alias] = connection
        try:
            while not self._stop.is_set():
                worker = _ThreadWorker(self.queues, connection=self.queues[0].connection)
                worker.work(burst=True, with_scheduler=False)
                self._stop.wait(self.poll)
        except BaseException as exc:  # reported by __exit__, never lost in the thread
            self.errors.append(exc)
        finally:
            for connection in connections.all():
                if connection.alias not in self._shared:  # a shared one is the test thread's
                    connection.close()

    def __enter__(self) -> ThreadedWorker:
        for connection in self._shared.values():
            connection.inc_thread_sharing()
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(timeout=60)
        for connection in self._shared.values():
            connection.dec_thread_sharing()
        if self.errors and kind is None:
            raise self.errors[0]
