"""Write-ahead, overlapped: a full batch's audit entry is made durable on a writer thread while
the pipeline makes the next batch; the batch leaves only once its entry is durable.

The wait for the disk (an fsync) or the database (a commit, and the live state read before it)
costs a batch's worth of records on PostgreSQL; on its own thread it overlaps the next batch's
reading and encoding instead of stopping them. Order is kept: one writer thread, one batch in
flight, each batch sent only after its own entry (`Sealed.entry_index` waits for it and raises
what the writer raised), and the next entry submitted only after that batch was sent.

The writer needs the GIL back after each wait (the fsync, each round trip to the database),
while the release thread computes: with CPython's default switch interval (5 ms) every such
hand-over can take 5 ms, longer than the wait it follows. SWITCH_INTERVAL shortens it for the
process while a writer runs (bench/README.md measured both).
"""

from __future__ import annotations

import contextvars
import dataclasses
import sys
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from gateway.release.items import Released


@dataclasses.dataclass
class Sealed:
    """A full batch: what it holds, and its audit entry (written, or being written)."""

    index: int
    records: list[Released]
    withheld: Counter[str]
    examined: int  # records examined when it was full
    entry: Future[int] | int  # the release.batch entry's index (-1: a resumed batch not held)
    send: bool  # False: a resumed release's batch the client already holds

    def entry_index(self) -> int:
        """The entry's index once it is durable; what the writer raised, if it failed."""
        return self.entry if isinstance(self.entry, int) else self.entry.result()


SWITCH_INTERVAL = 0.0005  # seconds; CPython's default is 0.005
_writers = 0
_writers_lock = threading.Lock()
_default_interval = sys.getswitchinterval()


def _writer_started() -> None:
    global _writers
    with _writers_lock:
        _writers += 1
        sys.setswitchinterval(min(SWITCH_INTERVAL, _default_interval))


def _writer_stopped() -> None:
    global _writers
    with _writers_lock:
        _writers -= 1
        if not _writers:
            sys.setswitchinterval(_default_interval)


class EntryWriter:
    """The one thread a release's batch entries are written on (started at the first)."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None

    def submit(self, write: Callable[[], int]) -> Future[int]:
        """Run `write` on the writer thread in this thread's context (the call's request id,
        its trace): its spans and entries belong to the release's call."""
        if self._pool is None:
            _writer_started()
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wsg-audit")
        return self._pool.submit(contextvars.copy_context().run, write)

    def close(self) -> None:
        """Wait for the entry in flight (it is written whole or fails whole), then stop."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
            _writer_stopped()
