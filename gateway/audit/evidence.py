"""Evidence packages (DIR/records.jsonl and DIR/manifest.json), checked with no server.

The records file holds each record's payload bytes exactly as released (one per line), so the
sha256 in the manifest, on the wire and in the audit log are the same digest; the manifest
carries the signed checkpoint and the inclusion proofs that bind the package to the audit log.
The package is written by the client (gateway.api.package).
"""

from __future__ import annotations

import base64
import hashlib
import json
import pathlib
from collections.abc import Sequence
from typing import Any

from gateway.audit.notes import Checkpoint, NoteError, NoteVerifier, open_checkpoint
from gateway.audit.proofs import check_inclusion_json
from gateway.audit.tree import ProofError

RECORDS = "records.jsonl"
MANIFEST = "manifest.json"


class EvidenceError(Exception):
    pass


def check_proofs(
    checkpoint: Checkpoint,
    last_batch: dict[str, Any],
    completed: dict[str, Any],
    records_sha256: str,
) -> dict[str, Any]:
    """Both proofs lead to the checkpoint's root; returns the proven release.completed entry."""
    try:
        for proof in (last_batch, completed):
            if proof["tree_size"] != checkpoint.size:
                raise ProofError("proof is not against the checkpoint's tree")
            check_inclusion_json(proof, checkpoint.root)
        entry = json.loads(base64.b64decode(completed["leaf"]))
    except (KeyError, TypeError, ProofError, ValueError) as exc:
        raise EvidenceError(f"the release's audit proof is not valid: {exc}") from None
    if not isinstance(entry, dict) or entry.get("event") != "release.completed":
        raise EvidenceError("the proven audit entry is not a release.completed entry")
    if entry.get("records_sha256") != records_sha256:
        raise EvidenceError("the audited release entry names other records than those received")
    return entry


def verify_package(out: pathlib.Path, verifiers: Sequence[NoteVerifier]) -> dict[str, Any]:
    """Check an evidence package on disk, with no server: every record against the manifest,
    the records file against the audited release entry, that entry against the checkpoint, and
    the checkpoint's signature against the gateway's verifier key. Returns the manifest."""
    try:
        manifest: dict[str, Any] = json.loads((out / MANIFEST).read_text())
        data = (out / RECORDS).read_bytes()
    except (OSError, ValueError) as exc:
        raise EvidenceError(f"{out} is not an evidence package: {exc}") from None
    try:
        listed = manifest["records"]
        file_sha256 = manifest["files"][RECORDS]["sha256"]
        note, proofs = manifest["audit_checkpoint"], manifest["audit_inclusion_proofs"]
        warrant_id = manifest["warrant"]["id"]
    except (KeyError, TypeError) as exc:
        raise EvidenceError(f"{MANIFEST} lacks {exc}") from None
    if hashlib.sha256(data).hexdigest() != file_sha256:
        raise EvidenceError(f"{RECORDS} does not match the sha256 in {MANIFEST}")
    lines = data.splitlines()
    if len(lines) != len(listed):
        raise EvidenceError(f"{RECORDS} holds {len(lines)} records, {MANIFEST} lists {len(listed)}")
    for number, (line, (record_id, digest)) in enumerate(zip(lines, listed, strict=True), 1):
        if hashlib.sha256(line).hexdigest() != digest:
            raise EvidenceError(f"{RECORDS} line {number} ({record_id}) does not match its sha256")
    try:
        checkpoint = open_checkpoint(note, verifiers)
    except NoteError as exc:
        raise EvidenceError(f"the audit checkpoint does not verify: {exc}") from None
    entry = check_proofs(
        checkpoint, proofs.get("last_batch", {}), proofs.get("completed", {}), file_sha256
    )
    if entry.get("warrant") != warrant_id:
        raise EvidenceError(
            f"the audited release is of warrant {entry.get('warrant')}, not {warrant_id}"
        )
    return manifest
