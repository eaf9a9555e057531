"""`wsg policy show|load`: the Casbin rules replicas share in PostgreSQL.

On the embedded SQLite gateway the rules are the files in --policy-dir (edit them and restart).
On PostgreSQL they are rows of casbin_rule: `wsg policy load` replaces one policy's rules after
checking that they load and compile exactly as a gateway would load them; every replica picks the
change up within seconds (LISTEN/NOTIFY, with polling as a fallback), without a restart.
"""

from __future__ import annotations

import pathlib

import click

from gateway import db as database
from gateway import policy_table
from gateway.api_policy import ApiPolicy
from gateway.cli.common import console, friendly_errors, json_option, print_json
from gateway.cli.db import DATABASE, require_url
from gateway.policy import ReleasePolicy
from gateway.settings import DEFAULT_POLICY_DIR

POLICY = click.option("--policy", "name", type=click.Choice(sorted(policy_table.POLICY_NAMES)),
                      default="release", show_default=True,
                      help="release: what leaves per record; api: who may call which RPC.")
POLICY_DIR = click.option("--policy-dir", type=click.Path(path_type=pathlib.Path, file_okay=False),
                          default=str(DEFAULT_POLICY_DIR), show_default=True,
                          help="Where the Casbin models are (to check new rules against).")


@click.group()
def policy() -> None:
    """Show or replace the policy rules shared by replicas (PostgreSQL)."""


def _open(url: str | None) -> database.Database:
    url = require_url(url)
    database.upgrade(url)
    return database.Database(url, pool_size=2, name="wsg-policy-cli")


@policy.command()
@DATABASE
@POLICY
@json_option
@friendly_errors
def show(name: str, as_json: bool, **kw: str | None) -> None:
    """Print the rules in force (CSV, the format of policies/*.csv) and the table version."""
    db = _open(kw.get("database"))
    try:
        snap = policy_table.snapshot(db)
    finally:
        db.close()
    if as_json:
        print_json({"policy": name, "table_version": snap.version, "rules": snap.texts[name]})
    else:
        click.echo(f"# {name} policy, table version {snap.version}")
        click.echo(snap.texts[name], nl=False)


@policy.command()
@click.argument("file", type=click.Path(path_type=pathlib.Path, dir_okay=False, exists=True))
@DATABASE
@POLICY
@POLICY_DIR
@json_option
@friendly_errors
def load(file: pathlib.Path, name: str, policy_dir: pathlib.Path, as_json: bool,
         **kw: str | None) -> None:
    """Replace the NAME policy's rules with FILE, after checking they load and compile.

    Rules that would not load are refused here and nothing is written."""
    text = file.read_text()
    canonical = policy_table.rules_text(policy_table.parse_rules(text, str(file)))
    if name == "release":
        ReleasePolicy.load(policy_dir, canonical, str(file))
    else:
        ApiPolicy.load(policy_dir, canonical)
    db = _open(kw.get("database"))
    try:
        count = policy_table.replace(db, name, text, str(file))
        version = policy_table.version(db)
    finally:
        db.close()
    if as_json:
        print_json({"policy": name, "rules": count, "table_version": version})
    else:
        console.print(f"{name} policy: {count} rules loaded (table version {version}); "
                      "replicas switch within seconds")
