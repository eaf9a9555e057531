"""`wsg db upgrade|status`: the PostgreSQL schema's versioned migrations."""

from __future__ import annotations

import click

from gateway import db as database
from gateway.cli.common import console, fail, friendly_errors, json_option, print_json

DATABASE = click.option(
    "--database", envvar="WSG_DATABASE", metavar="URL",
    help="The deployment's PostgreSQL: postgresql://user@host:port/db (env WSG_DATABASE).")


def require_url(url: str | None) -> str:
    if not url:
        fail("no database given: pass --database postgresql://… or set WSG_DATABASE", 2)
    if not url.startswith(("postgresql://", "postgres://")):
        fail(f"--database must be a postgresql:// URL, not {database.redact(url)[:80]!r}", 2)
    return url  # type: ignore[return-value]


@click.group("db")
def db_group() -> None:
    """The PostgreSQL schema: `wsg serve` applies missing migrations on start; these commands
    do it ahead of a deployment (e.g. a Kubernetes init container) or show what is missing."""


@db_group.command()
@DATABASE
@json_option
@friendly_errors
def upgrade(as_json: bool = False, **kw: str | None) -> None:
    """Apply every migration the database lacks (safe to run from several replicas at once)."""
    url = require_url(kw.get("database"))
    applied = database.upgrade(url)
    if as_json:
        print_json({"applied": applied})
    else:
        console.print(f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied)
                                                                 if applied else "; up to date"))


@db_group.command()
@DATABASE
@json_option
@friendly_errors
def status(as_json: bool = False, **kw: str | None) -> None:
    """List migrations not yet applied; exit 1 if there are any."""
    url = require_url(kw.get("database"))
    todo = database.pending(url)
    if as_json:
        print_json({"pending": todo})
    else:
        console.print("up to date" if not todo else "pending: " + ", ".join(todo))
    if todo:
        raise SystemExit(1)
