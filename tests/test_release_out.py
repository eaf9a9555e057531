"""`wsg release --out DIR` checks everything local before it asks the gateway for anything.

A release the client cannot write (a non-empty directory, a file where the directory should
be, a directory that cannot be made) must leave no `release.*` entry: the log would otherwise
say records were released that went nowhere.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest
from fixtures_small import FEB1, JAN1, ROWS

from gateway.api.package import write_package
from gateway.audit.evidence import EvidenceError
from gateway.testing import make_spec

BOTH_BACKENDS = True  # every gateway test here also runs on the real PostgreSQL (conftest)

OFFICER, REVIEWER = "alice", "bob"
WSG = [sys.executable, "-m", "gateway"]


def approved(run: Any, clock: Any) -> str:
    with run.client(OFFICER) as officer:
        w = officer.submit(
            make_spec(["account:u1"], ["message_content"], JAN1, FEB1, clock.now.replace(year=2027))
        )
    with run.client(REVIEWER) as reviewer:
        reviewer.approve(w.id)
    return str(w.id)


def non_empty(tmp: pathlib.Path) -> pathlib.Path:
    (tmp / "out").mkdir()
    (tmp / "out" / "old.txt").write_text("an earlier package\n")
    return tmp / "out"


def a_file(tmp: pathlib.Path) -> pathlib.Path:
    (tmp / "out").write_text("not a directory\n")
    return tmp / "out"


def under_a_file(tmp: pathlib.Path) -> pathlib.Path:
    (tmp / "plain").write_text("a file\n")
    return tmp / "plain" / "out"


PLACES: dict[str, Callable[[pathlib.Path], pathlib.Path]] = {
    "non_empty": non_empty,
    "a_file": a_file,
    "under_a_file": under_a_file,
}


def release_entries(run: Any, warrant_id: str) -> list[str]:
    time.sleep(0.3)  # a release the client started would have its first entries by now
    return [
        e["event"]
        for e in run.entries()
        if e["event"].startswith("release.") and e.get("warrant") == warrant_id
    ]


@pytest.mark.parametrize("place", sorted(PLACES))
def test_the_cli_refuses_before_the_release_starts(
    start_gateway: Any, clock: Any, tmp_path: pathlib.Path, place: str
) -> None:
    """One line, exit 2, and not one release entry in the log."""
    run = start_gateway(ROWS)
    warrant_id = approved(run, clock)
    out = PLACES[place](tmp_path)
    proc = subprocess.run(
        [
            *WSG,
            "release",
            warrant_id,
            "--out",
            str(out),
            *("--insecure", "--server", run.address),
            *("--identity", OFFICER),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.returncode == 2, proc.stderr
    assert str(out) in proc.stderr.strip().splitlines()[-1]  # (a_file: click's usage error)
    if place != "a_file":
        assert len(proc.stderr.strip().splitlines()) == 1
    assert release_entries(run, warrant_id) == []


@pytest.mark.parametrize("place", sorted(PLACES))
def test_write_package_asks_for_the_stream_only_after_the_local_checks(
    start_gateway: Any, clock: Any, tmp_path: pathlib.Path, place: str
) -> None:
    """The library path too (the same check for every caller): the stream the client hands
    over is not even opened."""
    run = start_gateway(ROWS)
    warrant_id = approved(run, clock)
    out = PLACES[place](tmp_path)
    with run.client(OFFICER) as officer:
        warrant = officer.get(warrant_id)
        with pytest.raises(EvidenceError, match=out.name):
            write_package(out, warrant, officer.release(warrant_id))
    assert release_entries(run, warrant_id) == []
