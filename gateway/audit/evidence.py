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

from gateway.audit.canonical import canonical_bytes
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


# The summary figures a manifest carries, each equal to the same field of the audited
# release.completed entry.
COUNTS = (
    "released",
    "released_by_effect",
    "released_by_category",
    "withheld",
    "pseudonymized_parties",
    "identifiers_replaced",
    "quotes_withheld",
    "texts_withheld",
    "batches",
)
# Every field a manifest has; one more (or one fewer) is not a package this gateway wrote.
FIELDS = frozenset(
    {
        *COUNTS,
        "warrant",
        "audit_index",
        "audit_checkpoint",
        "audit_inclusion_proofs",
        "files",
        "records",
    }
)

PROOF_FIELDS = frozenset({"tree_size", "index", "leaf", "proof"})


def warrant_sha256(warrant: dict[str, Any]) -> str:
    """The digest that binds a manifest's `warrant` (the approved warrant in its wire form as
    JSON: spec, targets, state, submission and decision) to the release.completed entry:
    sha256 of its canonical JSON. The gateway computes it from the same form it hands the
    client, so both sides hash the same value."""
    return hashlib.sha256(canonical_bytes(warrant)).hexdigest()


def check_manifest(manifest: dict[str, Any], completed: dict[str, Any], last_batch: Any) -> None:
    """Every field of the manifest against the audited entries (the release.completed entry,
    and the last batch's entry `last_batch`, both proven in the checkpoint): the warrant by
    its digest, every count, the entry's index, the records' count and the last batch."""
    unknown = sorted(set(manifest) - FIELDS)
    if unknown:
        raise EvidenceError(f"{MANIFEST} has fields the audit log does not bind: {unknown}")
    bound = completed.get("warrant_sha256")
    if not bound:
        raise EvidenceError(
            "the audited release entry does not bind the warrant (written by a gateway from "
            "before evidence manifests were bound); the manifest cannot be checked"
        )
    if warrant_sha256(manifest["warrant"]) != bound:
        raise EvidenceError(f"{MANIFEST}: warrant is not the warrant the audited release names")
    for field in COUNTS:
        if manifest[field] != completed.get(field):
            raise EvidenceError(
                f"{MANIFEST}: {field} is {manifest[field]!r}, the audit log says "
                f"{completed.get(field)!r}"
            )
    files = manifest["files"]
    if (
        set(files) != {RECORDS}
        or set(files[RECORDS]) != {"sha256", "records"}
        or files[RECORDS]["records"] != completed.get("released")
    ):
        raise EvidenceError(f"{MANIFEST}: files does not match the audited release")
    proofs = manifest["audit_inclusion_proofs"]
    if set(proofs) != {"last_batch", "completed"} or any(
        set(proof) != PROOF_FIELDS for proof in proofs.values()
    ):
        raise EvidenceError(f"{MANIFEST}: audit_inclusion_proofs are not the two proofs")
    if manifest["audit_index"] != proofs["completed"].get("index"):
        raise EvidenceError(f"{MANIFEST}: audit_index is not the proven release entry's index")
    if completed["batches"] == 0:
        return
    listed = manifest["records"]
    if (
        not isinstance(last_batch, dict)
        or last_batch.get("event") != "release.batch"
        or last_batch.get("warrant") != completed.get("warrant")
        or last_batch.get("batch") != completed["batches"] - 1
        or listed[len(listed) - len(last_batch.get("records", [])) :] != last_batch["records"]
    ):
        raise EvidenceError(
            f"{MANIFEST}: the last batch's proof is not of this release's last batch"
        )


def verify_package(out: pathlib.Path, verifiers: Sequence[NoteVerifier]) -> dict[str, Any]:
    """Check an evidence package on disk, with no server: every record against the manifest,
    the records file against the audited release entry, that entry against the checkpoint, the
    checkpoint's signature against the gateway's verifier key, and every other manifest field
    against the audited entries (check_manifest). Returns the manifest."""
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
        missing = sorted(FIELDS - set(manifest))
        if missing:
            raise KeyError(missing[0])
    except (KeyError, TypeError) as exc:
        raise EvidenceError(f"{MANIFEST} lacks {exc}") from None
    if hashlib.sha256(data).hexdigest() != file_sha256:
        raise EvidenceError(f"{RECORDS} does not match the sha256 in {MANIFEST}")
    lines = data.splitlines()
    if len(lines) != len(listed):
        raise EvidenceError(f"{RECORDS} holds {len(lines)} records, {MANIFEST} lists {len(listed)}")
    for number, (line, listing) in enumerate(zip(lines, listed, strict=True), 1):
        if not isinstance(listing, list) or len(listing) != 2:
            raise EvidenceError(f"{MANIFEST}: records entry {number} is not [id, sha256]")
        record_id, digest = listing
        if hashlib.sha256(line).hexdigest() != digest:
            raise EvidenceError(f"{RECORDS} line {number} ({record_id}) does not match its sha256")
        if _record_id(line) != record_id:
            raise EvidenceError(f"{MANIFEST}: records entry {number} names another record's id")
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
    check_manifest(manifest, entry, proven_entry(proofs["last_batch"]))
    return manifest


def proven_entry(proof: dict[str, Any]) -> Any:
    """The entry an inclusion proof (already checked) proves, parsed."""
    try:
        return json.loads(base64.b64decode(proof["leaf"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise EvidenceError(f"the release's audit proof is not valid: {exc}") from None


def _record_id(line: bytes) -> Any:
    try:
        record = json.loads(line)
    except ValueError:
        raise EvidenceError(f"{RECORDS}: a line is not a JSON record") from None
    return record.get("id") if isinstance(record, dict) else None
