"""The embedded audit log: DIR/audit.log, one canonical JSON entry per line, fsynced.

Each line is a leaf of an RFC 6962 Merkle tree (leaf = the line's exact bytes without its
newline), so signed checkpoints over the tree let an auditor detect any later change
(gateway.audit.checkpoints). Each entry also carries its leaf `index` and the sha256 of the line
before it (`prev`), which lets `wsg audit verify` say *where* and *how* a log was changed.

`append` returns only after the line is written and fsynced; a release sends a batch only after
that. If a write or fsync ever fails the log is marked broken for good: the gateway never retries
an fsync and carries on as if the data were safe, it refuses to act instead. On open, a torn last
line (a crash in the middle of a write) is cut off and recorded in a new entry, never dropped
silently.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime as dt
import hashlib
import os
import pathlib
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import NoReturn

from gateway import faults, tracing
from gateway.audit.entries import GENESIS, render
from gateway.audit.events import AuditRecovered, Event
from gateway.audit.log import TreeReads, Veto
from gateway.audit.tree import MerkleTree, leaf_hash
from gateway.datadir import PRIVATE_FILE
from gateway.errors import Unavailable
from gateway.metrics import AUDIT_APPEND_SECONDS, AUDIT_ENTRIES, AUDIT_FSYNC_SECONDS, timed
from gateway.model import format_time

TORN_KEEP = 4096  # bytes of a torn line kept (base64) in the recovery entry


@dataclasses.dataclass
class _Scan:
    """What an existing log file holds: line offsets, leaf hashes, and any torn tail."""

    offsets: list[int]
    leaves: list[bytes]
    last_hash: str
    good_length: int
    torn: bytes


def _scan(path: pathlib.Path) -> _Scan:
    offsets: list[int] = []
    leaves: list[bytes] = []
    last, position, torn = GENESIS, 0, b""
    if path.exists():
        with path.open("rb") as handle:
            for raw in handle:
                if not raw.endswith(b"\n"):
                    torn = raw  # the last write never finished
                    break
                line = raw[:-1]
                offsets.append(position)
                leaves.append(leaf_hash(line))
                last = hashlib.sha256(line).hexdigest()
                position += len(raw)
    return _Scan(offsets, leaves, last, position, torn)


class FileAuditLog(TreeReads):
    """Appends entries to DIR/audit.log and keeps the Merkle tree over them; fail closed."""

    def __init__(self, path: pathlib.Path, clock: Callable[[], dt.datetime]) -> None:
        self.path = path
        self._clock = clock
        self._lock = threading.RLock()
        self._broken: str | None = None
        self._on_broken: list[Callable[[str], None]] = []
        scan = _scan(path)
        if scan.torn:
            _cut(path, scan.good_length)
        self._offsets = scan.offsets
        self._tree = MerkleTree(scan.leaves)
        self._last_hash = scan.last_hash
        self._end = scan.good_length
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, PRIVATE_FILE)
        os.fchmod(self._fd, PRIVATE_FILE)  # whatever the umask, or an older gateway, made it
        self._reader = os.open(path, os.O_RDONLY)
        if scan.torn:
            self.append(
                AuditRecovered(
                    why="the last line was cut off by a crash during its write and was removed",
                    torn_bytes=len(scan.torn),
                    torn_sha256=hashlib.sha256(scan.torn).hexdigest(),
                    torn_head_b64=base64.b64encode(scan.torn[:TORN_KEEP]).decode(),
                )
            )

    def fileno(self) -> int:
        """The append descriptor (tests swap it for /dev/full to make the disk fail)."""
        return self._fd

    @property
    def size(self) -> int:
        with self._lock:
            return len(self._tree)

    @property
    def location(self) -> str:
        return str(self.path)

    @property
    def broken(self) -> str | None:
        return self._broken

    def sync(self) -> None:
        """Nothing to catch up with: this process is the log's only writer."""

    def on_broken(self, callback: Callable[[str], None]) -> None:
        self._on_broken.append(callback)

    def append(self, event: Event) -> int:
        return self.append_many([event])[0]

    def append_many(self, events: Sequence[Event]) -> list[int]:
        """Write entries in order with one fsync (group commit); return their indexes once all
        are durable, or raise Unavailable. Nobody sees them (tree, proofs, checkpoints) before."""
        with self._lock:
            return self._append(events, self._clock())

    def append_checked(self, event: Event, veto: Veto) -> int | None:
        """See AuditLog.append_checked. The warrant book's group commit holds this lock from
        its entries' write to its state's commit (`writing`), so a veto reading the state
        under it never sees a revocation's entry without its state."""
        with self._lock:
            now = self._clock()
            instead = veto()
            if instead is not None:
                self._append([instead], now)
                return None
            return self._append([event], now)[0]

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the write lock across an append and what must become visible with it (the
        warrant state's commit), so that no checked append falls between the two."""
        with self._lock:
            yield

    def _append(self, events: Sequence[Event], now: dt.datetime) -> list[int]:
        with (
            timed(AUDIT_APPEND_SECONDS, "embedded"),
            tracing.tracer().start_as_current_span("audit.append") as span,
        ):
            span.set_attribute("wsg.audit.entries", len(events))
            self.require_healthy()
            rendered = render(events, len(self._tree), self._last_hash, format_time(now))
            if rendered.lines:
                try:
                    self._write(b"".join(line + b"\n" for line in rendered.lines))
                except OSError as exc:
                    self.fail(f"cannot write {self.path}: {exc.strerror or exc}")
            for line in rendered.lines:
                self._offsets.append(self._end)
                self._end += len(line) + 1
                self._tree.append(leaf_hash(line))
            self._last_hash = rendered.last_hash
            AUDIT_ENTRIES.labels("embedded").inc(len(rendered.lines))
            return list(range(rendered.first, rendered.first + len(rendered.lines)))

    def _write(self, data: bytes) -> None:
        faults.hit("audit.write", torn=lambda: os.write(self._fd, data[: len(data) // 2]))
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        faults.hit("audit.fsync")
        with (
            timed(AUDIT_FSYNC_SECONDS, "embedded"),
            tracing.tracer().start_as_current_span("audit.fsync"),
        ):
            os.fsync(self._fd)

    def require_healthy(self) -> None:
        if self._broken is not None:
            raise Unavailable(f"audit log unavailable ({self._broken}); nothing is released")

    def fail(self, why: str) -> NoReturn:
        """Mark the log broken for good (a failed write or fsync is never retried) and raise."""
        with self._lock:
            if self._broken is None:
                self._broken = why
                for callback in self._on_broken:
                    callback(why)
        raise Unavailable(f"audit log unavailable ({self._broken}); nothing is released")

    def line(self, index: int) -> bytes:
        with self._lock:
            if not 0 <= index < len(self._offsets):
                raise IndexError(f"no audit entry {index}; the log has {len(self._offsets)}")
            start = self._offsets[index]
            end = self._offsets[index + 1] if index + 1 < len(self._offsets) else self._end
        return os.pread(self._reader, end - start - 1, start)

    def lines(self, start: int = 0) -> Iterator[tuple[int, bytes]]:
        for index in range(start, self.size):
            yield index, self.line(index)

    def close(self) -> None:
        with self._lock:
            for fd in (self._fd, self._reader):
                if fd >= 0:
                    os.close(fd)
            self._fd = self._reader = -1


def _cut(path: pathlib.Path, length: int) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, length)
        os.fsync(fd)
    finally:
        os.close(fd)
