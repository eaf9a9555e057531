"""`wsg notices ...`: the user-notice outbox (pending, mark-sent) and deferral by court order."""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from gateway.api.v1 import wsg_pb2 as pb
from gateway.cli.common import (
    Connection,
    connection_options,
    console,
    friendly_errors,
    json_option,
    print_json,
)
from gateway.errors import InvalidArgument
from gateway.model import parse_time


@click.group()
def notices() -> None:
    """User notices: when a warrant that released records reaches the end of its
    non-disclosure period (at once where it has none), each target account is owed a notice
    of who asked, on what legal basis and instrument, for which categories and window, when
    data was released and how many records. The gateway queues them in an outbox; a delivery
    service (role notifier) reads it and marks each notice sent. Every step is audited.

    \b
    wsg notices pending --json                  # what is due and not yet sent
    wsg notices mark-sent n-0123456789abcdef    # after delivering it
    wsg notices defer w-... --until 2027-06-01T00:00:00Z --order-sha256 HEX   # reviewers
    """


def notice_dict(n: pb.Notice) -> dict[str, Any]:
    """A notice as `--json` prints it (docs/notices.md)."""
    return {
        "id": n.id,
        "warrant": n.warrant_id,
        "account": n.account,
        "authority": n.authority,
        "legal_basis": n.legal_basis,
        "instrument": n.instrument or None,
        "tier": n.tier or None,
        "categories": list(n.categories),
        "window": {"start": n.window.start.ToJsonString(), "end": n.window.end.ToJsonString()},
        "released_at": n.released_at.ToJsonString(),
        "records": n.records,
        "records_by_category": dict(sorted(n.records_by_category.items())),
        "due_at": n.due_at.ToJsonString(),
        "queued_at": n.queued_at.ToJsonString(),
        "sent_by": n.sent_by or None,
        "sent_at": n.sent_at.ToJsonString() if n.HasField("sent_at") else None,
    }


@notices.command()
@connection_options
@json_option
@friendly_errors
def pending(conn: Connection, as_json: bool) -> None:
    """Every notice due and not yet sent, oldest due first (notices that have become due are
    queued first, as the gateway's own sweep would)."""
    with conn.open() as client:
        found = client.pending_notices()
    if as_json:
        print_json([notice_dict(n) for n in found])
        return
    table = Table(title="pending notices")
    for column in ("id", "due at", "account", "warrant", "authority", "records"):
        table.add_column(column)
    for n in found:
        table.add_row(
            n.id, n.due_at.ToJsonString(), n.account, n.warrant_id, n.authority, str(n.records)
        )
    console.print(table)


@notices.command("mark-sent")
@click.argument("notice_id")
@connection_options
@json_option
@friendly_errors
def mark_sent(notice_id: str, conn: Connection, as_json: bool) -> None:
    """Record that notice NOTICE_ID was delivered (audited; it leaves `pending`). A notice is
    marked once; marking it again, or an id the outbox does not hold, is refused."""
    with conn.open() as client:
        notice = client.mark_notice_sent(notice_id)
    if as_json:
        print_json(notice_dict(notice))
    else:
        console.print(f"notice {notice.id} to {notice.account} marked sent by {notice.sent_by}")


@notices.command()
@click.argument("warrant_id")
@click.option("--until", required=True, help="The order's new end of non-disclosure (RFC 3339).")
@click.option(
    "--order-sha256", required=True, help="sha256 of the court order (64 lowercase hex digits)."
)
@connection_options
@json_option
@friendly_errors
def defer(warrant_id: str, until: str, order_sha256: str, conn: Connection, as_json: bool) -> None:
    """Defer WARRANT_ID's notices under a court order extending non-disclosure (reviewers):
    none is due before UNTIL; the deferral is audited with the order's hash."""
    try:
        when = parse_time(until)
    except ValueError:
        raise InvalidArgument(f"--until: {until!r} is not an RFC 3339 time") from None
    with conn.open() as client:
        reply = client.defer_notice(warrant_id, when, order_sha256)
    data = {
        "warrant": reply.warrant_id,
        "until": reply.until.ToJsonString(),
        "notices": reply.notices,
        "order_sha256": order_sha256,
    }
    if as_json:
        print_json(data)
    else:
        console.print(
            f"notices of {data['warrant']} deferred until {data['until']} "
            f"({data['notices']} queued moved)"
        )
