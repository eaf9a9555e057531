"""`wsg store import|seed`: fill the embedded reference store."""

from __future__ import annotations

import pathlib

import click

from gateway.cli.common import console, friendly_errors, json_option, print_json
from gateway.paths import DataDir
from gateway.stores.reference import ReferenceStore
from gateway.stores.seed import seed as seed_store

DATA = click.option("--data", type=click.Path(path_type=pathlib.Path, file_okay=False),
                    default="wsg-data", show_default=True, help="The gateway's state directory.")


@click.group()
def store() -> None:
    """Load data into the embedded reference store (DIR/store.db)."""


def _report(counts: dict[str, int], as_json: bool, verb: str) -> None:
    if as_json:
        print_json({"imported": counts})
    else:
        console.print(f"{verb}: " + ", ".join(f"{n} {kind}" for kind, n in counts.items()))


@store.command("import")
@click.argument("file", type=click.Path(path_type=pathlib.Path, dir_okay=False, exists=True))
@DATA
@json_option
@friendly_errors
def import_(file: pathlib.Path, data: pathlib.Path, as_json: bool) -> None:
    """Load FILE (JSONL interchange format). A bad line rejects the whole file."""
    st = ReferenceStore.open(DataDir(data).create().store_db)
    try:
        _report(st.import_jsonl(file), as_json, "imported")
    finally:
        st.close()


@store.command()
@click.option("--accounts", default=200, show_default=True, help="How many accounts to generate.")
@click.option("--seed", "seed_value", default=1, show_default=True, help="Random seed (same seed, same data).")
@DATA
@json_option
@friendly_errors
def seed(accounts: int, seed_value: int, data: pathlib.Path, as_json: bool) -> None:
    """Generate a realistic data set (heavy-tailed groups and activity)."""
    if accounts < 2:
        raise ValueError("--accounts must be at least 2")
    st = ReferenceStore.open(DataDir(data).create().store_db)
    try:
        _report(seed_store(st, accounts, seed_value), as_json, "generated")
    finally:
        st.close()
