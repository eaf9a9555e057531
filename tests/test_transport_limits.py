"""Transport limits and the posture line: a caller cannot send huge messages or hold more than
the allowed calls, and the server says at start how it is protected."""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import subprocess
import sys
import threading
import time
from typing import Any

import grpc
import pytest
from fixtures_small import FEB1, JAN1, ROWS

from gateway.api.client import ClientError
from gateway.identity.pki import PkiPaths, init
from gateway.testing import make_spec


def test_an_oversized_request_is_refused(start_gateway: Any, clock: Any) -> None:
    run = start_gateway(ROWS)
    spec = make_spec(
        ["account:u1"], ["message_content"], JAN1, FEB1, clock.now + dt.timedelta(days=3)
    )
    spec.legal_basis = "x" * (2 << 20)
    with run.client("alice") as alice, pytest.raises(ClientError) as info:
        alice.submit(spec)
    assert info.value.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert run.gateway.book.list() == []


def test_calls_beyond_the_concurrency_cap_are_refused(
    start_gateway: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = start_gateway(ROWS, max_concurrent_rpcs=1)
    with run.client("alice") as alice:
        w = alice.submit(
            make_spec(
                ["account:u1"], ["message_content"], JAN1, FEB1, clock.now + dt.timedelta(days=3)
            )
        )
    slow_get = run.gateway.book.get
    entered = threading.Event()

    def get(warrant_id: str) -> Any:
        entered.set()
        time.sleep(1.0)
        return slow_get(warrant_id)

    monkeypatch.setattr(run.gateway.book, "get", get)
    first: list[Any] = []

    def hold() -> None:
        with run.client("alice") as client:
            first.append(client.get(w.id))

    holder = threading.Thread(target=hold)
    holder.start()
    assert entered.wait(5)
    with run.client("bob") as bob, pytest.raises(ClientError) as info:
        bob.get(w.id)
    holder.join(timeout=10)
    assert info.value.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert first and first[0].id == w.id  # the call in flight was not hurt


def test_the_server_reports_its_security_posture_in_one_line(tmp_path: pathlib.Path) -> None:
    data = tmp_path / "d"
    init(PkiPaths(data), [("alice", "officer")])
    log = tmp_path / "serve.log"
    with log.open("wb") as stderr:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gateway",
                "serve",
                "--data",
                str(data),
                "--listen",
                "127.0.0.1:0",
            ],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=os.environ.copy(),
        )
    try:
        deadline = time.monotonic() + 30
        line = None
        while line is None and time.monotonic() < deadline and proc.poll() is None:
            for text in log.read_text().splitlines():
                if '"wsg serving"' in text:
                    line = json.loads(text)
            time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    assert line is not None, log.read_text()
    assert line["tls"] is True and line["insecure_dev_mode"] is False
    assert len(line["policy_version"]) == 64
    assert [pathlib.Path(p).name for p in line["policy_files"]] == [
        "model.conf",
        "api_model.conf",
        "policy.csv",
        "api_policy.csv",
    ]
    assert line["policy_rules"].startswith("files in ") and line["database"] == "sqlite (embedded)"
    assert line["audit_log"] == str(data / "audit.log")
