"""`wsg warrant ...`: submit, approve, reject, revoke, extend-hold, participation, show, list."""

from __future__ import annotations

import pathlib
from typing import Any

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


STEPS = ["notice", "attendance", "objection", "waiver"]


def _step_dict(s: pb.ParticipationStep) -> dict[str, Any]:
    return {
        "seq": s.seq,
        "step": s.step,
        "document_sha256": s.document_sha256,
        "note": s.note or None,
        "recorded_by": s.recorded_by,
        "recorded_at": s.recorded_at.ToJsonString(),
    }


def _participation_dict(p: pb.ListParticipationResponse) -> dict[str, Any]:
    return {
        "required": p.required,
        "complete": p.complete,
        "steps": [_step_dict(s) for s in p.steps],
    }


@warrant.command("participation")
@click.argument("warrant_id")
@click.option(
    "--step",
    required=True,
    type=click.Choice(STEPS),
    help="notice: given to the suspect or counsel (first); then attendance (they attended "
    "the selection), objection (the document records the objections and the decision on "
    "them) or waiver (they waived taking part).",
)
@click.option(
    "--document-sha256",
    "document_sha256",
    required=True,
    metavar="HEX",
    help="sha256 of the step's document, 64 hex digits (sha256sum FILE).",
)
@click.option("--note", default="", help="A note kept with the step and in the audit log.")
@connection_options
@json_option
@friendly_errors
def participation(
    warrant_id: str, step: str, document_sha256: str, note: str, conn: Connection, as_json: bool
) -> None:
    """Record a step of the participation of the person searched in selecting electronic
    information, for a warrant whose instrument requires it (policies/instruments.yaml,
    `participation: required`; shipped for kr.search_warrant).

    \b
    Until a notice and then an attendance, objection or waiver are recorded, a release of
    the warrant withholds message content (counted as participation_pending); other
    categories release as usual. Each step is audited (participation.recorded) with its
    document's hash; `wsg warrant show` lists the steps. Example:
      wsg warrant participation w-0123456789abcdef --step notice \\
          --document-sha256 "$(sha256sum notice.pdf | cut -d' ' -f1)"
    """
    with conn.open() as client:
        reply = client.record_participation(warrant_id, step, document_sha256, note)
    data = {**_step_dict(reply.step), "warrant": reply.step.warrant_id, "complete": reply.complete}
    if as_json:
        print_json(data)
        return
    state = "complete: releases include message content" if reply.complete else "still pending"
    console.print(
        f"warrant {data['warrant']}: {step} recorded (step {data['seq']}, document "
        f"{document_sha256.lower()}); participation {state}"
    )


@warrant.command()
@click.argument("warrant_id")
@connection_options
@json_option
@friendly_errors
def show(warrant_id: str, conn: Connection, as_json: bool) -> None:
    """Show one warrant, with its participation record where its instrument requires one."""
    with conn.open() as client:
        w = client.get(warrant_id)
        p = client.list_participation(warrant_id)
    shown = p.required or len(p.steps) > 0
    if as_json:
        data = warrant_dict(w)
        if shown:
            data["participation"] = _participation_dict(p)
        print_json(data)
        return
    show_warrant(w)
    if shown:
        table = Table(
            title="participation: "
            + ("complete" if p.complete else "pending (message content withheld)")
        )
        for column in ("#", "step", "document sha256", "recorded by", "at", "note"):
            table.add_column(column)
        for s in p.steps:
            table.add_row(
                str(s.seq),
                s.step,
                s.document_sha256,
                s.recorded_by,
                s.recorded_at.ToJsonString(),
                s.note,
            )
        console.print(table)


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
