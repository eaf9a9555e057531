"""Our tree against an independent RFC 9162 implementation (pymerkle, written by other people).

pymerkle numbers leaves from 1 and serializes proofs in its own shape (its path starts with the
leaf itself; consistency paths come in a different order with flag lists), so what is compared is
what both must agree on: every root and every audit path; their consistency proofs (built from
different subtrees, which RFC 9162 allows) must prove our roots, and ours theirs.
"""

from __future__ import annotations

import pytest

from gateway.audit.tree import MerkleTree, leaf_hash, verify_consistency, verify_inclusion

pymerkle = pytest.importorskip("pymerkle", reason="pymerkle (a test dependency) is not installed")

SIZE = 130


@pytest.fixture(scope="module")
def trees() -> tuple[MerkleTree, object]:
    entries = [f'{{"index":{i},"event":"release.batch"}}'.encode() for i in range(SIZE)]
    theirs = pymerkle.InmemoryTree(algorithm="sha256")
    for entry in entries:
        theirs.append_entry(entry)
    return MerkleTree(leaf_hash(e) for e in entries), theirs


def test_roots_agree_for_every_size(trees: tuple) -> None:
    ours, theirs = trees
    for size in range(1, SIZE + 1):
        assert ours.root(size) == theirs.get_root(size), size


def test_audit_paths_agree_and_their_proofs_verify_our_roots(trees: tuple) -> None:
    ours, theirs = trees
    for size in (1, 2, 3, 7, 8, 9, 64, 65, 100, SIZE):
        for index in range(size):
            proof = theirs.prove_inclusion(index + 1, size)
            path = [bytes.fromhex(h) for h in proof.serialize()["path"]]
            assert path[0] == ours.leaf(index)
            assert path[1:] == ours.inclusion_proof(index, size), (index, size)
            pymerkle.verify_inclusion(ours.leaf(index), ours.root(size), proof)
            verify_inclusion(path[0], index, size, path[1:], theirs.get_root(size))


def test_consistency_their_proofs_verify_our_roots_and_ours_theirs(trees: tuple) -> None:
    ours, theirs = trees
    for new in (2, 5, 8, 9, 33, 100, SIZE):
        for old in range(1, new):
            mine = ours.consistency_proof(old, new)
            proof = theirs.prove_consistency(old, new)
            pymerkle.verify_consistency(ours.root(old), ours.root(new), proof)
            verify_consistency(old, new, theirs.get_root(old), theirs.get_root(new), mine)
