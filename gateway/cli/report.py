"""`wsg report transparency|verify`: the transparency report, made and checked from the audit log.

`transparency` works offline on a data directory (its log and latest signed checkpoint, checked
with the verifier key), on the shared PostgreSQL log (--database), or asks a running gateway
(--server, auditors); `verify` never asks a gateway: a copy of the log and the key suffice.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

import click
from rich.table import Table

from gateway.audit.files import read_lines
from gateway.cli.audit import DATA, DATABASE, KEY, _table_log, _verifier
from gateway.cli.common import (
    console,
    friendly_errors,
    json_option,
    online,
    online_client,
    print_json,
)
from gateway.datadir import DataDir
from gateway.reports import transparency
from gateway.reports.formats import LABELS, render
from gateway.reports.transparency import COUNTS, ReportError


@click.group()
def report() -> None:
    """Publish what was asked and what left, computed only from the audit log.

    \b
      wsg report transparency --from 2026-01-01 --to 2026-07-01 --band 250 --json > r.json
      wsg report verify r.json --log audit.log --key audit.vkey
    The report names the signed checkpoint it was computed over; anyone holding a copy of the
    log and the verifier key recomputes it and gets the same numbers (docs/transparency.md).
    """


@report.command("transparency")
@click.option(
    "--from",
    "start",
    required=True,
    metavar="DATE",
    help="First day (YYYY-MM-DD, midnight UTC) or an RFC 3339 time; included.",
)
@click.option(
    "--to",
    "end",
    required=True,
    metavar="DATE",
    help="Day or time the period ends, excluded: --from 2026-01-01 --to 2026-07-01 is the "
    "first half of 2026.",
)
@click.option(
    "--band",
    "width",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Publish every count in bands of N (250: 0-249, 250-499, ...); 0: exact counts.",
)
@click.option("--json", "form", flag_value="json", help="The report document (what verify checks).")
@click.option("--csv", "form", flag_value="csv", help="One row per number: tier,measure,key,value.")
@click.option("--html", "form", flag_value="html", help="A standalone HTML page.")
@click.option(
    "--out",
    type=click.Path(path_type=pathlib.Path, dir_okay=False),
    help="Write the report to FILE (JSON unless --csv or --html) instead of printing it.",
)
@DATA
@DATABASE
@KEY
@online
@friendly_errors
def transparency_command(
    start: str,
    end: str,
    width: int,
    form: str | None,
    out: pathlib.Path | None,
    data: pathlib.Path,
    url: str | None,
    key: str | None,
    server: str | None,
    identity: str | None,
    insecure: bool,
) -> None:
    """The transparency report of a period, per instrument tier.

    Requests received, approved, rejected, revoked; accounts specified; requests where some
    data was produced; records released by category; records withheld by reason; third
    parties pseudonymized. Counted from the entries of the latest signed checkpoint whose
    time lies in [--from, --to); the report names that checkpoint, so `wsg report verify`
    can recompute it from a copy of the log.
    """
    period = transparency.Period(
        transparency.parse_day_or_time(start, "--from"),
        transparency.parse_day_or_time(end, "--to"),
    )
    if server:
        with online_client(server, identity, insecure, data) as client:
            document = json.loads(client.transparency_report(period.start, period.end, width))
    else:
        lines, note = _log_and_latest(data, url)
        checkpoint = transparency.open_note(note, [_verifier(data, key)])
        document = transparency.build(lines, note, checkpoint, period, width)
    if form is None and out is None:
        _show(document)
        return
    text = render(document, form or "json")
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text)
        console.print(f"transparency report written to {out}")


def _log_and_latest(data: pathlib.Path, url: str | None) -> tuple[list[bytes], str]:
    """The log's lines and its latest signed checkpoint note."""
    if url:
        lines, signed = _table_log(url)
        if not signed:
            raise ValueError("no signed checkpoint in the database yet")
        return lines, signed[-1][1]
    dirs = DataDir(data)
    if not dirs.audit_log.exists():
        raise ValueError(f"no audit log at {dirs.audit_log}")
    if not dirs.checkpoint.exists():
        raise ValueError(
            f"no signed checkpoint at {dirs.checkpoint} yet (`wsg audit checkpoint --server` "
            "makes the gateway sign one)"
        )
    return list(read_lines(dirs.audit_log)), dirs.checkpoint.read_text()


def _show(document: dict[str, Any]) -> None:
    """A table for people: a column per tier, a row per number."""
    tiers: dict[str, Any] = {**document["tiers"], "total": document["total"]}
    period = document["period"]
    table = Table(title=f"Transparency report, {period['from']} to {period['to']} (excluded)")
    table.add_column("")
    for name in tiers:
        table.add_column(name, justify="right")
    for measure in COUNTS:
        table.add_row(LABELS[measure], *(str(numbers[measure]) for numbers in tiers.values()))
    console.print(table)
    console.print(document["banding"]["statement"])
    console.print(
        f"Computed over the first {document['checkpoint']['tree_size']} entries of the audit log "
        "(signed checkpoint in --json)."
    )


@report.command("verify")
@click.argument("report_file", type=click.Path(path_type=pathlib.Path, dir_okay=False, exists=True))
@click.option(
    "--log",
    "log_file",
    type=click.Path(path_type=pathlib.Path, dir_okay=False),
    help="The copy of the audit log to recompute from; default DIR/audit.log.",
)
@DATA
@DATABASE
@KEY
@json_option
@friendly_errors
def verify_command(
    report_file: pathlib.Path,
    log_file: pathlib.Path | None,
    data: pathlib.Path,
    url: str | None,
    key: str | None,
    as_json: bool,
) -> None:
    """Check a transparency report (its --json document) against a copy of the audit log.

    The checkpoint note it names must verify with the key, the log's first N entries must
    give that note's root hash, and recomputing the report from them must give every number
    it states. Exits 1 with one line naming what differs otherwise. No --server, on purpose:
    whoever reads a report checks it without the gateway that made it.
    """
    try:
        claimed = json.loads(report_file.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(
            f"{report_file}: not JSON ({exc}); verify checks the --json report"
        ) from None
    if url:
        if log_file is not None:
            raise ValueError("--log and --database name two logs: check one at a time")
        lines, _ = _table_log(url)
    else:
        path = log_file or DataDir(data).audit_log
        if not path.exists():
            raise ValueError(f"no audit log at {path}")
        lines = list(read_lines(path))
    try:
        transparency.verify(claimed, lines, [_verifier(data, key)])
    except ReportError as exc:
        if as_json:
            print_json({"ok": False, "problem": str(exc)})
        else:
            # One line, never wrapped: the reason is what a script or a person acts on.
            click.echo(f"transparency report does not verify: {exc}", err=True)
        raise SystemExit(1) from None
    size = claimed["checkpoint"]["tree_size"]
    if as_json:
        print_json({"ok": True, "tree_size": size})
    else:
        console.print(
            f"transparency report ok: every number recomputed from the log's first {size} "
            "entries, under a checkpoint signed by the verifier key"
        )
