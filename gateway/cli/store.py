"""`wsg store import|seed`: fill the reference store (DIR/store.db, or PostgreSQL); `wsg store
find|stats`: ask a running gateway what its store holds (audited, by the API policy)."""

from __future__ import annotations

import contextlib
import pathlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import click

from gateway.cli.common import (
    Connection,
    connection_options,
    console,
    database_option,
    friendly_errors,
    json_option,
    open_database,
    print_json,
)
from gateway.datadir import DataDir
from gateway.stores.reference.seed import seed as seed_store
from gateway.stores.reference.sqlite import ReferenceStore

if TYPE_CHECKING:
    from gateway.stores.reference.postgres import PgReferenceStore

DATA = click.option(
    "--data",
    type=click.Path(path_type=pathlib.Path, file_okay=False),
    default="wsg-data",
    show_default=True,
    help="The gateway's state directory (its store.db; unused with --database).",
)
DATABASE = database_option(
    "Load into the reference store in this PostgreSQL database instead "
    "(postgresql://…); its schema is migrated first."
)


@click.group()
def store() -> None:
    """Fill the reference store (import, seed: DIR/store.db, or PostgreSQL with --database), or
    ask a running gateway about its store (find, stats: through the API, audited)."""


@contextlib.contextmanager
def _open(data: pathlib.Path, url: str | None) -> Iterator[ReferenceStore | PgReferenceStore]:
    """The store to fill: PostgreSQL (schema upgraded first, as `wsg serve` would) or SQLite."""
    if url is None:
        st = ReferenceStore.open(DataDir(data).create().store_db)
        try:
            yield st
        finally:
            st.close()
        return
    from gateway.stores.reference.postgres import PgReferenceStore

    with open_database(url, "wsg-store", upgrade=True) as database:
        pg = PgReferenceStore(database)
        try:
            yield pg
        finally:
            pg.close()


def _report(counts: dict[str, int], as_json: bool, verb: str) -> None:
    if as_json:
        print_json({"imported": counts})
    else:
        console.print(f"{verb}: " + ", ".join(f"{n} {kind}" for kind, n in counts.items()))


@store.command("import")
@click.argument("file", type=click.Path(path_type=pathlib.Path, dir_okay=False, exists=True))
@DATA
@DATABASE
@json_option
@friendly_errors
def import_(file: pathlib.Path, data: pathlib.Path, url: str | None, as_json: bool) -> None:
    """Load FILE (JSONL interchange format). A bad line rejects the whole file."""
    with _open(data, url) as st:
        _report(st.import_jsonl(file), as_json, "imported")


@store.command()
@click.option("--accounts", default=200, show_default=True, help="How many accounts to generate.")
@click.option(
    "--seed", "seed_value", default=1, show_default=True, help="Random seed (same seed, same data)."
)
@DATA
@DATABASE
@json_option
@friendly_errors
def seed(
    accounts: int, seed_value: int, data: pathlib.Path, url: str | None, as_json: bool
) -> None:
    """Generate a realistic data set (heavy-tailed groups and activity)."""
    if accounts < 2:
        raise ValueError("--accounts must be at least 2")
    with _open(data, url) as st:
        _report(seed_store(st, accounts, seed_value), as_json, "generated")


@store.command()
@click.argument("target")
@connection_options
@json_option
@friendly_errors
def find(target: str, conn: Connection, as_json: bool) -> None:
    """Which accounts TARGET names: account:ID, phone:+E164, email:ADDRESS or @user:server.

    Asks the running gateway (officers have no direct access to the store): the API policy
    decides, and every look-up is an audit entry (store.searched). A warrant target must name
    exactly one account."""
    with conn.open() as client:
        found = client.find_accounts(target)
    if as_json:
        print_json({"target": target, "accounts": list(found)})
    elif not found:
        console.print(f"{target}: no account")
    else:
        console.print(f"{target}: " + ", ".join(found))


@store.command()
@connection_options
@json_option
@friendly_errors
def stats(conn: Connection, as_json: bool) -> None:
    """What the gateway's store holds: records of each kind, and its messages' time range.

    Asks the running gateway (audited as store.inspected): pick a warrant's window from it."""
    with conn.open() as client:
        reply = client.store_stats()
    span = (
        [reply.earliest_message.ToJsonString(), reply.latest_message.ToJsonString()]
        if reply.HasField("earliest_message")
        else None
    )
    if as_json:
        print_json({"counts": dict(reply.counts), "messages": span})
        return
    for kind, n in sorted(reply.counts.items()):
        console.print(f"{kind:<12} {n:>10}")
    console.print("messages     " + (f"{span[0]} → {span[1]}" if span else "none"))
