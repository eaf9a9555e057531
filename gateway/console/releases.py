"""A page per release for a person: what left, by category; what was protected, by reason;
how many third parties were pseudonymized; with a chart. Every figure is read from the
release's `release.completed` audit entry (guarantee 9: figures bound to the log), which the
browser can check against the signed checkpoint like any other entry."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from gateway.audit.entries import parse
from gateway.console.chart import bar_chart
from gateway.console.pages import Pages
from gateway.console.web import Visit
from gateway.errors import NotFound

WITHHELD_WORDS = {
    "group_peer": "other members' messages in the target's groups",
    "unrelated": "records of people unrelated to the warrant",
    "direct_peer_not_requested": "messages others sent the target directly (not asked for)",
    "outside_window": "outside the warrant's time window",
    "category_not_named": "a category the warrant does not name",
    "warrant_not_active": "the warrant was not in force",
    "no_matching_rule": "no policy rule allowed it",
    "redacted": "redacted by the store",
    "policy_would_expose_third_party": "would have named a third party in clear",
}


# What the text minimizer replaced in released text, by kind (gateway.release.minimize).
REPLACED_WORDS = {
    "name": "names",
    "account": "account ids",
    "handle": "@handles",
    "label": "contact labels",
    "email": "e-mail addresses",
    "matrix": "Matrix ids",
    "phone": "phone numbers",
    "rrn": "resident registration numbers",
    "ssn": "social security numbers",
    "passport": "passport numbers",
    "card": "payment card numbers",
    "number": "other long numbers (bank accounts and the like)",
}


class ReleasePages:
    def __init__(self, pages: Pages) -> None:
        self.pages = pages

    def detail(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        principal = visit.require_principal()
        services = self.pages.services
        services.guard.require(principal, "GetInclusionProof")
        index = int(request.path_params["index"])
        entry = parse(services.reader.inclusion(principal, index).leaf)
        if entry.get("event") != "release.completed":
            raise NotFound(f"audit entry {index} is not a completed release")
        warrant = services.book.get(str(entry["warrant"]))
        services.guard.require(principal, "Get", warrant.id, warrant.submitted_by)
        by_category = sorted(dict(entry.get("released_by_category") or {}).items())
        withheld = sorted(dict(entry.get("withheld") or {}).items(), key=lambda kv: -kv[1])
        by_effect = dict(entry.get("released_by_effect") or {})
        replaced = sorted(
            dict(entry.get("identifiers_replaced") or {}).items(), key=lambda kv: -kv[1]
        )
        chart = bar_chart(
            "release-chart",
            "Records per category released and per reason withheld",
            [(f"released: {c}", n, "released") for c, n in by_category]
            + [(f"withheld: {r}", n, "withheld") for r, n in withheld],
        )
        return self.pages.render(
            visit,
            "releases/detail.html",
            index=index,
            entry=entry,
            warrant=warrant,
            by_category=by_category,
            withheld=[(r, n, WITHHELD_WORDS.get(r, "")) for r, n in withheld],
            replaced=[(k, n, REPLACED_WORDS.get(k, "")) for k, n in replaced],
            quotes_withheld=int(entry.get("quotes_withheld") or 0),
            texts_withheld=int(entry.get("texts_withheld") or 0),
            in_clear=by_effect.get("release", 0),
            pseudonymized=by_effect.get("release_pseudonymized", 0),
            chart=chart,
        )
