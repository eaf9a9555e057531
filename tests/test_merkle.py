"""RFC 6962 Merkle tree: public conformance vectors, a naive reference, and proof mutations."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.audit.tree import (
    EMPTY_ROOT,
    MerkleTree,
    ProofError,
    leaf_hash,
    node_hash,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)
from gateway.audit.tree import _inclusion_shape as inclusion_shape

VECTORS = Path(__file__).resolve().parents[2] / "shared" / "vectors" / "rfc6962"


def _cases(kind: str) -> list:
    folder = VECTORS / kind
    if not folder.is_dir():
        return [
            pytest.param(
                None, marks=pytest.mark.skip(reason=f"RFC 6962 vectors not found at {folder}")
            )
        ]
    files = sorted(folder.rglob("*.json"))
    return [pytest.param(path, id=str(path.relative_to(folder))) for path in files]


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value or "")


def _proof(values: list | None) -> list[bytes]:
    return [_b64(v) for v in values or []]


@pytest.mark.parametrize("path", _cases("inclusion"))
def test_inclusion_vector(path: Path) -> None:
    case = json.loads(path.read_text())
    args = (
        _b64(case["leafHash"]),
        case["leafIdx"],
        case["treeSize"],
        _proof(case["proof"]),
        _b64(case["root"]),
    )
    if case["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize("path", _cases("consistency"))
def test_consistency_vector(path: Path) -> None:
    case = json.loads(path.read_text())
    args = (
        case["size1"],
        case["size2"],
        _b64(case["root1"]),
        _b64(case["root2"]),
        _proof(case["proof"]),
    )
    if case["wantErr"]:
        with pytest.raises(ProofError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


def test_vectors_cover_both_outcomes() -> None:
    if not VECTORS.is_dir():
        pytest.skip(f"RFC 6962 vectors not found at {VECTORS}")
    outcomes = {json.loads(p.read_text())["wantErr"] for p in VECTORS.rglob("*.json")}
    assert outcomes == {True, False}


# --- a naive reference, straight from RFC 6962 section 2.1 ---


def _mth(leaves: list[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaf_hash(leaves[0])
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(_mth(leaves[:k]), _mth(leaves[k:]))


def _path(m: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) == 1:
        return []
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    if m < k:
        return [*_path(m, leaves[:k]), _mth(leaves[k:])]
    return [*_path(m - k, leaves[k:]), _mth(leaves[:k])]


def _subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    if m == len(leaves):
        return [] if whole else [_mth(leaves)]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    if m <= k:
        return [*_subproof(m, leaves[:k], whole), _mth(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), _mth(leaves[:k])]


def _data(n: int) -> list[bytes]:
    return [f"entry {i}".encode() for i in range(n)]


def test_known_roots() -> None:
    assert MerkleTree().root() == EMPTY_ROOT
    # RFC 6962 reference tree: the 8 leaves of the CT test data.
    leaves = [
        bytes.fromhex(h)
        for h in (
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        )
    ]
    tree = MerkleTree(leaf_hash(d) for d in leaves)
    assert tree.root().hex() == "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    assert tree.root(1).hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"


def test_tree_matches_naive_reference_for_every_size_index_and_prefix() -> None:
    data = _data(70)
    tree = MerkleTree(leaf_hash(d) for d in data)
    for size in range(1, 71):
        assert tree.root(size) == _mth(data[:size])
        for index in range(size):
            proof = tree.inclusion_proof(index, size)
            assert proof == _path(index, data[:size])
            verify_inclusion(leaf_hash(data[index]), index, size, proof, tree.root(size))
        for old in range(1, size + 1):
            proof = tree.consistency_proof(old, size)
            assert proof == _subproof(old, data[:size], True)
            verify_consistency(old, size, tree.root(old), tree.root(size), proof)


def test_bad_requests_are_value_errors() -> None:
    tree = MerkleTree(leaf_hash(d) for d in _data(5))
    for call in (
        lambda: tree.inclusion_proof(5, 5),
        lambda: tree.inclusion_proof(0, 6),
        lambda: tree.inclusion_proof(-1, 5),
        lambda: tree.consistency_proof(0, 5),
        lambda: tree.consistency_proof(4, 3),
        lambda: tree.root(6),
        lambda: tree.append(b"short"),
    ):
        with pytest.raises(ValueError):
            call()


def _consistency_shape(old: int, new: int) -> tuple:
    return inclusion_shape(old - 1, new), (old & -old).bit_length(), old == new


_TREE = MerkleTree(leaf_hash(d) for d in _data(300))


def _flip(digest: bytes, bit: int) -> bytes:
    raw = bytearray(digest)
    raw[bit // 8 % len(raw)] ^= 1 << (bit % 8)
    return bytes(raw)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_inclusion_proofs_verify_and_every_mutation_is_rejected(data: st.DataObject) -> None:
    size = data.draw(st.integers(1, len(_TREE)), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    leaf, root = _TREE.leaf(index), _TREE.root(size)
    proof = _TREE.inclusion_proof(index, size)
    verify_inclusion(leaf, index, size, proof, root)
    assert root_from_inclusion_proof(leaf, index, size, proof) == root

    kind = data.draw(
        st.sampled_from(["flip", "index", "size", "extra", "missing", "leaf", "root"]), label="kind"
    )
    args = [leaf, index, size, list(proof), root]
    if kind == "flip":
        if not proof:
            return
        at = data.draw(st.integers(0, len(proof) - 1))
        args[3][at] = _flip(proof[at], data.draw(st.integers(0, 255)))
    elif kind == "index":
        new = data.draw(
            st.integers(0, size - 1).filter(lambda i: i != index) if size > 1 else st.just(size)
        )
        args[1] = new
    elif kind == "size":
        # A proof does not authenticate the size by itself (the signed checkpoint does): sizes
        # whose audit path has the same shape chain to the same root, so only those that differ.
        shape = inclusion_shape(index, size)
        args[2] = data.draw(
            st.sampled_from([size // 2, size * 2, size + 1, size - 1, index]).filter(
                lambda s: s <= index or inclusion_shape(index, s) != shape
            )
        )
    elif kind == "extra":
        args[3].insert(data.draw(st.integers(0, len(proof))), _TREE.leaf(0))
    elif kind == "missing":
        if not proof:
            return
        del args[3][data.draw(st.integers(0, len(proof) - 1))]
    elif kind == "leaf":
        args[0] = _flip(leaf, data.draw(st.integers(0, 255)))
    else:
        args[4] = _flip(root, data.draw(st.integers(0, 255)))
    with pytest.raises(ProofError):
        verify_inclusion(*args)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_consistency_proofs_verify_and_every_mutation_is_rejected(data: st.DataObject) -> None:
    new = data.draw(st.integers(2, len(_TREE)), label="new")
    old = data.draw(st.integers(1, new - 1), label="old")
    old_root, new_root = _TREE.root(old), _TREE.root(new)
    proof = _TREE.consistency_proof(old, new)
    verify_consistency(old, new, old_root, new_root, proof)

    kind = data.draw(
        st.sampled_from(["flip", "old", "new", "extra", "missing", "swap", "root"]), label="kind"
    )
    args = [old, new, old_root, new_root, list(proof)]
    if kind == "flip":
        at = data.draw(st.integers(0, len(proof) - 1))
        args[4][at] = _flip(proof[at], data.draw(st.integers(0, 255)))
    elif kind in ("old", "new"):
        # As for inclusion: only size changes that alter the proof's shape are detectable.
        shape = _consistency_shape(old, new)
        candidates = [
            (o, n)
            for o, n in (
                (old // 2, new),
                (old * 2, new),
                (old + 1, new),
                (old - 1, new),
                (old, new // 2),
                (old, new * 2),
                (old, new + 1),
                (old, new - 1),
            )
            if (o, n) != (old, new) and (o > n or o < 1 or _consistency_shape(o, n) != shape)
        ]
        if not candidates:
            return
        args[0], args[1] = data.draw(st.sampled_from(candidates))
    elif kind == "extra":
        args[4].insert(data.draw(st.integers(0, len(proof))), _TREE.leaf(0))
    elif kind == "missing":
        del args[4][data.draw(st.integers(0, len(proof) - 1))]
    elif kind == "swap":
        args[2], args[3] = new_root, old_root
    else:
        at = data.draw(st.sampled_from([2, 3]))
        args[at] = _flip(args[at], data.draw(st.integers(0, 255)))
    with pytest.raises(ProofError):
        verify_consistency(*args)
