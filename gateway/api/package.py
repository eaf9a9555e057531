"""Writing an evidence package from a release stream (the client side of ReleaseService).

Files are written under temporary names and renamed only when the release completed: a stopped
release never leaves something that looks like a finished package, but keeps the batches it
received (PARTIAL, and PROGRESS saying how many) for `wsg release ID --resume DIR`. Every
record's digest, the file's digest against the audited release entry, and the proofs against the
checkpoint are checked as the stream arrives (gateway.audit.evidence checks a package later,
offline).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pathlib
from collections.abc import Callable, Iterable
from typing import Any, BinaryIO

from google.protobuf.json_format import MessageToDict

from gateway.api.v1 import wsg_pb2 as pb
from gateway.audit.evidence import (
    MANIFEST,
    RECORDS,
    EvidenceError,
    check_manifest,
    check_proofs,
    proven_entry,
)
from gateway.audit.notes import Checkpoint, NoteError
from gateway.audit.proofs import inclusion_json
from gateway.datadir import open_private, private_dir

PARTIAL = "records.partial.jsonl"
# What an interrupted release left, for `wsg release ID --resume DIR`: rewritten after every
# batch (the batch's records are in PARTIAL first), removed when the package is complete.
PROGRESS = "release.partial.json"


def prepare_out_dir(out: pathlib.Path) -> None:
    """Everything local, before the release is asked for (its records would otherwise be
    audited as released and go nowhere): a new or empty directory, made private, writable."""
    if out.exists() and not out.is_dir():
        raise EvidenceError(f"{out} is not a directory; choose a new directory for the package")
    try:
        if out.exists() and any(out.iterdir()):
            raise EvidenceError(
                f"{out} is not empty; choose a new directory for the evidence package"
            )
        private_dir(out)  # the package names who was investigated: 0700, its files 0600
    except OSError as exc:
        raise EvidenceError(f"{out} cannot be used: {exc.strerror or exc}") from None


@dataclasses.dataclass(frozen=True)
class Progress:
    """The complete batches PARTIAL holds: their count, bytes, sha256, and the audit entry of
    the last; and the release they belong to (warrant, requested batch size)."""

    warrant: str
    batch_size: int
    batches: int
    bytes: int
    records_sha256: str
    last_batch_audit_index: int

    @classmethod
    def read(cls, out: pathlib.Path) -> Progress:
        try:
            return cls(**json.loads((out / PROGRESS).read_text()))
        except FileNotFoundError:
            raise EvidenceError(
                f"{out} holds no interrupted release ({PROGRESS} is missing)"
            ) from None
        except (OSError, ValueError, TypeError) as exc:
            raise EvidenceError(f"{out / PROGRESS} is damaged: {exc}") from None

    def write(self, out: pathlib.Path) -> None:
        tmp = out / (PROGRESS + ".tmp")
        with open_private(tmp) as f:
            f.write((json.dumps(dataclasses.asdict(self), sort_keys=True) + "\n").encode())
        os.replace(tmp, out / PROGRESS)


class PackageAssembler:
    """The checks and the manifest of an evidence package, fed one release message at a time.

    `write_package` and `resume_package` (a directory, for the CLI) and the web console (one
    zip, streamed to the browser) all build packages with it, so they are the same bytes:
    `lines` gives each record's line of records.jsonl as it arrives (batches in order, from the
    first one not yet held), `finish` the manifest once the summary came.
    """

    def __init__(
        self,
        warrant: pb.Warrant,
        on_started: Callable[[int], None] = lambda total: None,
        on_batch: Callable[[pb.RecordBatch], None] = lambda batch: None,
    ) -> None:
        self._warrant = warrant
        self._on_started = on_started
        self._on_batch = on_batch
        self.file_hash = hashlib.sha256()
        self.records: list[list[str]] = []
        self.batches = 0  # complete batches held
        self.length = 0  # bytes of records.jsonl so far
        self.last_audit_index = -1  # the audit entry of the last batch held
        self._summary: pb.ReleaseSummary | None = None

    def hold(self, data: bytes, held: Progress) -> None:
        """Take the batches an interrupted release kept (`data`, checked against `held`)."""
        self.file_hash.update(data)
        if len(data) != held.bytes or self.file_hash.hexdigest() != held.records_sha256:
            raise EvidenceError(
                f"{PARTIAL} does not hold the {held.batches} batches {PROGRESS} names "
                "(damaged); release again into a new directory"
            )
        for line in data.splitlines(keepends=True):
            self.records.append([_record_id(line), hashlib.sha256(line[:-1]).hexdigest()])
        self.batches, self.length = held.batches, held.bytes
        self.last_audit_index = held.last_batch_audit_index

    def lines(self, item: pb.ReleaseResponse) -> list[bytes]:
        """The records.jsonl lines this message adds (checked against their digests)."""
        kind = item.WhichOneof("item")
        if kind == "started":
            if item.started.first_batch != self.batches:
                raise EvidenceError(
                    f"the gateway starts at batch {item.started.first_batch}, "
                    f"not at batch {self.batches} after those kept"
                )
            self._on_started(item.started.candidate_records)
        elif kind == "summary":
            self._summary = item.summary
        elif kind == "batch":
            batch = item.batch
            if batch.index != self.batches:
                raise EvidenceError(
                    f"batch {batch.index} arrived where batch {self.batches} was due"
                )
            lines = []
            for record in batch.records:
                if hashlib.sha256(record.payload).hexdigest() != record.sha256:
                    raise EvidenceError(f"record {record.id}: payload does not match its sha256")
                line = record.payload + b"\n"
                self.file_hash.update(line)
                self.length += len(line)
                self.records.append([record.id, record.sha256])
                lines.append(line)
            self.batches += 1
            self.last_audit_index = batch.audit_index
            self._on_batch(batch)
            return lines
        return []

    def progress(self, batch_size: int) -> Progress:
        return Progress(
            self._warrant.id,
            batch_size,
            self.batches,
            self.length,
            self.file_hash.hexdigest(),
            self.last_audit_index,
        )

    def finish(self) -> dict[str, Any]:
        """The manifest, once the stream ended; EvidenceError if it does not hold together."""
        summary = self._summary
        if summary is None:
            raise EvidenceError("the release stream ended without a summary")
        if summary.records_sha256 != self.file_hash.hexdigest():
            raise EvidenceError("the records received do not match the digest the gateway audited")
        completed = _check_audit_binding(summary)
        if summary.released != len(self.records):
            raise EvidenceError(
                f"the summary counts {summary.released} records but {len(self.records)} arrived"
            )
        manifest: dict[str, Any] = {
            "warrant": MessageToDict(self._warrant, preserving_proto_field_name=True),
            "released": summary.released,
            "released_by_effect": dict(summary.released_by_effect),
            "released_by_category": dict(summary.released_by_category),
            "withheld": dict(summary.withheld),
            "pseudonymized_parties": summary.pseudonymized_parties,
            "identifiers_replaced": dict(sorted(summary.identifiers_replaced.items())),
            "quotes_withheld": summary.quotes_withheld,
            "texts_withheld": summary.texts_withheld,
            "batches": summary.batches,
            "audit_index": summary.audit_index,
            "audit_checkpoint": summary.checkpoint,
            "audit_inclusion_proofs": {
                "last_batch": _proof(summary.last_batch_proof),
                "completed": _proof(summary.completed_proof),
            },
            "files": {
                RECORDS: {"sha256": self.file_hash.hexdigest(), "records": len(self.records)}
            },
            "records": self.records,
        }
        # What `wsg audit evidence` will check, checked now: a gateway whose summary differs
        # from what it audited is caught while the release is received.
        check_manifest(
            manifest, completed, proven_entry(manifest["audit_inclusion_proofs"]["last_batch"])
        )
        return manifest


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """manifest.json as written into every package."""
    text = json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    return text.encode()


def write_package(
    out: pathlib.Path,
    warrant: pb.Warrant,
    stream: Iterable[pb.ReleaseResponse],
    on_started: Callable[[int], None] = lambda total: None,
    on_batch: Callable[[pb.RecordBatch], None] = lambda batch: None,
    batch_size: int = 0,
) -> dict[str, Any]:
    """Consume a release stream into `out`; return the manifest. Checks every record's digest.
    If the stream breaks, `out` keeps the batches received for `resume_package`."""
    prepare_out_dir(out)
    assembler = PackageAssembler(warrant, on_started, on_batch)
    try:
        assembler.progress(batch_size).write(out)
        handle = open_private(out / PARTIAL)
    except OSError as exc:
        raise EvidenceError(f"{out} cannot be written: {exc.strerror or exc}") from None
    # Only now is the stream read for the first time, which makes the call (Client.release).
    return _consume(out, stream, assembler, handle, batch_size)


def resume_package(
    out: pathlib.Path,
    warrant: pb.Warrant,
    release: Callable[[int, pb.ReleaseResume | None], Iterable[pb.ReleaseResponse]],
    on_started: Callable[[int], None] = lambda total: None,
    on_batch: Callable[[pb.RecordBatch], None] = lambda batch: None,
) -> dict[str, Any]:
    """Continue the interrupted release kept in `out`: `release(batch_size, resume)` opens the
    stream; the server checks the kept batches and sends the rest. Returns the manifest."""
    if (out / MANIFEST).exists():
        raise EvidenceError(f"{out} holds a complete evidence package; nothing to resume")
    held = Progress.read(out)
    if held.warrant != warrant.id:
        raise EvidenceError(f"{out} holds a release of {held.warrant}, not of {warrant.id}")
    try:
        handle = (out / PARTIAL).open("r+b")
    except OSError as exc:
        raise EvidenceError(f"{out / PARTIAL} cannot be read: {exc}") from None
    assembler = PackageAssembler(warrant, on_started, on_batch)
    try:
        assembler.hold(handle.read(held.bytes), held)
    except BaseException:
        handle.close()
        raise
    handle.truncate(held.bytes)  # a batch half-written when it stopped
    handle.seek(held.bytes)
    resume = None
    if held.batches:
        resume = pb.ReleaseResume(
            batches=held.batches,
            records_sha256=held.records_sha256,
            last_batch_audit_index=held.last_batch_audit_index,
        )
    stream = release(held.batch_size, resume)
    return _consume(out, stream, assembler, handle, held.batch_size)


def _consume(
    out: pathlib.Path,
    stream: Iterable[pb.ReleaseResponse],
    assembler: PackageAssembler,
    handle: BinaryIO,
    batch_size: int,
) -> dict[str, Any]:
    """The stream into PARTIAL (PROGRESS rewritten after each batch), then the package."""
    try:
        for item in stream:
            lines = assembler.lines(item)
            if item.WhichOneof("item") == "batch":
                handle.writelines(lines)
                handle.flush()
                assembler.progress(batch_size).write(out)
        handle.flush()
        os.fsync(handle.fileno())
    finally:
        handle.close()
    manifest = assembler.finish()
    tmp = out / (MANIFEST + ".tmp")
    with open_private(tmp) as f:
        f.write(manifest_bytes(manifest))
    os.replace(out / PARTIAL, out / RECORDS)
    os.replace(tmp, out / MANIFEST)
    (out / PROGRESS).unlink(missing_ok=True)
    return manifest


def _record_id(line: bytes) -> str:
    try:
        return str(json.loads(line)["id"])
    except (ValueError, KeyError, TypeError):
        raise EvidenceError("a kept record is not a released record (no id)") from None


def _proof(proof: pb.InclusionProof) -> dict[str, Any]:
    return inclusion_json(proof.index, proof.tree_size, proof.leaf, proof.hashes)


def _check_audit_binding(summary: pb.ReleaseSummary) -> dict[str, Any]:
    """The proofs must lead to the checkpoint's root, and the proven release.completed entry
    must name the digest of exactly the records received (signature: `wsg audit evidence`)."""
    try:
        checkpoint = Checkpoint.from_note(summary.checkpoint)
    except NoteError as exc:
        raise EvidenceError(f"the release's audit checkpoint is not valid: {exc}") from None
    return check_proofs(
        checkpoint,
        _proof(summary.last_batch_proof),
        _proof(summary.completed_proof),
        summary.records_sha256,
    )
