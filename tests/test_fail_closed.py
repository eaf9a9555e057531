"""The fail-closed matrix: each broken dependency means no release, a clear status, an audit
entry where the log is writable, and no serving where the gateway cannot serve."""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import shutil
import subprocess
import sys
from typing import Any

import grpc
import pytest
from fixtures_small import FEB1, JAN1, ROWS

from gateway.api.client import ClientError
from gateway.api.server import Gateway, ServerConfig
from gateway.audit.files import read_entries
from gateway.datadir import DataDir
from gateway.errors import GatewayError
from gateway.settings import DEFAULT_POLICY_DIR
from gateway.testing import Clock, load_store, make_spec


def config(data: pathlib.Path, **changes: Any) -> ServerConfig:
    return ServerConfig(data=data, listen="127.0.0.1:0", insecure=True, clock=Clock(), **changes)


def ran_once(tmp_path: pathlib.Path) -> pathlib.Path:
    """A data directory a gateway has started on (keys, state, log exist)."""
    data = tmp_path / "data"
    load_store(data, ROWS)
    Gateway(config(data)).stop(grace=None)
    return data


def refused_start(data: pathlib.Path, says: str, **changes: Any) -> None:
    with pytest.raises(GatewayError) as info:
        Gateway(config(data, **changes))
    assert says in info.value.message, info.value.message
    last = list(read_entries(DataDir(data).audit_log))[-1]
    assert last["event"] == "gateway.start_refused" and says in last["why"]


def broken_policy(tmp_path: pathlib.Path, change: str) -> pathlib.Path:
    policies = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICY_DIR, policies)
    if change == "missing":
        (policies / "policy.csv").unlink()
    else:
        (policies / "model.conf").write_text("[request_definition]\nr = nonsense(\n")
    return policies


@pytest.mark.parametrize("change, says", [("missing", "policy.csv"), ("invalid", "model.conf")])
def test_policy_missing_or_invalid(tmp_path: pathlib.Path, change: str, says: str) -> None:
    data = ran_once(tmp_path)
    refused_start(data, says, policy_dir=broken_policy(tmp_path, change))


def test_store_unreachable(tmp_path: pathlib.Path) -> None:
    data = ran_once(tmp_path)
    store = DataDir(data).store_db
    for suffix in ("", "-wal", "-shm"):
        pathlib.Path(f"{store}{suffix}").unlink(missing_ok=True)
    store.mkdir()  # not a database any more
    refused_start(data, "store")


@pytest.mark.parametrize("key", ["audit_signing_key", "pseudonym_secret"])
def test_a_key_lost_after_the_first_start(tmp_path: pathlib.Path, key: str) -> None:
    data = ran_once(tmp_path)
    path = getattr(DataDir(data), key)
    path.unlink()
    refused_start(data, "restore it from backup")
    assert not path.exists()  # not silently replaced by a new key


def test_audit_log_unwritable(tmp_path: pathlib.Path) -> None:
    data = tmp_path / "data"
    load_store(data, ROWS)
    DataDir(data).audit_log.mkdir()
    with pytest.raises(GatewayError, match="audit log"):
        Gateway(config(data))


def test_store_failing_during_a_release_stops_it_audited(start_gateway: Any, clock: Any) -> None:
    run = start_gateway(ROWS)
    with run.client("alice") as alice:
        w = alice.submit(
            make_spec(
                ["account:u1"], ["message_content"], JAN1, FEB1, clock.now + dt.timedelta(days=3)
            )
        )
    with run.client("bob") as bob:
        bob.approve(w.id)
    store = run.gateway.store
    store.path.write_bytes(b"this is not a database" * 100)
    with run.client("alice") as alice, pytest.raises(ClientError) as info:
        list(alice.release(w.id))
    assert info.value.code is grpc.StatusCode.UNAVAILABLE
    entries = list(read_entries(run.gateway.audit.path))
    assert not [e for e in entries if e["event"] == "release.batch"]
    assert entries[-1]["event"] == "release.failed" and entries[-1]["warrant"] == w.id


def test_wsg_serve_says_why_in_one_line(tmp_path: pathlib.Path) -> None:
    data = ran_once(tmp_path)
    DataDir(data).pseudonym_secret.unlink()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway",
            "serve",
            "--insecure",
            "--data",
            str(data),
            "--listen",
            "127.0.0.1:0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ.copy(),
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("wsg: error:")]
    assert len(errors) == 1 and "pseudonym secret" in errors[0]
    assert (
        json.loads(DataDir(data).audit_log.read_text().splitlines()[-1])["event"]
        == "gateway.start_refused"
    )
