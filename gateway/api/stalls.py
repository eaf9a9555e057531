"""Release calls whose client stopped reading: cut after a bound, so they give their thread back.

A release's handler thread blocks in gRPC's send while the client reads nothing (HTTP/2 flow
control): no time cap between batches can fire then. Each release call is watched while it
hands a message to gRPC (`Watch.sending` .. `Watch.sent`); a watcher thread cancels a call that
has been sending for longer than `release_unread_seconds`, after telling the release why, so
the release's end is audited with that reason (gateway.release.pipeline) and the thread is
free again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import grpc
import structlog

log = structlog.get_logger("wsg.server")
TICK = 0.1  # seconds between looks


class CallWatch:
    """One release call: since when it has been handing a message to gRPC (None: not now)."""

    def __init__(self, context: grpc.ServicerContext) -> None:
        self.context = context
        self.since: float | None = None
        self.on_cut: Callable[[str], None] = lambda why: None

    def sending(self) -> None:
        self.since = time.monotonic()

    def sent(self) -> None:
        self.since = None


class Stalls:
    """The watcher thread over every release call in flight."""

    def __init__(self, limit: float) -> None:
        self._limit = limit
        self._watches: set[CallWatch] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wsg-stalls", daemon=True)

    def watch(self, context: grpc.ServicerContext) -> CallWatch:
        watch = CallWatch(context)
        with self._lock:
            self._watches.add(watch)
        return watch

    def forget(self, watch: CallWatch) -> None:
        with self._lock:
            self._watches.discard(watch)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(TICK):
            now = time.monotonic()
            with self._lock:
                stuck = [
                    w for w in self._watches if w.since is not None and now - w.since > self._limit
                ]
                for watch in stuck:
                    self._watches.discard(watch)
            for watch in stuck:
                why = (
                    f"the client read nothing for {self._limit:g} s; the call was cut to free "
                    "its thread"
                )
                log.warning("release cut: client not reading", seconds=self._limit)
                watch.on_cut(why)
                watch.context.cancel()
