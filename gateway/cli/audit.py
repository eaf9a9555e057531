"""`wsg audit tail|verify|key|checkpoint|proof|consistency|evidence`: read and check the audit log.

Everything works offline on a data directory (or an auditor's copy of the log plus the verifier
key); tail, key, checkpoint, proof and consistency can also ask a running gateway (`--server`), so
the two answers can be compared; verify and evidence never do, since they check the gateway.
"""

from __future__ import annotations

import collections
import json
import pathlib
from collections.abc import Callable, Iterator
from typing import Any

import click

from gateway.api.v1 import wsg_pb2 as pb
from gateway.audit.evidence import EvidenceError, verify_package
from gateway.audit.files import read_entries, read_lines
from gateway.audit.log_copy import LogCopy
from gateway.audit.notes import NoteError, NoteVerifier
from gateway.audit.proofs import consistency_json, inclusion_json
from gateway.audit.verify import verify_lines
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
from gateway.datadir import DataDir

DATA = click.option(
    "--data",
    type=click.Path(path_type=pathlib.Path, file_okay=False),
    default="wsg-data",
    show_default=True,
    help="The gateway's state directory (or a copy of it).",
)


def _served_or_stored(
    server: str | None,
    identity: str | None,
    insecure: bool,
    data: pathlib.Path,
    ask: Callable[[Any], str],
    path: pathlib.Path,
    missing: str,
) -> str:
    """A running gateway's answer with --server, else the file in the data directory."""
    if server:
        with online_client(server, identity, insecure, data) as client:
            return ask(client)
    if not path.exists():
        raise ValueError(missing.replace("{path}", str(path)))
    return path.read_text()


def _verifier(data: pathlib.Path, key: str | None) -> NoteVerifier:
    """The verifier key: a key string, a file holding one, or DIR/audit.vkey."""
    if key and not pathlib.Path(key).exists():
        text = key
    else:
        path = pathlib.Path(key) if key else DataDir(data).verifier_key
        if not path.exists():
            raise ValueError(
                f"no verifier key at {path}; pass --key NAME+ID+KEY or a file holding it"
            )
        text = path.read_text().strip()
    try:
        return NoteVerifier.from_key(text)
    except NoteError as exc:
        raise ValueError(f"verifier key: {exc}") from None


def _copy(data: pathlib.Path, key: str | None) -> LogCopy:
    dirs = DataDir(data)
    return LogCopy(dirs.audit_log, dirs.checkpoint, [_verifier(data, key)])


def _print_proof(result: dict[str, Any], heading: str, as_json: bool) -> None:
    """A proof in docs/architecture.md's JSON shape, or a heading and one base64 hash per line."""
    if as_json:
        print_json(result)
        return
    click.echo(heading)
    for h in result["proof"]:
        click.echo(f"  {h}")


DATABASE = database_option(
    "Read the log (and every checkpoint replicas signed) from this PostgreSQL database instead "
    "of DIR/audit.log."
)


def _table_lines(url: str | None) -> list[bytes]:
    """The log's lines from the PostgreSQL audit_log table."""
    from gateway.backends.postgres.audit_log import read_lines as read_table

    with open_database(url, "wsg-audit-cli") as database:
        return list(read_table(database))


def _table_log(url: str | None) -> tuple[list[bytes], list[tuple[str, str]]]:
    """The log's lines and every signed checkpoint, from the PostgreSQL tables."""
    from gateway.backends.postgres.audit_log import read_lines as read_table
    from gateway.backends.postgres.checkpoints import PgCheckpoints

    with open_database(url, "wsg-audit-cli") as database:
        lines = list(read_table(database))
        notes = PgCheckpoints(database).all()
    return lines, [(f"checkpoint signed at size {n.splitlines()[1]}", n) for n in notes]


KEY = click.option(
    "--key",
    metavar="KEY|FILE",
    help="Verifier key (note format) or a file with it; default DIR/audit.vkey.",
)


@click.group()
def audit() -> None:
    """Read and check the audit log (DIR/audit.log): a transparency log auditors can verify.

    \b
    Hand an auditor three things and any RFC 6962 / C2SP verifier can check the log:
      wsg audit key                      the verifier key (note format)
      wsg audit checkpoint               the latest signed checkpoint (C2SP signed note)
      wsg audit proof --index N --json   inclusion of entry N in that checkpoint
    Keep a checkpoint; later, `wsg audit verify --checkpoint FILE` proves the log only grew.
    """


