"""What every CLI command shares: connection options, JSON/human output, one-line errors."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import pathlib
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NoReturn, TypeVar, cast

import click
from google.protobuf.json_format import MessageToDict
from rich.console import Console
from rich.table import Table

from gateway.api.client import Client, ClientError
from gateway.api.v1 import wsg_pb2 as pb
from gateway.errors import GatewayError

F = TypeVar("F", bound=Callable[..., Any])
console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"wsg: error: {message}", err=True)
    sys.exit(code)


def friendly_errors(func: F) -> F:
    """Every known failure becomes one line on stderr and a non-zero exit, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ClientError as exc:
            fail(f"{exc.message} [{exc.code.name}]", 1)
        except GatewayError as exc:
            fail(exc.message, 2)
        except (OSError, ValueError) as exc:
            fail(str(exc), 2)

    return cast(F, wrapper)  # functools.wraps keeps the signature; mypy cannot see it


@dataclasses.dataclass(frozen=True)
class Connection:
    """Where and as whom a command talks to the gateway."""

    server: str
    identity: str
    insecure: bool
    data: pathlib.Path

    def open(self) -> Client:
        return Client(self.server, self.identity, self.insecure, data=self.data)


def connection_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--server, --identity, --data, --insecure, handed to the command as one `conn`."""

    @functools.wraps(func)
    def wrapper(
        *args: Any, server: str, identity: str, insecure: bool, data: pathlib.Path, **kwargs: Any
    ) -> Any:
        return func(*args, conn=Connection(server, identity, insecure, data), **kwargs)

    command: Callable[..., Any] = click.option(
        "--insecure",
        is_flag=True,
        envvar="WSG_INSECURE",
        help="Development mode without TLS, loopback only; the server must run with it too.",
    )(wrapper)
    command = click.option(
        "--data",
        envvar="WSG_DATA",
        default="wsg-data",
        show_default=True,
        type=click.Path(path_type=pathlib.Path, file_okay=False),
        help="Where `wsg init` put the CA and your certificate (DIR/pki; env WSG_DATA).",
    )(command)
    command = click.option(
        "--identity",
        envvar="WSG_IDENTITY",
        required=True,
        metavar="NAME",
        help="The principal you act as: your client certificate's name (env WSG_IDENTITY).",
    )(command)
    return click.option(
        "--server",
        envvar="WSG_SERVER",
        default="127.0.0.1:50051",
        show_default=True,
        metavar="HOST:PORT",
        help="The gateway to talk to (env WSG_SERVER).",
    )(command)


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(func)


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False))


def warrant_dict(w: pb.Warrant) -> dict[str, Any]:
    data = MessageToDict(w, preserving_proto_field_name=True)
    data["state"] = pb.WarrantState.Name(w.state).removeprefix("WARRANT_STATE_")
    return data


def state_name(w: pb.Warrant) -> str:
    return pb.WarrantState.Name(w.state).removeprefix("WARRANT_STATE_")


def warrant_table(warrants: list[pb.Warrant]) -> Table:
    table = Table(title=f"{len(warrants)} warrant(s)")
    for col in (
        "id",
        "state",
        "case",
        "targets",
        "categories",
        "window",
        "expires",
        "submitted by",
    ):
        # An id is what the next command needs: never cut or wrapped, however narrow.
        table.add_column(col, no_wrap=True, min_width=19) if col == "id" else table.add_column(col)
    for w in warrants:
        s = w.spec
        table.add_row(
            w.id,
            state_name(w),
            s.case_number,
            ", ".join(w.target_accounts),
            ", ".join(s.categories),
            f"{s.window.start.ToJsonString()} → {s.window.end.ToJsonString()}",
            s.expires_at.ToJsonString(),
            w.submitted_by,
        )
    return table


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"


def review_rows(w: pb.Warrant) -> list[tuple[str, str]]:
    """The overbreadth review's figures as `wsg warrant show` prints them."""
    if not w.HasField("review"):
        return []
    r = w.review
    rows = [
        ("in scope", _counts(r.in_scope)),
        ("would release", _counts(r.released)),
        ("would withhold", _counts(r.withheld)),
        (
            "third parties",
            f"{r.third_parties} touched, {r.pseudonymized_parties} of them as pseudonyms",
        ),
        ("group rooms", str(r.group_rooms)),
        ("share withheld", f"{r.share_withheld:.1%}"),
        (
            "reviewers needed",
            "2: " + "; ".join(r.second_review) if r.second_review else "1",
        ),
    ]
    if w.first_approved_by:
        rows.append(("first approval", w.first_approved_by))
    return rows


