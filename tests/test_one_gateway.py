"""One gateway per data directory, one per port, and never on a log that does not verify.

A second `wsg serve` on the same --data (on the same port or another) is refused in one line
naming the holder; a second gateway on a port in use is refused (no SO_REUSEPORT); a gateway
refuses to start on an audit log whose entries do not verify, naming the first fault, rather
than appending to it.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fixtures_small import FEB1, JAN1, ROWS

from gateway.api.client import Client, ClientError
from gateway.errors import FailedPrecondition
from gateway.testing import T0, bind_test_roles, make_spec

WSG = [sys.executable, "-m", "gateway"]
BOTH_BACKENDS = True  # the tests that start a gateway in-process also run on PostgreSQL


def serve(data: pathlib.Path, listen: str = "127.0.0.1:0") -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*WSG, "serve", "--insecure", "--listen", listen, "--data", str(data)],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )


class Served:
    """A `wsg serve` that started, and the address it serves."""

    def __init__(self, data: pathlib.Path) -> None:
        self.proc = serve(data)
        self.lines: list[str] = []
        started = threading.Event()

        def read() -> None:
            assert self.proc.stderr
            for line in self.proc.stderr:
                self.lines.append(line)
                if '"wsg serving"' in line:
                    started.set()

        threading.Thread(target=read, daemon=True).start()
        if not started.wait(60):
            self.proc.kill()
            raise AssertionError("wsg serve did not start: " + "".join(self.lines))
        serving = next(json.loads(x) for x in self.lines if '"wsg serving"' in x)
        self.address: str = serving["address"]

    def write_entries(self) -> None:
        """A few audit entries (refused submissions: the store is empty)."""
        for _ in range(3):
            with Client(self.address, "alice", insecure=True) as client:
                with contextlib.suppress(ClientError):
                    client.submit(
                        make_spec(["account:u1"], ["subscriber"], JAN1, FEB1, T0.replace(year=2027))
                    )

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


@pytest.fixture
def first(tmp_path: pathlib.Path) -> Iterator[Served]:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    bind_test_roles(data)
    served = Served(data)
    yield served
    if served.proc.poll() is None:
        served.stop()


def refused(data: pathlib.Path, listen: str) -> str:
    """The one line a second `wsg serve` exits with (it must exit, and not 0)."""
    proc = serve(data, listen)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AssertionError("the second gateway started") from None
    assert proc.returncode not in (0, None)
    # Beside the structured log (and grpc core's own note of a failed bind): one error line,
    # no traceback.
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("wsg: error:")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("port", ["same", "another"])
def test_a_second_gateway_on_the_same_data_directory_is_refused(
    first: Served, tmp_path: pathlib.Path, port: str
) -> None:
    """Same --data, same port or another: one line naming the first gateway's pid and
    address; the first one's log is untouched and still verifies."""
    data = tmp_path / "data"
    size = len((data / "audit.log").read_bytes())
    listen = first.address if port == "same" else "127.0.0.1:0"
    line = refused(data, listen)
    assert "in use by another gateway" in line
    assert f"pid {first.proc.pid}" in line and first.address in line
    assert len((data / "audit.log").read_bytes()) == size
    first.stop()
    verify = subprocess.run(
        [*WSG, "audit", "verify", "--data", str(data), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(verify.stdout)["ok"] is True


def test_a_second_gateway_on_a_port_in_use_is_refused(
    first: Served, tmp_path: pathlib.Path
) -> None:
    """Another data directory, the first gateway's port: refused (no SO_REUSEPORT), instead of
    sharing the port's connections with it."""
    other = tmp_path / "other"
    other.mkdir(mode=0o700)
    bind_test_roles(other)
    line = refused(other, first.address)
    assert "cannot listen on" in line and first.address in line


def test_a_tampered_log_refuses_start(first: Served, tmp_path: pathlib.Path) -> None:
    """An entry edited while the gateway was down: the restart is refused, naming the fault
    and its entry, and nothing is appended to the log."""
    data = tmp_path / "data"
    first.write_entries()
    first.stop()
    log = data / "audit.log"
    lines = log.read_bytes().splitlines(keepends=True)
    assert len(lines) >= 2
    lines[0] = lines[0].replace(b'"event":"', b'"event":"x', 1)
    log.write_bytes(b"".join(lines))
    before = log.read_bytes()
    line = refused(data, "127.0.0.1:0")
    assert "does not verify: modified at entry 0" in line
    assert log.read_bytes() == before


def test_a_forked_log_refuses_start(first: Served, tmp_path: pathlib.Path) -> None:
    """Two writers' lines interleaved (what two gateways on one log made): refused."""
    data = tmp_path / "data"
    first.write_entries()
    first.stop()
    log = data / "audit.log"
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines) + lines[-1].replace(b'"ts":"', b'"ts":"1', 1))
    line = refused(data, "127.0.0.1:0")
    assert "does not verify" in line


def test_the_lock_is_released_when_the_gateway_stops(first: Served, tmp_path: pathlib.Path) -> None:
    """A stopped (or killed) gateway leaves no stale lock: the next start on the directory works."""
    data = tmp_path / "data"
    first.proc.kill()
    first.proc.wait(timeout=30)
    again = Served(data)
    again.stop()
    assert isinstance(again.address, str)


@pytest.mark.parametrize("which", ["middle", "last"])
def test_a_restart_on_an_edited_entry_is_refused(
    start_gateway: Any, clock: Any, backend: str, which: str
) -> None:
    """An entry edited behind the gateway's back (the file, or the table with its append-only
    trigger disabled) while it was down: the next start is refused in one line naming the
    fault (the entries' chain shows an edit in the middle; the checkpoint signed when the
    gateway stopped shows an edit of the last entry)."""
    run = start_gateway(ROWS)
    for _ in range(3):
        with run.client("alice") as client, contextlib.suppress(ClientError):
            client.submit(make_spec(["account:nobody"], ["subscriber"], JAN1, FEB1, clock.now))
    run.gateway.stop(grace=None)
    index = 1 if which == "middle" else run.gateway.audit.size - 1
    url = run.gateway.config.database
    if url is None:
        log = run.gateway.data.audit_log
        lines = log.read_bytes().splitlines(keepends=True)
        lines[index] = lines[index].replace(b'"principal":"alice"', b'"principal":"alicf"', 1)
        log.write_bytes(b"".join(lines))
    else:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
            conn.execute(
                "UPDATE audit_log SET line = convert_to(replace(convert_from(line, 'UTF8'), "
                "'\"alice\"', '\"alicf\"'), 'UTF8') WHERE idx = %s",
                (index,),
            )
    expected = (
        rf"does not verify: modified at entry {index}"
        if which == "middle"
        else "no longer matches the checkpoint"
    )
    with pytest.raises(FailedPrecondition, match=expected):
        start_gateway(data=run.gateway.data.root)
