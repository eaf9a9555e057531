"""A copy of the audit log and its latest signed checkpoint on disk: proofs with no server.

`wsg audit proof|consistency` read the data directory (or a copy an auditor was given) and answer
against the latest checkpoint, exactly as AuditService would, so the answers can be compared.
"""

from __future__ import annotations

import pathlib
from collections.abc import Sequence
from typing import Any

from gateway.audit.files import read_lines
from gateway.audit.notes import Checkpoint, NoteError, NoteVerifier, open_checkpoint
from gateway.audit.proofs import consistency_json, inclusion_json
from gateway.audit.tree import MerkleTree, leaf_hash


class LogCopy:
    def __init__(
        self, log: pathlib.Path, checkpoint: pathlib.Path, verifiers: Sequence[NoteVerifier]
    ) -> None:
        if not log.exists():
            raise ValueError(f"no audit log at {log}")
        if not checkpoint.exists():
            raise ValueError(
                f"no signed checkpoint at {checkpoint} (the gateway writes one on its "
                "first release or checkpoint request)"
            )
        self.lines = list(read_lines(log))
        self.tree = MerkleTree(leaf_hash(line) for line in self.lines)
        try:
            self.latest: Checkpoint = open_checkpoint(checkpoint.read_text(), verifiers)
        except NoteError as exc:
            raise ValueError(f"{checkpoint}: {exc}") from None
        if (
            self.latest.size > len(self.lines)
            or self.tree.root(self.latest.size) != self.latest.root
        ):
            raise ValueError(f"{log} does not match {checkpoint}: run `wsg audit verify`")

    def _size(self, size: int) -> int:
        if size > self.latest.size:
            raise ValueError(
                f"tree size {size} is beyond the latest checkpoint ({self.latest.size})"
            )
        return size or self.latest.size

    def inclusion(self, index: int, size: int = 0) -> dict[str, Any]:
        size = self._size(size)
        if not 0 <= index < size:
            raise ValueError(f"index {index} is not in a tree of {size} entries")
        return inclusion_json(
            index, size, self.lines[index], self.tree.inclusion_proof(index, size)
        )

    def consistency(self, old_size: int, new_size: int = 0) -> dict[str, Any]:
        new_size = self._size(new_size)
        if not 1 <= old_size <= new_size:
            raise ValueError(f"old size {old_size} must be between 1 and {new_size}")
        return consistency_json(old_size, new_size, self.tree.consistency_proof(old_size, new_size))
