"""`wsg policy show|load`: the Casbin rules replicas share in PostgreSQL.

On the embedded SQLite gateway the rules are the files in --policy-dir (edit them and restart).
On PostgreSQL they are rows of casbin_rule. `wsg policy load` replaces one policy's rules after
checking that they load, compile and keep the release guarantees, either through a running
replica (`--server`, as a policy_admin: the change is audited with who and why) or straight in
the database (`--database`, for operators without a running gateway). Every replica picks the
change up within seconds (LISTEN/NOTIFY, with polling as a fallback), without a restart.
"""

from __future__ import annotations

import pathlib

import click

from gateway import policy_table
from gateway.cli.common import (
    console,
    database_option,
    friendly_errors,
    json_option,
    online,
    online_client,
    open_database,
    print_json,
)
from gateway.live_policy import check_rules
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


DATABASE = database_option("Read or write the rules in this PostgreSQL database directly "
                           "(postgresql://…; its schema is migrated first).")


DATA = click.option("--data", type=click.Path(path_type=pathlib.Path, file_okay=False),
                    default="wsg-data", show_default=True,
                    help="With --server: where your client certificate is (DATA/pki).")


@policy.command()
@DATABASE
@online
@DATA
@POLICY
@json_option
@friendly_errors
def show(name: str, url: str | None, server: str | None, identity: str | None, insecure: bool,
         data: pathlib.Path, as_json: bool) -> None:
    """Print the rules in force (CSV, the format of policies/*.csv) and the table version,
    from a running gateway (--server) or the database (--database)."""
    if server:
        with online_client(server, identity, insecure, data) as client:
            rules = client.get_policy(name)
        text, version = rules.rules, rules.table_version
    else:
        with open_database(url, "wsg-policy-cli", upgrade=True) as database:
            snap = policy_table.snapshot(database)
        text, version = snap.texts[name], snap.version
    if as_json:
        print_json({"policy": name, "table_version": version, "rules": text})
    else:
        click.echo(f"# {name} policy, table version {version}")
        click.echo(text, nl=False)


@policy.command()
@click.argument("file", type=click.Path(path_type=pathlib.Path, dir_okay=False, exists=True))
@DATABASE
@online
@DATA
@POLICY
@POLICY_DIR
@click.option("--reason", default="", help="Why (kept in the audit entry, with --server).")
@json_option
@friendly_errors
def load(file: pathlib.Path, name: str, policy_dir: pathlib.Path, url: str | None,
         server: str | None, identity: str | None, insecure: bool, data: pathlib.Path,
         reason: str, as_json: bool) -> None:
    """Replace the NAME policy's rules with FILE, after checking they load and compile.

    Rules that would not load are refused and nothing is written. With --server the replica
    checks them again and audits the change (policy.changed: who, why, the rules' sha256)."""
    text = file.read_text()
    if server:
        with online_client(server, identity, insecure, data) as client:
            rules = client.set_policy(name, text, reason)
        count = len(rules.rules.splitlines())
        if as_json:
            print_json({"policy": name, "rules": count, "table_version": rules.table_version,
                        "policy_version": rules.policy_version})
        else:
            console.print(f"{name} policy: {count} rules in force on {server} (table version "
                          f"{rules.table_version}); the other replicas switch within seconds")
        return
    canonical = check_rules(name, text, policy_dir, str(file))
    with open_database(url, "wsg-policy-cli", upgrade=True) as database:
        count = policy_table.replace(database, name, canonical, str(file))
        version = policy_table.version(database)
    if as_json:
        print_json({"policy": name, "rules": count, "table_version": version})
    else:
        console.print(f"{name} policy: {count} rules loaded (table version {version}); "
                      "replicas switch within seconds")