@audit.command()
@click.option("-n", "--lines", default=20, show_default=True, help="How many of the last entries.")
@click.option("--warrant", help="Only entries about this warrant.")
@DATA
@DATABASE
@online
@json_option
@friendly_errors
def tail(
    lines: int,
    warrant: str | None,
    data: pathlib.Path,
    url: str | None,
    server: str | None,
    identity: str | None,
    insecure: bool,
    as_json: bool,
) -> None:
    """Show the last entries of the audit log: of the data directory, the shared table
    (--database), or those a running gateway lets you read (--server: auditors all, others
    their own and their warrants')."""
    found: Iterator[dict[str, Any]]
    if server:
        request = pb.ListEntriesRequest(warrant_id=warrant or "")
        with online_client(server, identity, insecure, data) as client:
            found = iter([json.loads(e.line) for e in client.entries(request)])
    elif url:
        found = (json.loads(line) for line in _table_lines(url))
    else:
        path = DataDir(data).audit_log
        if not path.exists():
            raise ValueError(f"no audit log at {path}")
        found = read_entries(path)
    entries = (e for e in found if not warrant or e.get("warrant") == warrant)
    last = list(collections.deque(entries, maxlen=lines))
    if as_json:
        print_json(last)
        return
    skip = {"index", "ts", "event", "warrant", "principal", "prev", "records"}
    for e in last:
        details = " ".join(
            f"{k}={json.dumps(v, separators=(',', ':'))}"
            for k, v in sorted(e.items())
            if k not in skip
        )
        if "records" in e:
            details = f"records={len(e['records'])} " + details
        click.echo(
            f"#{e.get('index', '?'):<6} {e.get('ts', '')}  {e.get('event', ''):<18} "
            f"{e.get('warrant') or '-':<18} {e.get('principal') or '-':<12} {details}"
        )


@audit.command()
@DATA
@DATABASE
@KEY
@click.option(
    "--log",
    "log_file",
    type=click.Path(path_type=pathlib.Path, dir_okay=False),
    help="The log to check; default DIR/audit.log.",
)
@click.option(
    "--checkpoint",
    "kept",
    multiple=True,
    type=click.Path(path_type=pathlib.Path, dir_okay=False, exists=True),
    help="A checkpoint you kept earlier (repeatable): the log must extend it.",
)
@click.option(
    "--witness",
    type=click.Path(path_type=pathlib.Path, file_okay=False, exists=True),
    help="A directory of exported checkpoints: the log must extend each.",
)
@json_option
@friendly_errors
def verify(
    data: pathlib.Path,
    url: str | None,
    key: str | None,
    log_file: pathlib.Path | None,
    kept: tuple[pathlib.Path, ...],
    witness: pathlib.Path | None,
    as_json: bool,
) -> None:
    """Rebuild the Merkle tree from the log and check every entry and checkpoint.

    Reports every fault (modified, missing, reordered, inserted, truncated, bad_signature) with
    the first entry it affects, and exits 1 if there is any. Needs no server: a copy of the log
    and the verifier key are enough. With --database, the shared log of a PostgreSQL deployment
    is read, and every checkpoint any replica signed must verify and be consistent with it.

    No --server, on purpose: verification must not trust the gateway it checks. Get the log
    itself (a copy of DIR/audit.log, or --database) and the verifier key you keep; to compare
    with a running gateway, `wsg audit checkpoint --server` and `--checkpoint FILE` here.
    """
    dirs = DataDir(data)
    checkpoints = [(str(p), p.read_text()) for p in kept]
    if witness is not None:
        checkpoints += [(str(p), p.read_text()) for p in sorted(witness.glob("*.checkpoint"))]
    if url:
        if log_file is not None:
            raise ValueError("--log and --database name two logs: check one at a time")
        lines, signed = _table_log(url)
        checkpoints += signed
    else:
        path = log_file or dirs.audit_log
        if not path.exists():
            raise ValueError(f"no audit log at {path}")
        lines = list(read_lines(path))
        if dirs.checkpoint.exists() and log_file is None:
            checkpoints.append(("latest checkpoint", dirs.checkpoint.read_text()))
    verifiers = [_verifier(data, key)] if (key or dirs.verifier_key.exists()) else []
    if checkpoints and not verifiers:
        raise ValueError("checkpoints need a verifier key: pass --key")
    report = verify_lines(lines, verifiers, checkpoints)
    if as_json:
        print_json(
            {
                "ok": report.ok,
                "faults": [f.as_dict() for f in report.faults],
                "tree_size": report.size,
                "checkpoints_checked": len(checkpoints),
            }
        )
    elif report.faults:
        for fault in report.faults[:100]:
            console.print(f"[red]fault[/red] {fault.kind} at entry {fault.index}  {fault.detail}")
        if len(report.faults) > 100:
            console.print(f"... and {len(report.faults) - 100} more (see --json)")
    else:
        console.print(
            f"audit log ok: {report.size} entries, {len(checkpoints)} checkpoint(s) "
            "verified and consistent"
        )
    if report.faults:
        raise SystemExit(1)


