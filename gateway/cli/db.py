"""`wsg db upgrade|status`: the PostgreSQL schema's versioned migrations."""

from __future__ import annotations

import click

from gateway.cli.common import (
    console,
    database_option,
    friendly_errors,
    json_option,
    print_json,
    require_url,
)
from gateway.db import migrate

DATABASE = database_option("The deployment's PostgreSQL: postgresql://user@host:port/db.")


@click.group("db")
def db_group() -> None:
    """The PostgreSQL schema: `wsg serve` applies missing migrations on start; these commands
    do it ahead of a deployment (e.g. a Kubernetes init container) or show what is missing."""


@db_group.command()
@DATABASE
@json_option
@friendly_errors
def upgrade(url: str | None, as_json: bool) -> None:
    """Apply every migration the database lacks (safe to run from several replicas at once)."""
    applied = migrate.upgrade(require_url(url))
    if as_json:
        print_json({"applied": applied})
    else:
        console.print(
            f"applied {len(applied)} migration(s)"
            + (": " + ", ".join(applied) if applied else "; up to date")
        )


@db_group.command()
@DATABASE
@json_option
@friendly_errors
def status(url: str | None, as_json: bool) -> None:
    """List migrations not yet applied; exit 1 if there are any."""
    todo = migrate.pending(require_url(url))
    if as_json:
        print_json({"pending": todo})
    else:
        console.print("up to date" if not todo else "pending: " + ", ".join(todo))
    if todo:
        raise SystemExit(1)
