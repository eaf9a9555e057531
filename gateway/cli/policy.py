"""`wsg policy show|propose|approve|pending|load`: the Casbin rules replicas share in PostgreSQL.

On the embedded SQLite gateway the rules are the files in --policy-dir (edit them and restart).
On PostgreSQL they are rows of casbin_rule, changed by two policy administrators through a
running replica: one proposes (`wsg policy propose FILE`, checked as a replica would load it;
nothing changes yet), another approves (`wsg policy approve ID`); every step and every refusal
is audited. Every replica picks the change up within seconds (LISTEN/NOTIFY, with polling as a
fallback), without a restart. `wsg policy load --database` writes the table directly, for an
operator holding the database's credentials (outside the gateway's two-person rule: the
replicas log the new version as policy.loaded, with no proposal).
"""

from __future__ import annotations

import datetime as dt
import pathlib

import click

from gateway.api.rpcs import RPCS
from gateway.api.v1 import wsg_pb2 as pb
from gateway.backends.postgres import rules as policy_table
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
from gateway.model import format_time
from gateway.policy.live import check_rules
from gateway.policy.rules import POLICY_NAMES
from gateway.settings import DEFAULT_POLICY_DIR

POLICY = click.option(
    "--policy",
    "name",
    type=click.Choice(sorted(POLICY_NAMES)),
    default="release",
    show_default=True,
    help="release: what leaves per record; api: who may call which RPC.",
)
POLICY_DIR = click.option(
    "--policy-dir",
    type=click.Path(path_type=pathlib.Path, file_okay=False),
    default=str(DEFAULT_POLICY_DIR),
    show_default=True,
    help="Where the Casbin models are (to check new rules against).",
)


@click.group()
def policy() -> None:
    """Show or replace the policy rules shared by replicas (PostgreSQL)."""


DATABASE = database_option(
    "Read or write the rules in this PostgreSQL database directly "
    "(postgresql://…; its schema is migrated first)."
)


DATA = click.option(
    "--data",
    type=click.Path(path_type=pathlib.Path, file_okay=False),
    default="wsg-data",
    show_default=True,
    help="With --server: where your client certificate is (DATA/pki).",
)


@policy.command()
@DATABASE
@online
@DATA
@POLICY
@json_option
@friendly_errors
def show(
    name: str,
    url: str | None,
    server: str | None,
    identity: str | None,
    insecure: bool,
    data: pathlib.Path,
    as_json: bool,
) -> None:
    """Print the rules in force (CSV, the format of policies/*.csv) and the table version,
    from a running gateway (--server) or the database (--database)."""
    version: int | None
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


def _rules_file(file: pathlib.Path) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{file}: cannot read it as UTF-8 text: {exc}") from None


def _proposal_dict(p: pb.PolicyProposal) -> dict[str, object]:
    return {
        "id": p.id,
        "policy": p.name,
        "rules_sha256": p.rules_sha256,
        "base_rules_sha256": p.base_rules_sha256,
        "reason": p.reason,
        "proposed_by": p.proposed_by,
        "proposed_at": format_time(p.proposed_at.ToDatetime(tzinfo=dt.UTC)),
        "expires_at": format_time(p.expires_at.ToDatetime(tzinfo=dt.UTC)),
        "rules": p.rules,
    }


@policy.command()
@click.argument("file", type=click.Path(path_type=pathlib.Path, dir_okay=False, exists=True))
@online
@DATA
@POLICY
@click.option("--reason", default="", help="Why (kept in the audit entries).")
@json_option
@friendly_errors
def propose(
    file: pathlib.Path,
    name: str,
    server: str | None,
    identity: str | None,
    insecure: bool,
    data: pathlib.Path,
    reason: str,
    as_json: bool,
) -> None:
    """Propose FILE as the NAME policy's rules; another policy_admin approves it.

    The replica checks that the rules load, compile and keep the release guarantees; nothing
    changes until a different policy administrator runs `wsg policy approve ID` (before the
    proposal expires, and while the rules it replaces are still in force)."""
    text = _rules_file(file)
    if not server:
        raise ValueError("a policy change goes through a running gateway: give --server HOST:PORT")
    with online_client(server, identity, insecure, data) as client:
        made = client.propose_policy(name, text, reason)
    if as_json:
        print_json(_proposal_dict(made))
    else:
        console.print(
            f"proposed {made.id}: {name} policy, {len(made.rules.splitlines())} rules; another "
            f"policy_admin approves it with `wsg policy approve {made.id}` before "
            f"{format_time(made.expires_at.ToDatetime(tzinfo=dt.UTC))}"
        )


@policy.command()
@click.argument("proposal_id", metavar="ID")
@online
@DATA
@json_option
@friendly_errors
def approve(
    proposal_id: str,
    server: str | None,
    identity: str | None,
    insecure: bool,
    data: pathlib.Path,
    as_json: bool,
) -> None:
    """Approve another policy administrator's proposal ID: its rules go in force."""
    if not server:
        raise ValueError("a policy change goes through a running gateway: give --server HOST:PORT")
    with online_client(server, identity, insecure, data) as client:
        rules = client.approve_policy(proposal_id)
    count = len(rules.rules.splitlines())
    if as_json:
        print_json(
            {
                "proposal": proposal_id,
                "policy": rules.name,
                "rules": count,
                "table_version": rules.table_version,
                "policy_version": rules.policy_version,
            }
        )
    else:
        console.print(
            f"{rules.name} policy: {count} rules in force on {server} (table version "
            f"{rules.table_version}); the other replicas switch within seconds"
        )


@policy.command()
@online
@DATA
@json_option
@friendly_errors
def pending(
    server: str | None,
    identity: str | None,
    insecure: bool,
    data: pathlib.Path,
    as_json: bool,
) -> None:
    """The proposals waiting for a policy administrator's approval."""
    if not server:
        raise ValueError("proposals are kept by the gateway: give --server HOST:PORT")
    with online_client(server, identity, insecure, data) as client:
        proposals = list(client.policy_proposals().proposals)
    if as_json:
        print_json({"proposals": [_proposal_dict(p) for p in proposals]})
        return
    if not proposals:
        console.print("no policy proposals waiting")
    for p in proposals:
        console.print(
            f"{p.id}  {p.name}  by {p.proposed_by}  expires "
            f"{format_time(p.expires_at.ToDatetime(tzinfo=dt.UTC))}  {p.reason}"
        )


@policy.command()
@click.argument("file", type=click.Path(path_type=pathlib.Path, dir_okay=False, exists=True))
@DATABASE
@POLICY
@POLICY_DIR
@json_option
@friendly_errors
def load(
    file: pathlib.Path,
    name: str,
    policy_dir: pathlib.Path,
    url: str | None,
    as_json: bool,
) -> None:
    """Write FILE as the NAME policy's rules straight into the database, after checking they
    load and compile (for an operator with the database's credentials; through a gateway a
    change is `wsg policy propose` and `wsg policy approve`, by two policy administrators)."""
    text = _rules_file(file)
    canonical = check_rules(name, text, policy_dir, RPCS, str(file))
    with open_database(url, "wsg-policy-cli", upgrade=True) as database:
        count = policy_table.replace(database, name, canonical, str(file))
        version = policy_table.version(database)
    if as_json:
        print_json({"policy": name, "rules": count, "table_version": version})
    else:
        console.print(
            f"{name} policy: {count} rules loaded (table version {version}); "
            "replicas switch within seconds"
        )
