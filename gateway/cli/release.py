"""`wsg release WARRANT_ID --out DIR`: stream a release into an evidence package."""

from __future__ import annotations

import pathlib
from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from gateway.cli.common import (
    Connection, connection_options, console, err_console, friendly_errors, json_option, print_json,
)
from gateway.client import Client
from gateway.evidence import EvidenceError, write_package


def run_release(client: Client, warrant_id: str, out: pathlib.Path, show_progress: bool,
                batch_size: int = 0) -> dict[str, Any]:
    """Release into `out` with an optional progress bar; return the manifest."""
    warrant = client.get(warrant_id)
    progress = Progress(
        TextColumn("[bold]release"), BarColumn(), MofNCompleteColumn(),
        TextColumn("examined, {task.fields[released]} released"), TimeElapsedColumn(),
        console=err_console, disable=not show_progress, transient=True,
    )
    with progress:
        task = progress.add_task("release", total=None, released=0)
        released = 0

        def started(total: int) -> None:
            progress.update(task, total=total)

        def batch(b: Any) -> None:
            nonlocal released
            released += len(b.records)
            progress.update(task, completed=b.examined, released=released)

        try:
            return write_package(out, warrant, client.release(warrant_id, batch_size), started, batch)
        except EvidenceError as exc:
            raise ValueError(str(exc)) from None


def summary_view(manifest: dict[str, Any]) -> dict[str, Any]:
    return {
        "warrant": manifest["warrant"]["id"],
        "released": manifest["released"],
        "released_by_category": manifest["released_by_category"],
        "released_by_effect": manifest["released_by_effect"],
        "withheld": manifest["withheld"],
        "pseudonymized_parties": manifest["pseudonymized_parties"],
        "audit_index": manifest["audit_index"],
    }


def print_summary(manifest: dict[str, Any], out: pathlib.Path) -> None:
    table = Table(title=f"release of {manifest['warrant']['id']}")
    table.add_column("")
    table.add_column("records", justify="right")
    for category, n in sorted(manifest["released_by_category"].items()):
        table.add_row(f"released: {category}", str(n))
    for reason, n in sorted(manifest["withheld"].items()):
        table.add_row(f"[yellow]withheld: {reason}", str(n))
    table.add_row("third parties pseudonymized", str(manifest["pseudonymized_parties"]))
    console.print(table)
    console.print(f"evidence package: {out}/records.jsonl, {out}/manifest.json "
                  f"(audit entry #{manifest['audit_index']})")


@click.command()
@click.argument("warrant_id")
@click.option("--out", required=True, type=click.Path(path_type=pathlib.Path, file_okay=False),
              help="New or empty directory for records.jsonl and manifest.json.")
@click.option("--batch-size", default=0, help="Records per stream message (server default 500).")
@connection_options
@json_option
@friendly_errors
def release(warrant_id: str, out: pathlib.Path, batch_size: int, conn: Connection, as_json: bool) -> None:
    """Release what an APPROVED warrant names into an evidence package in --out."""
    with conn.open() as client:
        manifest = run_release(client, warrant_id, out, show_progress=not as_json,
                               batch_size=batch_size)
    if as_json:
        print_json(summary_view(manifest) | {"out": str(out)})
    else:
        print_summary(manifest, out)
