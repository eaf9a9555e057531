"""`wsg roles add|remove|list`: who holds which role, in DIR/roles.json.

The file is the data directory's (like the keys), edited here one binding at a time and
replaced atomically. A running gateway notices the change within its next call, checks the
whole file and puts it in force without a restart, with a `roles.loaded` audit entry (the
file's sha256 and the bindings added and removed); a file that does not check is a
`roles.refused` entry and the last good bindings stay. `wsg init` never changes an existing
principal's roles: this is the command that does.
"""

from __future__ import annotations

import pathlib

import click

from gateway.cli.common import console, friendly_errors, json_option, print_json
from gateway.datadir import DataDir
from gateway.identity.roles import ROLES, change_role, read_roles, roles_file

DATA = click.option(
    "--data",
    type=click.Path(path_type=pathlib.Path, file_okay=False),
    default="wsg-data",
    show_default=True,
    help="The data directory whose DIR/roles.json to change.",
)


@click.group()
def roles() -> None:
    """Add, remove and list principals' roles (a running gateway applies a change at once,
    audited as roles.loaded)."""


def _change(data: pathlib.Path, principal: str, role: str, grant: bool, as_json: bool) -> None:
    path = roles_file(DataDir(data).create().root)
    changed, now = change_role(path, principal, role, grant)
    held = list(now.get(principal, ()))
    if as_json:
        print_json({"principal": principal, "roles": held, "changed": changed, "file": str(path)})
        return
    verb = "added" if grant else "removed"
    if not changed:
        console.print(
            f"{principal} {'already holds' if grant else 'does not hold'} {role}; {path} unchanged"
        )
        return
    console.print(
        f"{verb} {role} {'to' if grant else 'from'} {principal} in {path} (now: "
        f"{', '.join(held) or 'no role'}); a running gateway applies it at its next call and "
        "audits it (roles.loaded)"
    )


@roles.command()
@click.argument("principal")
@click.argument("role", type=click.Choice(ROLES))
@DATA
@json_option
@friendly_errors
def add(principal: str, role: str, data: pathlib.Path, as_json: bool) -> None:
    """Give PRINCIPAL the role ROLE."""
    _change(data, principal, role, True, as_json)


@roles.command()
@click.argument("principal")
@click.argument("role", type=click.Choice(ROLES))
@DATA
@json_option
@friendly_errors
def remove(principal: str, role: str, data: pathlib.Path, as_json: bool) -> None:
    """Take the role ROLE from PRINCIPAL."""
    _change(data, principal, role, False, as_json)


@roles.command(name="list")
@DATA
@json_option
@friendly_errors
def list_roles(data: pathlib.Path, as_json: bool) -> None:
    """Every principal and the roles it holds."""
    bindings = read_roles(roles_file(data))
    if as_json:
        print_json({name: list(held) for name, held in sorted(bindings.items())})
        return
    if not bindings:
        console.print(f"no roles in {roles_file(data)}")
    for name, held in sorted(bindings.items()):
        console.print(f"{name}: {', '.join(held)}")
