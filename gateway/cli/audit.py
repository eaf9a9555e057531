"""`wsg audit tail|verify`: read the audit log."""

from __future__ import annotations

import collections
import itertools
import json
import pathlib

import click
from gateway.audit import read_entries, verify_log
from gateway.cli.common import console, friendly_errors, json_option, print_json
from gateway.paths import DataDir

DATA = click.option("--data", type=click.Path(path_type=pathlib.Path, file_okay=False),
                    default="wsg-data", show_default=True, help="The gateway's state directory.")


@click.group()
def audit() -> None:
    """Read and check the audit log (DIR/audit.log)."""


def _log_path(data: pathlib.Path) -> pathlib.Path:
    path = DataDir(data).audit_log
    if not path.exists():
        raise ValueError(f"no audit log at {path}")
    return path


@audit.command()
@click.option("-n", "--lines", default=20, show_default=True, help="How many of the last entries.")
@click.option("--warrant", help="Only entries about this warrant.")
@DATA
@json_option
@friendly_errors
def tail(lines: int, warrant: str | None, data: pathlib.Path, as_json: bool) -> None:
    """Show the last entries of the audit log."""
    entries = (e for e in read_entries(_log_path(data)) if not warrant or e.get("warrant") == warrant)
    last = list(collections.deque(entries, maxlen=lines))
    if as_json:
        print_json(last)
        return
    skip = {"seq", "ts", "event", "warrant", "principal", "prev", "records"}
    for e in last:
        details = " ".join(f"{k}={json.dumps(v, separators=(',', ':'))}" for k, v in sorted(e.items())
                           if k not in skip)
        if "records" in e:
            details = f"records={len(e['records'])} " + details
        click.echo(f"#{e.get('seq', '?'):<6} {e.get('ts', '')}  {e.get('event', ''):<18} "
                   f"{e.get('warrant') or '-':<18} {e.get('principal') or '-':<12} {details}")


@audit.command()
@DATA
@json_option
@friendly_errors
def verify(data: pathlib.Path, as_json: bool) -> None:
    """Check the log's sequence and hash chain; list every fault, exit 1 if any."""
    faults = verify_log(_log_path(data))
    if as_json:
        print_json({"ok": not faults, "faults": [{"class": c, "index": i} for c, i in faults]})
    elif faults:
        for cls, index in itertools.islice(faults, 100):
            console.print(f"[red]fault[/red] {cls} at entry {index}")
    else:
        console.print("audit log ok")
    if faults:
        raise SystemExit(1)
