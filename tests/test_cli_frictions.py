"""CLI frictions a newcomer met: ids never cut, --server on audit tail, exit status 2 for a local
problem (a missing certificate), `wsg init --insecure` says what it made, `wsg serve` on an empty
store says how to fill it."""

from __future__ import annotations

import datetime as dt
import json
import pathlib
import subprocess
import sys
from typing import Any

from click.testing import CliRunner
from fixtures_small import FEB1, JAN1, ROWS

from gateway.cli import main
from gateway.testing import make_spec


def submit(run: Any, clock: Any) -> str:
    spec = make_spec(["account:u1"], ["logins"], JAN1, FEB1, clock.now + dt.timedelta(days=30))
    with run.client("alice") as alice:
        return alice.submit(spec).id


def test_warrant_list_never_cuts_ids(start_gateway: Any, clock: Any) -> None:
    """Even in a 60-column terminal the whole id is printed."""
    run = start_gateway(ROWS)
    warrant_id = submit(run, clock)
    result = CliRunner().invoke(
        main,
        ["warrant", "list", "--server", run.address, "--insecure", "--identity", "alice"],
        env={"COLUMNS": "60"},
        terminal_width=60,
    )
    assert result.exit_code == 0, result.output
    assert warrant_id in result.stdout


def test_a_missing_certificate_is_exit_2(tmp_path: pathlib.Path) -> None:
    """No client certificate is a local problem: one line, status 2, before any call."""
    result = CliRunner().invoke(
        main,
        [
            "warrant",
            "list",
            "--server",
            "127.0.0.1:9",
            "--identity",
            "nobody",
            "--data",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 2
    assert "no certificate for 'nobody'" in result.stderr and "wsg init" in result.stderr


def test_audit_tail_asks_a_server(start_gateway: Any, clock: Any) -> None:
    run = start_gateway(ROWS)
    warrant_id = submit(run, clock)
    result = CliRunner().invoke(
        main,
        [
            "audit",
            "tail",
            "--server",
            run.address,
            "--insecure",
            "--identity",
            "alice",
            "--warrant",
            warrant_id,
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert [e["event"] for e in json.loads(result.stdout)] == ["warrant.submitted"]


def test_init_in_development_mode(tmp_path: pathlib.Path) -> None:
    """Roles only, no PKI, and no claim of mutual TLS."""
    data = tmp_path / "data"
    result = CliRunner().invoke(
        main, ["init", "--insecure", "--data", str(data), "--principal", "alice:officer"]
    )
    assert result.exit_code == 0, result.output
    said = " ".join(result.stdout.split())  # rich wraps lines at the terminal's width
    assert "mutual TLS" not in said and "serve --insecure" in said
    assert (data / "roles.json").exists() and not (data / "pki").exists()


def test_serve_on_an_empty_store_says_how_to_seed(tmp_path: pathlib.Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gateway",
            "serve",
            "--insecure",
            "--listen",
            "127.0.0.1:0",
            "--data",
            str(tmp_path / "data"),
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr
        for line in proc.stderr:
            event = json.loads(line)
            if "empty" in event.get("event", ""):
                assert "wsg store seed" in event["hint"]
                break
        else:
            raise AssertionError("no hint before the end of the output")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
