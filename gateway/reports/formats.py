"""The transparency report as JSON (the document `wsg report verify` checks), CSV and HTML.

CSV and HTML are renderings of the JSON for people and spreadsheets; each carries the period,
the banding statement and the checkpoint note, so a reader can find the log it came from.
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Iterator
from typing import Any

from gateway.reports.transparency import BREAKDOWNS, COUNTS

FORMATS = ("json", "csv", "html")

LABELS = {
    "requests_received": "Requests received",
    "approved": "Approved",
    "rejected": "Rejected",
    "revoked": "Revoked",
    "accounts_specified": "Accounts specified",
    "requests_with_data_produced": "Requests where some data was produced",
    "records_released": "Records released",
    "records_withheld": "Records withheld",
    "third_parties_pseudonymized": "Third parties pseudonymized",
    "records_released_by_category": "Records released, by category",
    "records_withheld_by_reason": "Records withheld, by reason",
}


def to_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _sections(report: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    yield from report["tiers"].items()
    yield "total", report["total"]


def rows(report: dict[str, Any]) -> Iterator[tuple[str, str, str, str]]:
    """(tier, measure, key, value): the report flat, as the CSV has it."""
    checkpoint = report["checkpoint"]
    for measure, value in (
        ("period_from", report["period"]["from"]),
        ("period_to", report["period"]["to"]),
        ("band_width", report["banding"]["width"]),
        ("banding", report["banding"]["statement"]),
        ("checkpoint_tree_size", checkpoint["tree_size"]),
        ("checkpoint_root_hash", checkpoint["root_hash"]),
        ("checkpoint_note", checkpoint["note"]),
    ):
        yield "report", measure, "", str(value)
    for tier, numbers in _sections(report):
        for measure in COUNTS:
            yield tier, measure, "", str(numbers[measure])
        for measure in BREAKDOWNS:
            for key, value in numbers[measure].items():
                yield tier, measure, key, str(value)


def to_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("tier", "measure", "key", "value"))
    writer.writerows(rows(report))
    return out.getvalue()


def to_html(report: dict[str, Any]) -> str:
    """A standalone page; every value from the log is escaped."""
    e = html.escape
    period = f"{report['period']['from']} to {report['period']['to']} (end excluded)"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Transparency report {e(period)}</title></head><body>",
        "<h1>Transparency report</h1>",
        f"<p>Period: {e(period)}</p>",
        f"<p>Banding: {e(report['banding']['statement'])}</p>",
    ]
    for tier, numbers in _sections(report):
        title = "All tiers" if tier == "total" else f"Tier: {tier}"
        parts.append(f"<h2>{e(title)}</h2>")
        parts.append("<table><tbody>")
        for measure in COUNTS:
            parts.append(
                f'<tr><th scope="row">{e(LABELS[measure])}</th>'
                f"<td>{e(str(numbers[measure]))}</td></tr>"
            )
        parts.append("</tbody></table>")
        for measure in BREAKDOWNS:
            if numbers[measure]:
                parts.append(f"<h3>{e(LABELS[measure])}</h3><table><tbody>")
                parts.extend(
                    f'<tr><th scope="row">{e(key)}</th><td>{e(str(value))}</td></tr>'
                    for key, value in numbers[measure].items()
                )
                parts.append("</tbody></table>")
    checkpoint = report["checkpoint"]
    parts += [
        "<h2>Computed over</h2>",
        f"<p>The first {e(str(checkpoint['tree_size']))} entries of the audit log, root hash "
        f"<code>{e(checkpoint['root_hash'])}</code>, signed checkpoint:</p>",
        f"<pre>{e(checkpoint['note'])}</pre>",
        "<p>Check it with <code>wsg report verify REPORT.json --log AUDIT.log --key KEY</code>"
        " (the report's --json document).</p>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def render(report: dict[str, Any], form: str) -> str:
    if form == "csv":
        return to_csv(report)
    if form == "html":
        return to_html(report)
    return to_json(report)