@audit.command()
@DATA
@online
@json_option
@friendly_errors
def key(
    data: pathlib.Path, server: str | None, identity: str | None, insecure: bool, as_json: bool
) -> None:
    """Print the checkpoint verifier key: <name>+<key id>+<base64 Ed25519 key>."""
    text = _served_or_stored(
        server,
        identity,
        insecure,
        data,
        lambda c: c.checkpoint().verifier_key,
        DataDir(data).verifier_key,
        f"no verifier key at {{path}}; start the gateway once with --data {data}",
    ).strip()
    print_json({"verifier_key": text}) if as_json else click.echo(text)


@audit.command()
@DATA
@online
@json_option
@friendly_errors
def checkpoint(
    data: pathlib.Path, server: str | None, identity: str | None, insecure: bool, as_json: bool
) -> None:
    """Print the latest signed checkpoint (a C2SP signed note)."""
    note = _served_or_stored(
        server,
        identity,
        insecure,
        data,
        lambda c: c.checkpoint().note,
        DataDir(data).checkpoint,
        "no signed checkpoint at {path} yet",
    )
    print_json({"checkpoint": note}) if as_json else click.echo(note, nl=False)


@audit.command()
@click.option("--index", required=True, type=click.IntRange(min=0), help="The entry to prove.")
@click.option(
    "--tree-size",
    default=0,
    type=click.IntRange(min=0),
    help="Prove against this size; default the latest checkpoint's.",
)
@DATA
@KEY
@online
@json_option
@friendly_errors
def proof(
    index: int,
    tree_size: int,
    data: pathlib.Path,
    key: str | None,
    server: str | None,
    identity: str | None,
    insecure: bool,
    as_json: bool,
) -> None:
    """Print the inclusion proof of entry N in the latest checkpoint's tree."""
    if server:
        with online_client(server, identity, insecure, data) as client:
            p = client.inclusion_proof(index, tree_size)
        result = inclusion_json(p.index, p.tree_size, p.leaf, p.hashes)
    else:
        result = _copy(data, key).inclusion(index, tree_size)
    _print_proof(result, f"entry {result['index']} in a tree of {result['tree_size']}:", as_json)


@audit.command()
@click.option(
    "--old",
    "old_size",
    required=True,
    type=click.IntRange(min=0),
    help="Size of the tree you already hold a checkpoint for.",
)
@click.option(
    "--new",
    "new_size",
    default=0,
    type=click.IntRange(min=0),
    help="Prove up to this size; default the latest checkpoint's.",
)
@DATA
@KEY
@online
@json_option
@friendly_errors
def consistency(
    old_size: int,
    new_size: int,
    data: pathlib.Path,
    key: str | None,
    server: str | None,
    identity: str | None,
    insecure: bool,
    as_json: bool,
) -> None:
    """Print the proof that the tree of size M is a prefix of the latest checkpoint's tree."""
    if server:
        with online_client(server, identity, insecure, data) as client:
            p = client.consistency_proof(old_size, new_size)
        result = consistency_json(p.old_size, p.new_size, p.hashes)
    else:
        result = _copy(data, key).consistency(old_size, new_size)
    _print_proof(result, f"tree {result['old_size']} -> {result['new_size']}:", as_json)


@audit.command()
@click.argument("package", type=click.Path(path_type=pathlib.Path, file_okay=False, exists=True))
@DATA
@KEY
@json_option
@friendly_errors
def evidence(package: pathlib.Path, data: pathlib.Path, key: str | None, as_json: bool) -> None:
    """Check an evidence package written by `wsg release --out PACKAGE`, with no server.

    Every record against the manifest, records.jsonl against the audited release.completed
    entry, that entry's inclusion proof against the signed checkpoint in the manifest, and the
    checkpoint's signature against the verifier key. Exits 1 if anything does not hold.
    No --server, on purpose: a package is checked by whoever receives it, without the gateway
    that made it (the key from `wsg audit key`, kept beforehand).
    """
    try:
        manifest = verify_package(package, [_verifier(data, key)])
    except EvidenceError as exc:
        if as_json:
            print_json({"ok": False, "problem": str(exc)})
        else:
            console.print(f"[red]evidence package does not verify:[/red] {exc}")
        raise SystemExit(1) from None
    if as_json:
        print_json(
            {"ok": True, "warrant": manifest["warrant"]["id"], "records": manifest["released"]}
        )
    else:
        console.print(
            f"evidence package ok: {manifest['released']} records of warrant "
            f"{manifest['warrant']['id']}, proven in the signed audit log"
        )
