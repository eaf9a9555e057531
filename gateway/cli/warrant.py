"""`wsg warrant ...`: submit, approve, reject, revoke, extend-hold, show, list."""

from __future__ import annotations

import pathlib

import click
from rich.table import Table

from gateway.api.convert import spec_to_pb
from gateway.api.v1 import wsg_pb2 as pb
from gateway.cli.common import (
    Connection,
    connection_options,
    console,
    friendly_errors,
    json_option,
    print_json,
    show_warrant,
    warrant_dict,
    warrant_table,
)
from gateway.warrants.file import WarrantFileError, load_warrant_file


@click.group()
def warrant() -> None:
    """Enter warrants and move them through their states.

    \b
    SUBMITTED --approve--> APPROVED --revoke--> REVOKED
              --reject---> REJECTED   (time) -> EXPIRED
    The approver must be a different person from the submitter (two-person rule).
    """


def _emit(w: pb.Warrant, as_json: bool) -> None:
    if as_json:
        print_json(warrant_dict(w))
    else:
        show_warrant(w)


@warrant.command()
@click.argument("file", type=click.Path(path_type=pathlib.Path, dir_okay=False))
@click.option(
    "--request-id",
    default="",
    metavar="ID",
    help="Makes the submission safe to retry: the same ID with the same file returns the "
    "warrant the first try made, never a second one (a UUID, or your ticket's id).",
)
@connection_options
@json_option
@friendly_errors
def submit(file: pathlib.Path, request_id: str, conn: Connection, as_json: bool) -> None:
    """Submit the warrant described in FILE (YAML; docs/warrants.md describes every field)."""
    try:
        spec = load_warrant_file(file)
    except WarrantFileError as exc:
        raise ValueError(str(exc)) from None
    with conn.open() as client:
        _emit(client.submit(spec_to_pb(spec), request_id), as_json)


def _action(name: str, help_text: str, text_option: str | None) -> click.Command:
    def command(warrant_id: str, conn: Connection, as_json: bool, text: str = "") -> None:
        with conn.open() as client:
            _emit(getattr(client, name)(warrant_id, text), as_json)

    command.__doc__ = help_text
    cmd = friendly_errors(command)
    cmd = json_option(cmd)
    cmd = connection_options(cmd)
    if text_option:
        cmd = click.option(
            f"--{text_option}",
            "text",
            default="",
            help=f"The {text_option}, recorded in the audit log.",
        )(cmd)
    cmd = click.argument("warrant_id")(cmd)
    return warrant.command(name)(cmd)


_action("approve", "Approve a SUBMITTED warrant (you must not be its submitter).", "note")
_action("reject", "Reject a SUBMITTED warrant (you must not be its submitter).", "reason")
_action("revoke", "Revoke an APPROVED warrant; a release in flight stops.", "reason")


@warrant.command("extend-hold")
@click.argument("warrant_id")
@click.option("--reason", default="", help="Why, recorded in the audit log.")
@connection_options
@json_option
@friendly_errors
def extend_hold(warrant_id: str, reason: str, conn: Connection, as_json: bool) -> None:
    """Extend an approved preservation request's hold, once, by as long again (90 days by
    default: policies/instruments.yaml, clocks.preservation_days). Until the hold ends the
    frozen copy is kept; then it is purged (audited), and `wsg due` shows when."""
    with conn.open() as client:
        hold = client.extend_preservation(warrant_id, reason)
    data = {
        "warrant": hold.warrant_id,
        "frozen_at": hold.frozen_at.ToJsonString(),
        "expires_at": hold.expires_at.ToJsonString(),
        "records": hold.records,
        "content_sha256": hold.content_sha256,
        "extended_by": hold.extended_by or None,
    }
    if as_json:
        print_json(data)
    else:
        console.print(
            f"preservation {data['warrant']}: {data['records']} records kept until "
            f"{data['expires_at']} (extended by {data['extended_by']})"
        )


@warrant.command()
@click.argument("warrant_id")
@connection_options
@json_option
@friendly_errors
def show(warrant_id: str, conn: Connection, as_json: bool) -> None:
    """Show one warrant."""
    with conn.open() as client:
        _emit(client.get(warrant_id), as_json)


STATES = ["SUBMITTED", "APPROVED", "REJECTED", "REVOKED", "EXPIRED"]


@warrant.command("list")
@click.option("--state", type=click.Choice(STATES, case_sensitive=False), help="Only this state.")
@click.option("--limit", default=100, show_default=True, help="At most this many, newest first.")
@connection_options
@json_option
@friendly_errors
def list_(state: str | None, limit: int, conn: Connection, as_json: bool) -> None:
    """List warrants, newest first."""
    value = (
        pb.WarrantState.Value(f"WARRANT_STATE_{state.upper()}")
        if state
        else pb.WARRANT_STATE_UNSPECIFIED
    )
    with conn.open() as client:
        warrants = client.list(value, limit)
    if as_json:
        print_json([warrant_dict(w) for w in warrants])
    else:
        console.print(warrant_table(warrants))


@click.command()
@connection_options
@json_option
@friendly_errors
def due(conn: Connection, as_json: bool) -> None:
    """What is due and overdue: responses per instrument, emergency follow-ups, preservation
    holds, non-disclosure ends and expiries of the warrants you may see, soonest first."""
    with conn.open() as client:
        found = client.list_due().deadlines
    if as_json:
        print_json(
            [
                {
                    "warrant": d.warrant_id,
                    "case_number": d.case_number,
                    "instrument": d.instrument or None,
                    "clock": d.clock,
                    "due_at": d.due_at.ToJsonString(),
                    "status": d.status,
                }
                for d in found
            ]
        )
        return
    table = Table(title="deadlines")
    for column in ("due at", "status", "clock", "warrant", "case", "instrument"):
        table.add_column(column)
    for d in found:
        style = "bold red" if d.status == "overdue" else "yellow" if d.status == "due" else ""
        table.add_row(
            d.due_at.ToJsonString(),
            d.status,
            d.clock,
            d.warrant_id,
            d.case_number,
            d.instrument or "-",
            style=style,
        )
    console.print(table)
