"""The JSON shapes of audit proofs that `wsg audit proof|consistency --json` print and
`manifest.json` carries, and the check of such a proof against a checkpoint.

The shapes are fixed (docs/architecture.md, formats) so that standard RFC 6962 / C2SP tools can
consume them:
inclusion {"tree_size", "index", "leaf" (base64 of the entry's exact bytes), "proof" [base64]},
consistency {"old_size", "new_size", "proof" [base64]}.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Sequence
from typing import Any

from gateway.audit.tree import ProofError, leaf_hash, verify_consistency, verify_inclusion


@dataclasses.dataclass(frozen=True)
class Proof:
    """Inclusion of one audit entry (its exact bytes, the leaf) in the tree of `tree_size`."""

    index: int
    tree_size: int
    leaf: bytes
    hashes: list[bytes]

    def to_json(self) -> dict[str, Any]:
        return inclusion_json(self.index, self.tree_size, self.leaf, self.hashes)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def inclusion_json(
    index: int, tree_size: int, leaf: bytes, hashes: Sequence[bytes]
) -> dict[str, Any]:
    return {
        "tree_size": tree_size,
        "index": index,
        "leaf": _b64(leaf),
        "proof": [_b64(h) for h in hashes],
    }


def consistency_json(old_size: int, new_size: int, hashes: Sequence[bytes]) -> dict[str, Any]:
    return {"old_size": old_size, "new_size": new_size, "proof": [_b64(h) for h in hashes]}


def check_inclusion_json(proof: dict[str, Any], root: bytes) -> bytes:
    """Verify an inclusion proof in JSON shape against `root`; return the leaf's bytes."""
    try:
        leaf = base64.b64decode(proof["leaf"], validate=True)
        hashes = [base64.b64decode(h, validate=True) for h in proof["proof"]]
        verify_inclusion(
            leaf_hash(leaf), int(proof["index"]), int(proof["tree_size"]), hashes, root
        )
    except (KeyError, TypeError, ValueError) as exc:  # ProofError is a ValueError
        raise ProofError(f"inclusion proof does not verify: {exc}") from None
    return leaf


def check_consistency_json(proof: dict[str, Any], old_root: bytes, new_root: bytes) -> None:
    try:
        hashes = [base64.b64decode(h, validate=True) for h in proof["proof"]]
        verify_consistency(
            int(proof["old_size"]), int(proof["new_size"]), old_root, new_root, hashes
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ProofError(f"consistency proof does not verify: {exc}") from None
