"""Reading the audit log on someone's behalf: which entries they may see, and proofs of them.

AuditService (gRPC) and the web console both read through this one class, so a person sees the
same entries and gets the same proofs on either edge. Who may read what is the entry kind's
(gateway.audit.events.Readers): auditors read everything; others the entries naming them, and
those about warrants they submitted when the kind says so. Checkpoints and consistency proofs
hold only hashes; the API policy decides who may ask for them at all.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from collections.abc import Callable, Iterator
from typing import Any

from gateway.audit.checkpoints import Checkpointer, SignedCheckpoint
from gateway.audit.entries import parse
from gateway.audit.events import readable_by
from gateway.audit.log import AuditLog
from gateway.audit.proofs import Proof
from gateway.errors import InvalidArgument, PermissionDenied
from gateway.model import parse_time


@dataclasses.dataclass(frozen=True)
class EntryFilter:
    """Which entries a search wants; every field unset means all."""

    warrant: str | None = None
    kind: str | None = None  # an event kind, or a prefix ending in "." ("release.")
    principal: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None  # exclusive

    def matches(self, entry: dict[str, Any]) -> bool:
        if self.warrant and entry.get("warrant") != self.warrant:
            return False
        if self.principal and entry.get("principal") != self.principal:
            return False
        if self.kind:
            event = str(entry.get("event"))
            if not (event.startswith(self.kind) if self.kind.endswith(".") else event == self.kind):
                return False
        if self.since or self.until:
            ts = entry_time(entry)
            if ts is None or (self.since and ts < self.since) or (self.until and ts >= self.until):
                return False
        return True


class AuditReader:
    """The audit log as one principal may read it."""

    def __init__(
        self,
        audit: AuditLog,
        checkpoints: Checkpointer,
        submitter_of: Callable[[str], str | None],
        auditors: frozenset[str] | Callable[[], frozenset[str]],
    ) -> None:
        """`auditors`: who reads every entry, or a callable saying it now (role bindings
        change without a restart)."""
        self._audit = audit
        self._checkpoints = checkpoints
        self._submitter_of = submitter_of
        self._auditors = auditors if callable(auditors) else (lambda: auditors)

    @property
    def size(self) -> int:
        """Entries in the log so far (what a paged listing may still reach)."""
        return self._audit.size

    @property
    def verifier_key(self) -> str:
        return self._checkpoints.verifier_key

    def is_auditor(self, principal: str) -> bool:
        return principal in self._auditors()

    def may_read(
        self, principal: str, entry: dict[str, Any], memo: dict[str, str | None] | None = None
    ) -> bool:
        """By the entry's kind; `memo` keeps warrant -> submitter across one call's entries."""
        memo = {} if memo is None else memo

        def submitter(warrant: str) -> str | None:
            if warrant not in memo:
                memo[warrant] = self._submitter_of(warrant)
            return memo[warrant]

        return readable_by(entry, principal, self.is_auditor(principal), submitter)

    def checkpoint(self) -> SignedCheckpoint:
        """The latest signed checkpoint (signing one that covers every entry if needed)."""
        return self._checkpoints.latest()

    def leaves(self, size: int) -> list[bytes]:
        """The exact bytes of the first `size` entries (what a checkpoint of `size` covers)."""
        self._audit.sync()
        return [line for _, line in itertools.islice(self._audit.lines(0), size)]

    def tree_size(self, requested: int = 0, field: str = "tree_size") -> int:
        """`requested`, or the latest checkpoint's size for 0; beyond it is INVALID_ARGUMENT."""
        latest = self._checkpoints.latest().checkpoint.size
        if requested > latest:
            raise InvalidArgument(
                f"{field}: {requested} is beyond the latest checkpoint ({latest})"
            )
        return requested or latest

    def inclusion(self, principal: str, index: int, tree_size: int = 0) -> Proof:
        """Entry `index` (its exact bytes) and its proof in the tree of `tree_size`, if
        `principal` may read that entry."""
        size = self.tree_size(tree_size)
        if not 0 <= index < size:
            raise InvalidArgument(f"index: {index} is not below tree_size {size}")
        leaf = self._audit.line(index)
        if not self.may_read(principal, parse(leaf)):
            raise PermissionDenied(f"{principal!r} may not read audit entry {index}")
        return Proof(index, size, leaf, self._audit.inclusion_proof(index, size))

    def consistency(self, old_size: int, new_size: int = 0) -> tuple[int, list[bytes]]:
        """(new size, proof) that the tree of `old_size` is a prefix of the one of `new_size`."""
        new_size = self.tree_size(new_size, "new_size")
        if old_size == 0:
            raise InvalidArgument("old_size: must be at least 1 (every tree extends the empty one)")
        if old_size > new_size:
            raise InvalidArgument(f"old_size: {old_size} is larger than new_size {new_size}")
        return new_size, self._audit.consistency_proof(old_size, new_size)

    def entries(
        self, principal: str, wanted: EntryFilter = EntryFilter(), start: int = 0
    ) -> Iterator[tuple[int, bytes, dict[str, Any]]]:
        """(index, exact bytes, parsed) of every entry from index `start` on that `principal` may
        read and that matches, oldest first, up to the log's size when the call began (entries
        appended meanwhile are the next call's); on PostgreSQL after catching up with what
        other replicas wrote."""
        memo: dict[str, str | None] = {}
        self._audit.sync()
        for index, line in self._audit.lines(start):
            entry = parse(line)
            if wanted.matches(entry) and self.may_read(principal, entry, memo):
                yield index, line, entry


def entry_time(entry: dict[str, Any]) -> dt.datetime | None:
    try:
        return parse_time(str(entry.get("ts")))
    except ValueError:
        return None