def show_warrant(w: pb.Warrant) -> None:
    s = w.spec
    table = Table(show_header=False, title=f"warrant {w.id}")
    table.add_column("field", style="bold")
    table.add_column("value")
    rows = [
        ("state", state_name(w)),
        ("case number", s.case_number),
        ("authority", s.authority),
        ("legal basis", s.legal_basis),
        (
            "targets",
            ", ".join(f"{t} → {a}" for t, a in zip(s.targets, w.target_accounts, strict=False)),
        ),
        ("window", f"[{s.window.start.ToJsonString()}, {s.window.end.ToJsonString()})"),
        ("categories", ", ".join(s.categories)),
        ("received direct", "yes" if s.include_received_direct else "no"),
        ("expires", s.expires_at.ToJsonString()),
        ("submitted", f"{w.submitted_by} at {w.submitted_at.ToJsonString()}"),
    ]
    if w.decided_by:
        rows.append(("decided", f"{w.decided_by} at {w.decided_at.ToJsonString()}"))
    if w.revoked_by:
        rows.append(("revoked", f"{w.revoked_by} at {w.revoked_at.ToJsonString()}"))
    if w.reason:
        rows.append(("reason / note", w.reason))
    rows.insert(1, ("instrument", s.instrument or "(none: a search warrant)"))
    rows += review_rows(w)
    for k, v in rows:
        table.add_row(k, v)
    console.print(table)


def online(func: Callable[..., Any]) -> Callable[..., Any]:
    """--server: ask a running gateway instead of reading the data directory."""
    func = click.option(
        "--insecure",
        is_flag=True,
        envvar="WSG_INSECURE",
        help="Development mode without TLS, loopback only.",
    )(func)
    func = click.option(
        "--identity",
        envvar="WSG_IDENTITY",
        metavar="NAME",
        help="The principal you act as with --server (env WSG_IDENTITY).",
    )(func)
    return click.option(
        "--server", metavar="HOST:PORT", help="Ask this running gateway instead of reading --data."
    )(func)


def online_client(server: str, identity: str | None, insecure: bool, data: pathlib.Path) -> Client:
    """A client for --server; with mutual TLS its certificate is found under --data."""
    if not identity:
        raise ValueError("--server needs --identity NAME (or WSG_IDENTITY)")
    return Client(server, identity, insecure, data=data)


def database_option(help_text: str) -> Callable[[F], F]:
    """--database URL (env WSG_DATABASE), handed to the command as `url`."""
    return click.option(
        "--database",
        "url",
        envvar="WSG_DATABASE",
        metavar="URL",
        help=help_text + " [WSG_DATABASE]",
    )


def require_url(url: str | None) -> str:
    """A postgresql:// URL, or exit 2 with one line saying what is missing."""
    from gateway.db.postgres import redact

    if not url:
        fail("no database given: pass --database postgresql://… or set WSG_DATABASE", 2)
    if not url.startswith(("postgresql://", "postgres://")):
        fail(f"--database must be a postgresql:// URL, not {redact(url)[:80]!r}", 2)
    return url


@contextlib.contextmanager
def open_database(url: str | None, name: str, upgrade: bool = False) -> Iterator[Any]:
    """A small pool on the --database URL (schema migrated first if `upgrade`), closed after."""
    from gateway.db import migrate
    from gateway.db.postgres import Database

    url = require_url(url)
    if upgrade:
        migrate.upgrade(url)
    database = Database(url, pool_size=2, name=name)
    try:
        yield database
    finally:
        database.close()
