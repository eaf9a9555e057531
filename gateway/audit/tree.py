"""RFC 6962 / RFC 9162 Merkle tree: roots, inclusion and consistency proofs, and their checks.

The audit log is a list of leaves; auditors hold roots signed in checkpoints. Building proofs must
stay cheap on a log of millions of entries, so the tree keeps every complete, aligned subtree hash
(level k holds the subtrees of 2**k leaves) and any root or proof is O(log n) lookups plus
O(log n) hashes for the ragged right edge. Verification follows transparency-dev/merkle's
`proof` package, so our answers are those of the verifiers auditors already use.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


class ProofError(ValueError):
    """A proof is malformed or does not prove what it claims."""


def leaf_hash(data: bytes) -> bytes:
    """Hash of one entry: SHA-256(0x00 || entry bytes)."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash of an interior node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two strictly below n (n >= 2): where RFC 6962 splits a tree."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    """An append-only tree over leaf hashes, answering for any earlier size too."""

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self._levels: list[list[bytes]] = [[]]
        for digest in leaf_hashes:
            self.append(digest)

    def __len__(self) -> int:
        return len(self._levels[0])

    def append(self, digest: bytes) -> int:
        """Add a leaf hash; returns its index."""
        if len(digest) != HASH_SIZE:
            raise ValueError(f"leaf hash must be {HASH_SIZE} bytes, got {len(digest)}")
        levels = self._levels
        index = len(levels[0])
        levels[0].append(digest)
        level = 0
        while len(levels[level]) % 2 == 0:
            if level + 1 == len(levels):
                levels.append([])
            below = levels[level]
            levels[level + 1].append(node_hash(below[-2], below[-1]))
            level += 1
        return index

    def leaf(self, index: int) -> bytes:
        return self._levels[0][index]

    def root(self, size: int | None = None) -> bytes:
        """Root of the first `size` leaves (default: all)."""
        size = len(self) if size is None else size
        self._check_size(size)
        return EMPTY_ROOT if size == 0 else self._subtree(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """Audit path of leaf `index` in the tree of `size` leaves, deepest sibling first."""
        size = len(self) if size is None else size
        self._check_size(size)
        if not 0 <= index < size:
            raise ValueError(f"index {index} is not below tree size {size}")
        return self._path(index, 0, size)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """Proof that the tree of `old_size` leaves is a prefix of the one of `new_size`."""
        new_size = len(self) if new_size is None else new_size
        self._check_size(new_size)
        if old_size < 1:
            raise ValueError(
                "old size must be at least 1: every tree is consistent with the empty one"
            )
        if old_size > new_size:
            raise ValueError(f"old size {old_size} is larger than new size {new_size}")
        return self._subproof(old_size, 0, new_size, True)

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= len(self):
            raise ValueError(f"tree size {size} is outside 0..{len(self)}")

    def _subtree(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]); every left part RFC 6962 asks for is a complete, aligned subtree."""
        count = end - start
        if count & (count - 1) == 0 and start % count == 0:
            level = count.bit_length() - 1
            return self._levels[level][start >> level]
        k = _split(count)
        return node_hash(self._subtree(start, start + k), self._subtree(start + k, end))

    def _path(self, index: int, start: int, end: int) -> list[bytes]:
        count = end - start
        if count == 1:
            return []
        k = _split(count)
        if index < start + k:
            return [*self._path(index, start, start + k), self._subtree(start + k, end)]
        return [*self._path(index, start + k, end), self._subtree(start, start + k)]

    def _subproof(self, old: int, start: int, end: int, whole: bool) -> list[bytes]:
        count = end - start
        if old == count:
            return [] if whole else [self._subtree(start, end)]
        k = _split(count)
        if old <= k:
            return [*self._subproof(old, start, start + k, whole), self._subtree(start + k, end)]
        return [*self._subproof(old - k, start + k, end, False), self._subtree(start, start + k)]


# --- verification (transparency-dev/merkle proof/verify.go) ---------------------------------


def _inclusion_shape(index: int, size: int) -> tuple[int, int]:
    """How many proof hashes are inner (below the right border) and how many on the border."""
    inner = (index ^ (size - 1)).bit_length()
    border = bin(index >> inner).count("1")
    return inner, border


def _chain_inner(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, sibling in enumerate(proof):
        seed = node_hash(seed, sibling) if (index >> i) & 1 == 0 else node_hash(sibling, seed)
    return seed


def _chain_inner_right(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, sibling in enumerate(proof):
        if (index >> i) & 1 == 1:
            seed = node_hash(sibling, seed)
    return seed


def _chain_border_right(seed: bytes, proof: Sequence[bytes]) -> bytes:
    for sibling in proof:
        seed = node_hash(sibling, seed)
    return seed


def _check_hashes(proof: Sequence[bytes]) -> None:
    for i, digest in enumerate(proof):
        if len(digest) != HASH_SIZE:
            raise ProofError(f"proof hash {i} is {len(digest)} bytes, want {HASH_SIZE}")


def _match(calculated: bytes, expected: bytes, what: str) -> None:
    if calculated != expected:
        raise ProofError(
            f"{what} does not match: calculated {calculated.hex()}, expected {expected.hex()}"
        )


def root_from_inclusion_proof(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root a leaf hash and its audit path imply."""
    if not 0 <= index < size:
        raise ProofError(f"index {index} is not below tree size {size}")
    if len(leaf) != HASH_SIZE:
        raise ProofError(f"leaf hash is {len(leaf)} bytes, want {HASH_SIZE}")
    _check_hashes(proof)
    inner, border = _inclusion_shape(index, size)
    if len(proof) != inner + border:
        raise ProofError(f"wrong proof size {len(proof)}, want {inner + border}")
    calculated = _chain_inner(leaf, proof[:inner], index)
    return _chain_border_right(calculated, proof[inner:])


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise ProofError unless `leaf` is entry `index` of the tree of `size` with `root`."""
    _match(root_from_inclusion_proof(leaf, index, size, proof), root, "root")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Raise ProofError unless the tree (old_size, old_root) is a prefix of (new_size, new_root)."""
    if old_size < 0 or new_size < old_size:
        raise ProofError(f"new size {new_size} is smaller than old size {old_size}")
    if old_size == new_size:
        if proof:
            raise ProofError("sizes are equal but the proof is not empty")
        if old_size == 0:
            _match(old_root, EMPTY_ROOT, "root of the empty tree")
        _match(new_root, old_root, "roots of equal-size trees")
        return
    if old_size == 0:
        raise ProofError("a consistency proof from the empty tree proves nothing")
    if not proof:
        raise ProofError("empty proof")
    _check_hashes(proof)
    inner, border = _inclusion_shape(old_size - 1, new_size)
    shift = (old_size & -old_size).bit_length() - 1
    inner -= shift
    if old_size == 1 << shift:
        seed, rest = old_root, list(proof)
    else:
        seed, rest = proof[0], list(proof[1:])
    if len(rest) != inner + border:
        want = inner + border + (0 if old_size == 1 << shift else 1)
        raise ProofError(f"wrong proof size {len(proof)}, want {want}")
    mask = (old_size - 1) >> shift
    old_calc = _chain_border_right(_chain_inner_right(seed, rest[:inner], mask), rest[inner:])
    _match(old_calc, old_root, "old root")
    new_calc = _chain_border_right(_chain_inner(seed, rest[:inner], mask), rest[inner:])
    _match(new_calc, new_root, "new root")
