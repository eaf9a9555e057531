"""Pages for auditors: the log as a searchable, paged table, an entry with its inclusion proof,
the signed checkpoint, the proofs the browser checks on its own (static/verify-v1.mjs), and the
transparency report of a period (GetTransparencyReport, as `wsg report transparency`).

The server's word is not needed: the page hands the browser each shown entry's exact bytes,
its RFC 6962 inclusion proof and the signed checkpoint; the script checks the checkpoint's
Ed25519 signature against the verifier key the auditor holds, each proof against the
checkpoint's root, and that the table says what the verified bytes say.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.api.servicers.audit import transparency_report
from gateway.audit.entries import parse
from gateway.audit.proofs import consistency_json
from gateway.audit.reader import EntryFilter
from gateway.console.forms import utc_input
from gateway.console.pages import Pages
from gateway.console.web import HTTP_STATUS, Visit
from gateway.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from gateway.reports.formats import to_json
from gateway.reports.transparency import BREAKDOWNS, COUNTS

PAGE = 50
MAX_BAND = 1_000_000  # a band wider than this publishes nothing worth reading
MAX_PROOFS = 100
SHOWN_FIELDS = ("event", "warrant", "principal", "ts")
DAY_OR_MINUTE = ("%Y-%m-%dT%H:%M", "%Y-%m-%d")


def _time(value: str, name: str) -> dt.datetime | None:
    """A search or report bound: a day or a minute, in UTC (None: not given)."""
    return utc_input(value, name, DAY_OR_MINUTE) if value else None


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

    # -- the transparency report -------------------------------------------------------------

    def _asked(self, visit: Visit, request: Request) -> dict[str, str]:
        """The report form's values, once the API policy lets this person make reports."""
        principal = visit.require_principal()
        self.guard.require(principal, "GetTransparencyReport")
        return {k: request.query_params.get(k, "").strip()[:40] for k in ("from", "to", "band")}

    def _build(self, asked: dict[str, str]) -> dict[str, Any]:
        """The report the form asks for; InvalidArgument for a bad period or band,
        FailedPrecondition for a log that does not give its checkpoint."""
        start, end = _time(asked["from"], "from"), _time(asked["to"], "to")
        if start is None or end is None:
            raise InvalidArgument("from and to: both are required (YYYY-MM-DD, in UTC)")
        band = _int(asked["band"], "band")
        if band > MAX_BAND:
            raise InvalidArgument(f"band: at most {MAX_BAND:,} (0 publishes exact counts)")
        return transparency_report(self.reader, start, end, band)

    def report(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        """The form, and the report once a period is asked for; what stops one is said on the
        page, beside the values to correct."""
        asked = self._asked(visit, request)
        report, problem, status = None, "", 200
        if asked["from"] or asked["to"]:
            try:
                report = self._build(asked)
            except (InvalidArgument, FailedPrecondition) as exc:
                problem, status = exc.message, HTTP_STATUS[exc.code.name]
        columns, figures = _matrix(report) if report else ([], [])
        return self.pages.render(
            visit,
            "audit/report.html",
            status=status,
            asked=asked,
            report=report,
            problem=problem,
            columns=columns,
            figures=figures,
            json_query=_query(asked),
        )

    def report_json(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        """The report document itself (what `wsg report verify` checks), as a download."""
        asked = self._asked(visit, request)
        report = self._build(asked)
        name = f"transparency-{asked['from']}-{asked['to']}.json".replace(":", "")
        return Response(
            to_json(report),
            media_type="application/json",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )


def _matrix(report: dict[str, Any]) -> tuple[list[str], list[tuple[str, str, list[Any]]]]:
    """The report for people: a column per tier and the total, a row per count and per key of
    each breakdown (measure, key, values); a key a tier lacks is shown as 0."""
    columns = [*report["tiers"], "total"]
    sections = [*report["tiers"].values(), report["total"]]
    figures: list[tuple[str, str, list[Any]]] = [
        (measure, "", [numbers[measure] for numbers in sections]) for measure in COUNTS
    ]
    for measure in BREAKDOWNS:
        keys = sorted({key for numbers in sections for key in numbers[measure]})
        figures += [(measure, k, [n[measure].get(k, 0) for n in sections]) for k in keys]
    return columns, figures


def _query(values: dict[str, str]) -> str:
    return "?" + urlencode({k: v for k, v in values.items() if v})
