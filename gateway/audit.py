"""The write-ahead audit log: one canonical JSON line per warrant action and release batch.

Each entry carries its sequence number and the sha256 of the previous line, so deleting,
reordering or editing a line breaks the chain (the Merkle tree and signed checkpoints come on top
of this). `append` returns only after the line is written and fsynced; a release sends a batch
only after that. If a write or fsync ever fails the log is marked broken for good: the gateway
never retries an fsync and carries on as if the data were safe, it refuses to act instead.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import pathlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import structlog

from gateway.errors import Unavailable
from gateway.model import format_time

GENESIS = "0" * 64


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 as is: the one byte form of an entry or record."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class _FsyncedFile:
    """structlog's final 'logger': writes each rendered entry as a line and fsyncs it."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.last_line = ""

    def msg(self, line: str) -> None:
        self.last_line = line
        data = (line + "\n").encode()
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]
        os.fsync(self.fd)


class AuditLog:
    """Appends entries to DIR/audit.log; thread-safe; fail closed."""

    def __init__(self, path: pathlib.Path, clock: Callable[[], dt.datetime]) -> None:
        self.path = path
        self._clock = clock
        self._lock = threading.Lock()
        self.broken: str | None = None
        self._on_broken: list[Callable[[str], None]] = []
        self._next_seq, self._last_hash = _scan(path)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        self._file = _FsyncedFile(self._fd)
        self._log = structlog.wrap_logger(
            self._file,
            processors=[structlog.processors.JSONRenderer(serializer=_render)],
            wrapper_class=structlog.BoundLogger,
            cache_logger_on_first_use=True,
        )

    def fileno(self) -> int:
        return self._fd

    @property
    def size(self) -> int:
        """Entries written so far."""
        return self._next_seq

    def on_broken(self, callback: Callable[[str], None]) -> None:
        """Call back (e.g. to set health NOT_SERVING) when the log becomes unwritable."""
        self._on_broken.append(callback)

    def append(self, event: str, **fields: Any) -> int:
        """Write one entry durably and return its sequence number, or raise Unavailable."""
        with self._lock:
            if self.broken is not None:
                raise Unavailable(f"audit log unavailable ({self.broken}); nothing is released")
            seq = self._next_seq
            entry = {
                "seq": seq,
                "prev": self._last_hash,
                "ts": format_time(self._clock()),
                **fields,
            }
            try:
                self._log.msg(event, **entry)
            except OSError as exc:
                self.broken = f"cannot write {self.path}: {exc.strerror or exc}"
                for callback in self._on_broken:
                    callback(self.broken)
                raise Unavailable(f"audit log unavailable ({self.broken}); nothing is released") from None
            self._next_seq = seq + 1
            self._last_hash = hashlib.sha256(self._file.last_line.encode()).hexdigest()
            return seq

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


def _render(event_dict: dict[str, Any], **_: Any) -> str:
    return canonical_json(event_dict)


def _scan(path: pathlib.Path) -> tuple[int, str]:
    """Next sequence number and hash of the last line of an existing log."""
    count, last = 0, GENESIS
    if path.exists():
        with path.open("rb") as handle:
            for raw in handle:
                count += 1
                last = hashlib.sha256(raw.rstrip(b"\n")).hexdigest()
    return count, last


def read_entries(path: pathlib.Path) -> Iterator[dict[str, Any]]:
    """Entries of a log as dicts, in file order (for `wsg audit tail`)."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                entry = json.loads(raw)
            except ValueError:
                entry = {"event": "unreadable line", "line": number}
            yield entry


def verify_log(path: pathlib.Path) -> list[tuple[str, int]]:
    """Faults in a log as (class, first index affected): every fault, not just the first.

    Checks that sequence numbers run 0, 1, 2, ... and that each entry names the sha256 of the
    line before it. Without a signed checkpoint a cut-off tail cannot be seen here.
    """
    faults: list[tuple[str, int]] = []
    expected = 0
    seen: set[int] = set()
    prev_hash = GENESIS
    with path.open("rb") as handle:
        for index, raw in enumerate(handle):
            line = raw.rstrip(b"\n")
            digest = hashlib.sha256(line).hexdigest()
            try:
                entry = json.loads(line)
                seq = entry["seq"]
                prev = entry["prev"]
                if not isinstance(seq, int):
                    raise TypeError
            except (ValueError, KeyError, TypeError):
                faults.append(("modified", index))
                prev_hash = digest
                expected += 1
                continue
            if seq == expected:
                if prev != prev_hash:
                    faults.append(("modified", max(seq - 1, 0)))
            elif seq in seen:
                faults.append(("inserted", index))
            elif seq > expected:
                faults.append(("missing", expected))
            else:
                faults.append(("reordered", index))
            seen.add(seq)
            expected = max(expected, seq) + 1
            prev_hash = digest
    return faults
