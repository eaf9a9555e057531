"""`wsg release WARRANT_ID --out DIR`: stream a release into an evidence package."""

from __future__ import annotations

import pathlib
from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from gateway.api import package
from gateway.api.client import Client, ClientError
from gateway.api.package import resume_package, write_package
from gateway.audit.evidence import EvidenceError
from gateway.cli.common import (
    Connection,
    connection_options,
    console,
    err_console,
    friendly_errors,
    json_option,
    print_json,
)


def run_release(
    client: Client,
    warrant_id: str,
    out: pathlib.Path,
    show_progress: bool,
    batch_size: int = 0,
    resume: bool = False,
) -> dict[str, Any]:
    """Release into `out` (or, with `resume`, continue the release kept there) with an optional
    progress bar; return the manifest."""
    warrant = client.get(warrant_id)
    progress = Progress(
        TextColumn("[bold]release"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("examined, {task.fields[released]} released"),
        TimeElapsedColumn(),
        console=err_console,
        disable=not show_progress,
        transient=True,
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
            if resume:
                return resume_package(
                    out,
                    warrant,
                    lambda size, held: client.release(warrant_id, size, held),
                    started,
                    batch,
                )
            return write_package(
                out, warrant, client.release(warrant_id, batch_size), started, batch, batch_size
            )
        except EvidenceError as exc:
            raise ValueError(str(exc)) from None
        except ClientError as exc:
            raise _resumable(exc, warrant_id, out) from None


def _resumable(exc: ClientError, warrant_id: str, out: pathlib.Path) -> ClientError:
    """The server's error, and how to go on from the batches kept (if any were)."""
    try:
        kept = package.Progress.read(out).batches
    except EvidenceError:
        return exc
    if not kept:
        return exc
    hint = (
        f"; {kept} batches kept in {out}: continue with `wsg release {warrant_id} --resume {out}`"
    )
    return ClientError(exc.code, exc.message + hint, exc.reason, exc.field)


def summary_view(manifest: dict[str, Any]) -> dict[str, Any]:
    return {
        "warrant": manifest["warrant"]["id"],
        "released": manifest["released"],
        "released_by_category": manifest["released_by_category"],
        "released_by_effect": manifest["released_by_effect"],
        "withheld": manifest["withheld"],
        "pseudonymized_parties": manifest["pseudonymized_parties"],
        "identifiers_replaced": manifest.get("identifiers_replaced", {}),
        "quotes_withheld": manifest.get("quotes_withheld", 0),
        "texts_withheld": manifest.get("texts_withheld", 0),
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
    replaced = manifest.get("identifiers_replaced", {})
    if replaced:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(replaced.items()))
        table.add_row(f"identifiers replaced in text ({kinds})", str(sum(replaced.values())))
    for label, key in (
        ("quotes withheld", "quotes_withheld"),
        ("texts withheld", "texts_withheld"),
    ):
        if manifest.get(key):
            table.add_row(f"[yellow]{label}", str(manifest[key]))
    console.print(table)
    console.print(
        f"evidence package: {out}/records.jsonl, {out}/manifest.json "
        f"(audit entry #{manifest['audit_index']})"
    )


@click.command()
@click.argument("warrant_id")
@click.option(
    "--out",
    type=click.Path(path_type=pathlib.Path, file_okay=False),
    help="New or empty directory for records.jsonl and manifest.json.",
)
@click.option(
    "--resume",
    "resume_dir",
    type=click.Path(path_type=pathlib.Path, file_okay=False, exists=True),
    help="Continue the interrupted release kept in this directory (a dropped connection, a "
    "gateway that drained): the batches it holds are checked, not sent again, and the "
    "finished package is the one an uninterrupted release makes.",
)
@click.option("--batch-size", default=0, help="Records per stream message (server default 500).")
@connection_options
@json_option
@friendly_errors
def release(
    warrant_id: str,
    out: pathlib.Path | None,
    resume_dir: pathlib.Path | None,
    batch_size: int,
    conn: Connection,
    as_json: bool,
) -> None:
    """Release what an APPROVED warrant names into an evidence package in --out, or finish an
    interrupted one with --resume DIR.

    If the release stops midway, DIR keeps the batches received (records.partial.jsonl and
    release.partial.json) and the error says how to continue."""
    if (out is None) == (resume_dir is None):
        raise click.UsageError("give either --out DIR (a new release) or --resume DIR")
    target = out or resume_dir
    assert target is not None  # noqa: S101 - one of the two, checked just above
    with conn.open() as client:
        manifest = run_release(
            client,
            warrant_id,
            target,
            show_progress=not as_json,
            batch_size=batch_size,
            resume=resume_dir is not None,
        )
    if as_json:
        print_json(summary_view(manifest) | {"out": str(target)})
    else:
        print_summary(manifest, target)
