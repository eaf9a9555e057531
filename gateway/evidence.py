"""Evidence packages: a release stream written to DIR/records.jsonl and DIR/manifest.json.

The records file holds each record's payload bytes exactly as released (one per line), so the
sha256 in the manifest, on the wire and in the audit log are the same digest. Files are written
under temporary names and renamed only when the release completed: a stopped release never
leaves something that looks like a finished package.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import pathlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from google.protobuf.json_format import MessageToDict

from gateway.api import wsg_pb2 as pb
from gateway.merkle import ProofError
from gateway.notes import Checkpoint, NoteError, NoteVerifier, open_checkpoint
from gateway.proofs import check_inclusion_json, inclusion_json

RECORDS = "records.jsonl"
MANIFEST = "manifest.json"
PARTIAL = "records.partial.jsonl"


class EvidenceError(Exception):
    pass


def prepare_out_dir(out: pathlib.Path) -> None:
    if out.exists() and any(out.iterdir()):
        raise EvidenceError(f"{out} is not empty; choose a new directory for the evidence package")
    out.mkdir(parents=True, exist_ok=True)


def write_package(
    out: pathlib.Path,
    warrant: pb.Warrant,
    stream: Iterable[pb.ReleaseResponse],
    on_started: Callable[[int], None] = lambda total: None,
    on_batch: Callable[[pb.RecordBatch], None] = lambda batch: None,
) -> dict[str, Any]:
    """Consume a release stream into `out`; return the manifest. Checks every record's digest."""
    prepare_out_dir(out)
    partial = out / PARTIAL
    file_hash = hashlib.sha256()
    records: list[list[str]] = []
    summary: pb.ReleaseSummary | None = None
    with partial.open("wb") as handle:
        for item in stream:
            kind = item.WhichOneof("item")
            if kind == "started":
                on_started(item.started.candidate_records)
            elif kind == "batch":
                for record in item.batch.records:
                    if hashlib.sha256(record.payload).hexdigest() != record.sha256:
                        raise EvidenceError(f"record {record.id}: payload does not match its sha256")
                    line = record.payload + b"\n"
                    handle.write(line)
                    file_hash.update(line)
                    records.append([record.id, record.sha256])
                on_batch(item.batch)
            elif kind == "summary":
                summary = item.summary
        handle.flush()
        os.fsync(handle.fileno())
    if summary is None:
        raise EvidenceError("the release stream ended without a summary")
    if summary.records_sha256 != file_hash.hexdigest():
        raise EvidenceError("the records received do not match the digest the gateway audited")
    _check_audit_binding(summary)
    if summary.released != len(records):
        raise EvidenceError(
            f"the summary counts {summary.released} records but {len(records)} arrived"
        )
    manifest = {
        "warrant": MessageToDict(warrant, preserving_proto_field_name=True),
        "released": summary.released,
        "released_by_effect": dict(summary.released_by_effect),
        "released_by_category": dict(summary.released_by_category),
        "withheld": dict(summary.withheld),
        "pseudonymized_parties": summary.pseudonymized_parties,
        "batches": summary.batches,
        "audit_index": summary.audit_index,
        "audit_checkpoint": summary.checkpoint,
        "audit_inclusion_proofs": {
            "last_batch": _proof(summary.last_batch_proof),
            "completed": _proof(summary.completed_proof),
        },
        "files": {RECORDS: {"sha256": file_hash.hexdigest(), "records": len(records)}},
        "records": records,
    }
    tmp = out / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    os.replace(partial, out / RECORDS)
    os.replace(tmp, out / MANIFEST)
    return manifest


def _proof(proof: pb.InclusionProof) -> dict[str, Any]:
    return inclusion_json(proof.index, proof.tree_size, proof.leaf, proof.hashes)


def _check_audit_binding(summary: pb.ReleaseSummary) -> None:
    """The proofs must lead to the checkpoint's root, and the proven release.completed entry
    must name the digest of exactly the records received (signature: `wsg audit evidence`)."""
    try:
        checkpoint = Checkpoint.from_note(summary.checkpoint)
    except NoteError as exc:
        raise EvidenceError(f"the release's audit checkpoint is not valid: {exc}") from None
    _check_proofs(checkpoint, _proof(summary.last_batch_proof), _proof(summary.completed_proof),
                  summary.records_sha256)


def _check_proofs(checkpoint: Checkpoint, last_batch: dict[str, Any], completed: dict[str, Any],
                  records_sha256: str) -> dict[str, Any]:
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
        manifest = json.loads((out / MANIFEST).read_text())
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
    entry = _check_proofs(checkpoint, proofs.get("last_batch", {}), proofs.get("completed", {}),
                          file_sha256)
    if entry.get("warrant") != warrant_id:
        raise EvidenceError(f"the audited release is of warrant {entry.get('warrant')}, not {warrant_id}")
    return manifest
