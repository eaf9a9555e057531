"""Resuming an interrupted release (ReleaseRequest.resume, `wsg release ID --resume DIR`).

The run is the same release again: the same records in the same order, the same pseudonyms
(they depend only on the warrant and the gateway secret), the same batches for the same batch
size. It audits `release.resumed` instead of `release.started`, computes the batches the client
holds without sending or auditing them again, checks at the last of them that the client's
records and that batch's `release.batch` entry are exactly what it made (else the store changed:
FAILED_PRECONDITION), and goes on from there; its summary and `release.completed` cover the
whole release, so the finished package is the one an uninterrupted release would have made.
"""

from __future__ import annotations

import re
from typing import Any

from gateway.audit import events
from gateway.audit.entries import parse
from gateway.audit.log import AuditLog
from gateway.errors import FailedPrecondition, InvalidArgument
from gateway.release.items import Resume

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def check_resume(resume: Resume) -> Resume:
    """The request's resume fields, or INVALID_ARGUMENT naming the bad one."""
    if resume.batches < 1:
        raise InvalidArgument("resume.batches: at least 1 (with none held, release anew)")
    if not _SHA256.match(resume.records_sha256):
        raise InvalidArgument("resume.records_sha256: 64 lower-case hex digits")
    return resume


def held_batch_entry(audit: AuditLog, resume: Resume, warrant_id: str) -> dict[str, Any]:
    """The release.batch entry the client names as its last batch, if it is one of this
    warrant's with that batch number."""
    index = resume.last_batch_audit_index
    entry = parse(audit.line(index)) if 0 <= index < audit.size else {}
    if (
        entry.get("event") != events.ReleaseBatch.KIND
        or entry.get("warrant") != warrant_id
        or entry.get("batch") != resume.batches - 1
    ):
        raise FailedPrecondition(
            f"resume.last_batch_audit_index: entry {index} is not batch {resume.batches - 1} "
            f"of a release of {warrant_id}",
            reason="RESUME_MISMATCH",
        )
    return entry


def resumed_entry(
    warrant_id: str, principal: str, policy: str, resume: Resume, candidates: int
) -> events.ReleaseResumed:
    return events.ReleaseResumed(
        warrant=warrant_id,
        principal=principal,
        policy=policy,
        candidates=candidates,
        batches=resume.batches,
        records_sha256=resume.records_sha256,
        resumed_from=resume.last_batch_audit_index,
    )
