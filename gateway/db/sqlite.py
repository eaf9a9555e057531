"""One SQLite read connection per thread, opened on first use, all closed together.

With WAL a reader never waits for a writer's fsync, and opening a connection per call costs more
than the small lookups made on it (warrant gets, target resolution). The warrant book and the
reference store both keep their readers this way.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable


class ThreadReaders:
    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._lock = threading.Lock()  # its own: never a writer's lock, which may be held long

    def get(self) -> sqlite3.Connection:
        """This thread's connection, opened now if it has none."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = self._connect()
            with self._lock:
                self._opened.append(db)
        return db

    def discard(self) -> None:
        """Forget this thread's connection (after an error): the next get opens a new one."""
        self._local.db = None

    def close(self) -> None:
        with self._lock:
            for db in self._opened:
                db.close()
            self._opened.clear()
