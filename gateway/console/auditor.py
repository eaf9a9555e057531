"""Pages for auditors: the log as a searchable, paged table, an entry with its inclusion proof,
the signed checkpoint, and the proofs the browser checks on its own (static/verify-v1.mjs).

The server's word is not needed: the page hands the browser each shown entry's exact bytes,
its RFC 6962 inclusion proof and the signed checkpoint; the script checks the checkpoint's
Ed25519 signature against the verifier key the auditor holds, each proof against the
checkpoint's root, and that the table says what the verified bytes say.
"""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.audit.entries import parse
from gateway.audit.proofs import consistency_json
from gateway.audit.reader import EntryFilter
from gateway.console.pages import Pages
from gateway.console.web import Visit
from gateway.errors import InvalidArgument, PermissionDenied

PAGE = 50
MAX_PROOFS = 100
SHOWN_FIELDS = ("event", "warrant", "principal", "ts")


def _time(value: str, name: str) -> dt.datetime | None:
    if not value:
        return None
    for fmt in ("%Y-%m-%dT%H:%M", "%Y-%m-%d"):
        try:
            return dt.datetime.strptime(value, fmt).replace(tzinfo=dt.UTC)
        except ValueError:
            continue
    raise InvalidArgument(f"{name}: {value[:40]!r} is not a time (YYYY-MM-DDTHH:MM, in UTC)")


def _int(value: str, name: str, default: int = 0) -> int:
    if not value:
        return default
    if not value.isdigit() or len(value) > 12:
        raise InvalidArgument(f"{name}: {value[:20]!r} is not a whole number")
    return int(value)


class AuditorPages:
    def __init__(self, pages: Pages) -> None:
        self.pages = pages
        self.reader = pages.services.reader
        self.guard = pages.services.guard

    def log(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        principal = visit.require_principal()
        self.guard.require(principal, "ListEntries")
        q = request.query_params
        search = {k: q.get(k, "").strip()[:200] for k in ("kind", "warrant", "principal")}
        since, until = q.get("since", "").strip(), q.get("until", "").strip()
        wanted = EntryFilter(
            warrant=search["warrant"] or None,
            kind=search["kind"] or None,
            principal=search["principal"] or None,
            since=_time(since, "since"),
            until=_time(until, "until"),
        )
        page = max(1, _int(q.get("page", ""), "page", 1))
        found = list(self.reader.entries(principal, wanted))
        found.reverse()  # newest first
        pages = max(1, -(-len(found) // PAGE))
        shown = [(index, entry) for index, _, entry in found[(page - 1) * PAGE : page * PAGE]]
        base = {**search, "since": since, "until": until}
        return self.pages.render(
            visit,
            "audit/log.html",
            rows=shown,
            total=len(found),
            page=page,
            pages=pages,
            search=base,
            query=lambda n: _query({**base, "page": str(n)}),
            kinds=sorted({str(e.get("event")) for _, _, e in found}),
            fields=SHOWN_FIELDS,
        )

    def entry(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        principal = visit.require_principal()
        self.guard.require(principal, "GetInclusionProof")
        # The route's {index:int} made it a number already (a digit string, no sign).
        proof = self.reader.inclusion(principal, int(request.path_params["index"]))
        entry = parse(proof.leaf)
        return self.pages.render(
            visit,
            "audit/entry.html",
            index=proof.index,
            entry=entry,
            line=proof.leaf.decode("utf-8", "replace"),
            proof=json.dumps(proof.to_json(), indent=2),
            fields=SHOWN_FIELDS,
        )

    def checkpoint(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        self.guard.require(visit.require_principal(), "GetCheckpoint")
        signed = self.reader.checkpoint()
        return self.pages.render(
            visit,
            "audit/checkpoint.html",
            note=signed.note,
            size=signed.checkpoint.size,
            server_key=self.reader.verifier_key,
        )

    def proofs(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        """The signed checkpoint and the inclusion proofs of the asked entries, as JSON for the
        browser's own verification (only entries this principal may read)."""
        principal = visit.require_principal()
        self.guard.require(principal, "GetCheckpoint")
        self.guard.require(principal, "GetInclusionProof")
        asked = request.query_params.getlist("index")[:MAX_PROOFS]
        indexes = [_int(i, "index") for i in asked]
        signed = self.reader.checkpoint()
        size = signed.checkpoint.size
        proofs, refused = [], []
        for index in indexes:
            try:
                proofs.append(self.reader.inclusion(principal, index, size).to_json())
            except (PermissionDenied, InvalidArgument) as exc:
                refused.append({"index": index, "why": exc.message})
        return JSONResponse({"checkpoint": signed.note, "proofs": proofs, "refused": refused})

    def consistency(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        """A consistency proof from a checkpoint the browser kept to the latest one."""
        self.guard.require(visit.require_principal(), "GetConsistencyProof")
        old = _int(request.query_params.get("old", ""), "old")
        new = _int(request.query_params.get("new", ""), "new")
        new_size, hashes = self.reader.consistency(old, new)
        return JSONResponse({"consistency": consistency_json(old, new_size, hashes)})


def _query(values: dict[str, str]) -> str:
    return "?" + urlencode({k: v for k, v in values.items() if v})
