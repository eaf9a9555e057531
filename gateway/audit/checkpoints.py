"""Signed checkpoints over the audit log's Merkle tree, and their export to a witness.

A checkpoint (C2SP tlog-checkpoint, signed as a C2SP signed-note with Ed25519) commits the gateway
to the first N entries of its log. The gateway signs only trees that extend the last one it signed
(it checks consistency before signing and refuses to start on a log that no longer matches its
latest checkpoint), so it never signs two inconsistent views. Every N entries or T seconds the
latest checkpoint is also written outside the log, to a witness directory or to stdout for a
collector: then cutting off the log's tail is detectable beyond the last exported checkpoint.
"""

from __future__ import annotations

import dataclasses
import pathlib
import sys
import threading
import time
from collections.abc import Callable
from typing import Protocol

from gateway.audit.log import AuditLog
from gateway.audit.notes import (
    Checkpoint,
    NoteError,
    NoteSigner,
    NoteVerifier,
    open_checkpoint,
    sign_checkpoint,
)
from gateway.datadir import private_dir, write_durably
from gateway.errors import FailedPrecondition, Unavailable


@dataclasses.dataclass(frozen=True)
class SignedCheckpoint:
    checkpoint: Checkpoint
    note: str


class Witness:
    """Where exported checkpoints go: DIR/<size>.checkpoint files, or '-' for stdout."""

    def __init__(self, target: str) -> None:
        self.target = target
        if target != "-":
            private_dir(pathlib.Path(target))

    def export(self, signed: SignedCheckpoint) -> None:
        if self.target == "-":
            sys.stdout.write(signed.note + "\n")
            sys.stdout.flush()
            return
        path = pathlib.Path(self.target) / f"{signed.checkpoint.size:012d}.checkpoint"
        write_durably(path, signed.note, "witness")


class CheckpointStore(Protocol):
    """Where signed checkpoints are kept (DIR/checkpoint, or a table every replica shares)."""

    @property
    def shared(self) -> bool:
        """Whether other replicas sign too (then the latest may be theirs)."""
        ...

    def latest(self) -> str | None:
        """The note of the largest checkpoint kept, or None before the first."""
        ...

    def save(self, size: int, note: str) -> None:
        """Keep a newly signed checkpoint durably."""
        ...

    def all(self) -> list[str]:
        """Every checkpoint kept, smallest first."""
        ...


class Checkpointer:
    """Signs tree heads of one audit log; keeps them durably (a file, or the checkpoints table
    that every replica shares)."""

    def __init__(
        self,
        audit: AuditLog,
        signer: NoteSigner,
        kept: CheckpointStore,
        witness: Witness | None = None,
        every_entries: int = 1000,
        every_seconds: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._audit = audit
        self._signer = signer
        self.origin = signer.name
        self._kept = kept
        self._witness = witness
        self._every_entries = max(1, every_entries)
        self._every_seconds = every_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._latest = self._load(self._kept.latest())
        self._exported_size = -1
        self._exported_at = monotonic()

    @property
    def verifier_key(self) -> str:
        return self._signer.verifier_key

    def _load(self, note: str | None) -> SignedCheckpoint | None:
        """`note`, the latest checkpoint signed so far (by this gateway, or any replica sharing
        its database), checked: it must verify and the log must still match it."""
        if note is None:
            return None
        try:
            checkpoint = open_checkpoint(
                note, [NoteVerifier.from_key(self._signer.verifier_key)], self.origin
            )
        except NoteError as exc:
            raise FailedPrecondition(
                f"{self._kept} does not verify with this gateway's key: {exc}"
            ) from None
        if checkpoint.size > self._audit.size:
            self._audit.sync()
        if (
            checkpoint.size > self._audit.size
            or self._audit.root(checkpoint.size) != checkpoint.root
        ):
            raise FailedPrecondition(
                f"the audit log no longer matches the checkpoint this gateway signed for its first "
                f"{checkpoint.size} entries ({self._kept}); refusing to sign anything that could "
                f"contradict it: run `wsg audit verify` and investigate"
            )
        return SignedCheckpoint(checkpoint, note)

    def latest(self) -> SignedCheckpoint:
        """A signed checkpoint covering every entry written so far (signing a new one if needed)."""
        with self._lock:
            self._audit.sync()
            if self._kept.shared:  # another replica may have signed a larger tree
                note = self._kept.latest()
                if note != (self._latest.note if self._latest else None):
                    self._latest = self._load(note)
            size = self._audit.size
            if self._latest is not None and self._latest.checkpoint.size == size:
                return self._latest
            root = self._audit.root(size)
            previous = self._latest.checkpoint if self._latest else None
            if previous is not None and self._audit.root(previous.size) != previous.root:
                self._audit.fail("the in-memory tree contradicts the last signed checkpoint")
            checkpoint = Checkpoint(self.origin, size, root)
            signed = SignedCheckpoint(checkpoint, sign_checkpoint(self._signer, checkpoint))
            try:
                self._kept.save(size, signed.note)
            except OSError as exc:
                self._audit.fail(f"cannot write checkpoint {self._kept}: {exc.strerror or exc}")
            self._latest = signed
            return signed

    def maybe_export(self, force: bool = False) -> SignedCheckpoint | None:
        """Export the latest checkpoint to the witness if N entries or T seconds have passed."""
        if self._witness is None or self._audit.broken is not None:
            return None
        size = self._audit.size
        due = (
            size - max(self._exported_size, 0) >= self._every_entries
            or self._monotonic() - self._exported_at >= self._every_seconds
        )
        if size == self._exported_size or not (force or due):
            return None
        signed = self.latest()
        try:
            self._witness.export(signed)
        except OSError as exc:
            raise Unavailable(
                f"cannot export checkpoint to {self._witness.target}: {exc}"
            ) from None
        self._exported_size = signed.checkpoint.size
        self._exported_at = self._monotonic()
        return signed
