"""The write-ahead audit log: one canonical JSON line per warrant action and release batch.

Each line is a leaf of an RFC 6962 Merkle tree (leaf = the line's exact bytes without its newline),
so signed checkpoints over the tree let an auditor detect any later change (gateway.checkpoints).
Each entry also carries its leaf `index` and the sha256 of the line before it (`prev`), which lets
`wsg audit verify` say *where* and *how* a log was changed, not only that it was.

`append` returns only after the line is written and fsynced; a release sends a batch only after
that. If a write or fsync ever fails the log is marked broken for good: the gateway never retries
an fsync and carries on as if the data were safe, it refuses to act instead. On open, a torn last
line (a crash in the middle of a write) is cut off and recorded in a new entry, never dropped
silently.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import json
import os
import pathlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import structlog

from gateway import faults
from gateway.errors import Unavailable
from gateway.merkle import MerkleTree, leaf_hash
from gateway.model import format_time

GENESIS = "0" * 64
TORN_KEEP = 4096  # bytes of a torn line kept (base64) in the recovery entry


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 as is: the one byte form of an entry or record."""
    return canonical_bytes(value).decode()


def canonical_bytes(value: Any) -> bytes:
    """canonical_json as UTF-8 bytes. orjson writes exactly what json.dumps(sort_keys=True,
    separators=(",", ":"), ensure_ascii=False) writes, several times faster (the release hot
    path); the standard library covers what orjson refuses (integers beyond 64 bits)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


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


class _FsyncedFile:
    """structlog's final 'logger': writes each rendered entry as a line and fsyncs it.

    While held (group commit), rendered lines are kept and then written with one fsync."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.last_line = b""
        self._held: list[bytes] | None = None

    def msg(self, line: str) -> None:
        data = (line + "\n").encode()
        self.last_line = data[:-1]
        if self._held is not None:
            self._held.append(data)
        else:
            self._write(data)

    def hold(self) -> None:
        self._held = []

    def drop(self) -> None:
        self._held = None

    def release(self) -> None:
        """Write every held line, then fsync once."""
        held, self._held = self._held or [], None
        if held:
            self._write(b"".join(held))

    def _write(self, data: bytes) -> None:
        faults.hit("audit.write", torn=lambda: os.write(self.fd, data[: len(data) // 2]))
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]
        faults.hit("audit.fsync")
        os.fsync(self.fd)


class TreeReads:
    """What checkpoints and proofs read from a log's Merkle tree, under the log's lock (both
    logs, the file and the PostgreSQL table, keep `_tree` and `_lock`)."""

    _tree: MerkleTree
    _lock: threading.RLock

    def root(self, size: int) -> bytes:
        with self._lock:
            return self._tree.root(size)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        with self._lock:
            return self._tree.inclusion_proof(index, size)

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        with self._lock:
            return self._tree.consistency_proof(old_size, new_size)


class AuditLog(TreeReads):
    """Appends entries to DIR/audit.log and keeps the Merkle tree over them; fail closed."""

    def __init__(self, path: pathlib.Path, clock: Callable[[], dt.datetime]) -> None:
        self.path = path
        self._clock = clock
        self._lock = threading.RLock()
        self.broken: str | None = None
        self._on_broken: list[Callable[[str], None]] = []
        scan = _scan(path)
        if scan.torn:
            _cut(path, scan.good_length)
        self._offsets = scan.offsets
        self._tree = MerkleTree(scan.leaves)
        self._last_hash = scan.last_hash
        self._end = scan.good_length
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        self._reader = os.open(path, os.O_RDONLY)
        self._file = _FsyncedFile(self._fd)
        self._log = structlog.wrap_logger(
            self._file,
            processors=[structlog.processors.JSONRenderer(serializer=_render)],
            wrapper_class=structlog.BoundLogger,
            cache_logger_on_first_use=True,
        )
        if scan.torn:
            self.append(
                "audit.recovered",
                why="the last line was cut off by a crash during its write and has been removed",
                torn_bytes=len(scan.torn),
                torn_sha256=hashlib.sha256(scan.torn).hexdigest(),
                torn_head_b64=base64.b64encode(scan.torn[:TORN_KEEP]).decode(),
            )

    def fileno(self) -> int:
        """The append descriptor (tests swap it for /dev/full to make the disk fail)."""
        return self._fd

    @property
    def size(self) -> int:
        """Entries written so far (the tree size)."""
        with self._lock:
            return len(self._tree)

    @property
    def location(self) -> str:
        return str(self.path)

    def sync(self) -> None:
        """Nothing to catch up with: this process is the log's only writer."""

    def on_broken(self, callback: Callable[[str], None]) -> None:
        """Call back (e.g. to set health NOT_SERVING) when the log becomes unwritable."""
        self._on_broken.append(callback)

    def append(self, event: str, **fields: Any) -> int:
        """Write one entry durably and return its index, or raise Unavailable."""
        return self.append_many([(event, fields)])[0]

    def append_many(self, entries: list[tuple[str, dict[str, Any]]]) -> list[int]:
        """Write entries in order with one fsync (group commit); return their indexes once all
        are durable, or raise Unavailable. Nobody sees them (tree, proofs, checkpoints) before."""
        with self._lock:
            self.require_healthy()
            first = len(self._tree)
            lines: list[bytes] = []
            last = self._last_hash
            self._file.hold()
            try:
                for offset, (event, fields) in enumerate(entries):
                    entry = {"index": first + offset, "prev": last, "ts": format_time(self._clock()),
                             **fields}
                    self._log.msg(event, **entry)
                    lines.append(self._file.last_line)
                    last = hashlib.sha256(lines[-1]).hexdigest()
                self._file.release()
            except OSError as exc:
                self.fail(f"cannot write {self.path}: {exc.strerror or exc}")
            finally:
                self._file.drop()  # a rendering error must not leave lines held
            for line in lines:
                self._offsets.append(self._end)
                self._end += len(line) + 1
                self._tree.append(leaf_hash(line))
            self._last_hash = last
            return list(range(first, first + len(lines)))

    def require_healthy(self) -> None:
        if self.broken is not None:
            raise Unavailable(f"audit log unavailable ({self.broken}); nothing is released")

    def fail(self, why: str) -> None:
        """Mark the log broken for good (a failed write or fsync is never retried) and raise."""
        with self._lock:
            if self.broken is None:
                self.broken = why
                for callback in self._on_broken:
                    callback(why)
        self.require_healthy()

    def line(self, index: int) -> bytes:
        """The exact bytes of entry `index` (the Merkle leaf)."""
        with self._lock:
            if not 0 <= index < len(self._offsets):
                raise IndexError(f"no audit entry {index}; the log has {len(self._offsets)}")
            start = self._offsets[index]
            end = self._offsets[index + 1] if index + 1 < len(self._offsets) else self._end
        return os.pread(self._reader, end - start - 1, start)

    def lines(self) -> Iterator[tuple[int, bytes]]:
        """(index, bytes) of every entry written so far, in order."""
        for index in range(self.size):
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


def _render(event_dict: dict[str, Any], **_: Any) -> str:
    return canonical_json(event_dict)


def read_lines(path: pathlib.Path) -> Iterator[bytes]:
    """The log's lines (leaves) in file order, without newlines; a torn tail is included."""
    with path.open("rb") as handle:
        for raw in handle:
            yield raw[:-1] if raw.endswith(b"\n") else raw


def read_entries(path: pathlib.Path) -> Iterator[dict[str, Any]]:
    """Entries of a log as dicts, in file order (for `wsg audit tail`)."""
    for number, line in enumerate(read_lines(path)):
        try:
            entry = json.loads(line)
        except ValueError:
            entry = {"event": "unreadable line", "line": number}
        yield entry
