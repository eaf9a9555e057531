"""The console's in-browser verifier (gateway/console/static/verify-v1.mjs), run by Node: the
RFC 6962 vectors, notes and proofs made here, and a checkpoint the gateway's own Python signed
(so the browser and `wsg audit verify` agree on the same bytes)."""

from __future__ import annotations

import base64
import json
import os
import pathlib
import shutil
import subprocess

import pytest

from gateway.audit.notes import Checkpoint, NoteSigner, sign_checkpoint
from gateway.audit.proofs import consistency_json, inclusion_json
from gateway.audit.tree import MerkleTree, leaf_hash

ROOT = pathlib.Path(__file__).resolve().parents[1]
JS_TESTS = ROOT / "tests" / "js"
# Read in place beside the project, as tests/test_merkle.py reads them (or where the variable says).
VECTORS = pathlib.Path(
    os.environ.get("WSG_RFC6962_VECTORS") or ROOT.parent / "shared" / "vectors" / "rfc6962"
)


def node() -> str:
    found = shutil.which("node")
    if found is None:
        if os.environ.get("WSG_REQUIRE_BROWSER"):
            pytest.fail("node is required here (WSG_REQUIRE_BROWSER); `make test` installs it")
        pytest.skip("node is not installed (`make test` installs it)")
    return found


def run_node_tests(pattern: str, vectors: pathlib.Path | None = None) -> str:
    env = {**os.environ, "WSG_RFC6962_VECTORS": str(vectors or VECTORS)}
    done = subprocess.run(
        [
            node(),
            "--test",
            *([f"--test-name-pattern={pattern}"] if pattern else []),
            str(JS_TESTS / "verify.test.mjs"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "# fail 0" in done.stdout
    return done.stdout


def test_the_verifier_passes_the_rfc6962_vectors() -> None:
    """Every inclusion and consistency vector: accepted exactly when wantErr is false."""
    if not VECTORS.is_dir():
        pytest.skip(f"RFC 6962 vectors not found at {VECTORS}")
    out = run_node_tests("RFC 6962")
    assert "ok 1 - RFC 6962 inclusion vectors" in out
    assert "ok 2 - RFC 6962 consistency vectors" in out and "# pass 2" in out
    assert "vectors # SKIP" not in out


def test_the_verifier_checks_notes_and_proofs_made_in_node(tmp_path: pathlib.Path) -> None:
    """The node tests besides the vectors (those skip here: no vectors in tmp_path)."""
    out = run_node_tests("", vectors=tmp_path / "none")
    assert "# pass 4" in out and "# skipped 2" in out


def test_a_checkpoint_the_gateway_signed_verifies_and_every_forgery_fails(
    tmp_path: pathlib.Path,
) -> None:
    signer = NoteSigner.generate("wsg.local/audit")
    other = NoteSigner.generate("wsg.local/audit")
    leaves = [json.dumps({"event": "x", "index": i}).encode() for i in range(11)]
    tree = MerkleTree(leaf_hash(leaf) for leaf in leaves)
    old = sign_checkpoint(signer, Checkpoint("wsg.local/audit", 6, tree.root(6)))
    note = sign_checkpoint(signer, Checkpoint("wsg.local/audit", 11, tree.root(11)))
    good = inclusion_json(4, 11, leaves[4], tree.inclusion_proof(4, 11))
    tampered = {**good, "proof": [base64.b64encode(b"\1" * 32).decode(), *good["proof"][1:]]}
    other_leaf = {**good, "leaf": base64.b64encode(leaves[5]).decode()}
    consistent = consistency_json(6, 11, tree.consistency_proof(6, 11))
    body, _, signature = note.partition("\n\n")
    cases = {
        "good": {"key": signer.verifier_key, "note": note, "inclusion": good},
        "consistent": {
            "key": signer.verifier_key,
            "note": note,
            "old_note": old,
            "consistency": consistent,
        },
        "tampered proof": {"key": signer.verifier_key, "note": note, "inclusion": tampered},
        "another leaf": {"key": signer.verifier_key, "note": note, "inclusion": other_leaf},
        "wrong key": {"key": other.verifier_key, "note": note, "inclusion": good},
        "changed size": {
            "key": signer.verifier_key,
            "note": body.replace("\n11\n", "\n12\n") + "\n\n" + signature,
        },
        "inconsistent": {
            "key": signer.verifier_key,
            "note": note,
            "old_note": sign_checkpoint(signer, Checkpoint("wsg.local/audit", 6, tree.root(5))),
            "consistency": consistent,
        },
    }
    fixture = tmp_path / "fixture.json"
    fixture.write_text(json.dumps({"cases": cases}))
    done = subprocess.run(
        [node(), str(JS_TESTS / "check_fixture.mjs"), str(fixture)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert results["good"] == "ok"
    assert results["consistent"] == "ok"
    assert results["tampered proof"].startswith("refused: the proof does not lead to")
    assert results["another leaf"].startswith("refused: the proof does not lead to")
    assert results["wrong key"].startswith("refused: the note carries no signature by")
    assert results["changed size"].startswith("refused: the signature by wsg.local/audit")
    assert results["inconsistent"].startswith("refused: the proof does not lead to the older")
