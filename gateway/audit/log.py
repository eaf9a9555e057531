"""The audit log's interface, which the embedded file log and the PostgreSQL table implement.

The release pipeline, the warrant book, the API guard and AuditService know only this. Both
implementations (gateway.backends.embedded.audit_log, gateway.backends.postgres.audit_log) render
entries with gateway.audit.entries and keep the RFC 6962 tree over them (gateway.audit.tree).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import NoReturn, Protocol

from gateway.audit.events import Event
from gateway.audit.tree import MerkleTree

# Asked just before an entry is written, under the log's write lock: None lets it be written,
# an entry is written in its place (a release.stopped for a warrant revoked meanwhile).
Veto = Callable[[], Event | None]


class AuditLog(Protocol):
    """Write-ahead: `append` returns only once the entry is durable."""

    @property
    def size(self) -> int:
        """Entries written so far (the tree size)."""
        ...

    @property
    def location(self) -> str:
        """Where the log is, for people (a path, or the table)."""
        ...

    @property
    def broken(self) -> str | None:
        """Why the log refuses every write for good, or None."""
        ...

    def append(self, event: Event) -> int:
        """Write one entry durably; its index, or Unavailable."""
        ...

    def append_many(self, events: Sequence[Event]) -> list[int]:
        """Write entries in order, durably together; their indexes, or Unavailable."""
        ...

    def append_checked(self, event: Event, veto: Veto) -> int | None:
        """Write `event` unless `veto`, asked under the same lock as the write (and on
        PostgreSQL in the same transaction, after the shared log's lock), returns an entry to
        write instead. Nothing another writer does can fall between the question and the
        write: a warrant's revocation is ordered wholly before it (then the veto sees it) or
        wholly after the entry. The entry's time is read before the veto is asked. Returns
        `event`'s index, or None when the veto's entry was written in its place."""
        ...

    def sync(self) -> None:
        """Catch up with entries other writers (replicas) committed."""
        ...

    def on_broken(self, callback: Callable[[str], None]) -> None:
        """Call back when the log becomes unwritable for good."""
        ...

    def require_healthy(self) -> None:
        """Unavailable if the log cannot be written."""
        ...

    def fail(self, why: str) -> NoReturn:
        """The log cannot be trusted to go on: raise Unavailable (and, for a file, for good)."""
        ...

    def line(self, index: int) -> bytes:
        """The exact bytes of entry `index` (the Merkle leaf)."""
        ...

    def lines(self, start: int = 0) -> Iterator[tuple[int, bytes]]:
        """(index, bytes) of every entry so far from index `start` on, in order."""
        ...

    def root(self, size: int) -> bytes: ...

    def inclusion_proof(self, index: int, size: int) -> list[bytes]: ...

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]: ...

    def close(self) -> None: ...


class TreeReads:
    """What checkpoints and proofs read from a log's Merkle tree, under the log's lock (both
    logs keep `_tree` and `_lock`)."""

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
