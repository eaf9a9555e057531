"""Crash injection at every write and fsync point a release touches (gateway.faults).

The invariant, after each failure: every record the client received is covered by a durable,
verifiable audit entry (write-ahead: a batch leaves only after its entry is fsynced).

Two kinds of failure:
- in-process, a fail point raises OSError(EIO) as a failing disk would: the stream ends with
  UNAVAILABLE, health says NOT_SERVING, the operational log says why, later actions are refused;
  a restarted gateway on the same directory serves again with a log that verifies and a
  checkpoint consistent with the one signed before the failure;
- in a `wsg serve` subprocess, a fail point SIGKILLs the process (optionally after writing half
  a line, 'torn'): the directory, reopened in-process, recovers (a torn tail is cut off and
  recorded in an audit.recovered entry), verifies, and covers everything the client got.

An entry whose fsync failed (or never happened because the process died at it) is not durable,
so the coverage check leaves it out: only lines that were fsynced count.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from fixtures_small import FEB1, JAN1, ROWS
from grpc_health.v1 import health_pb2, health_pb2_grpc
from structlog.testing import capture_logs

import gateway.api.server as server_module
from gateway import faults
from gateway.api.client import Client, ClientError
from gateway.api.rpcs import SERVICES as SERVICE_NAMES
from gateway.api.v1 import wsg_pb2 as pb
from gateway.audit.canonical import canonical_json
from gateway.audit.files import read_lines
from gateway.audit.notes import Checkpoint, NoteVerifier, open_checkpoint
from gateway.audit.tree import MerkleTree, leaf_hash, verify_consistency
from gateway.audit.verify import verify_log
from gateway.testing import make_spec

pytestmark = pytest.mark.usefixtures("info_logging")

OFFICER, REVIEWER, AUDITOR = "alice", "bob", "carol"
BULK = 30
RELEASED = BULK + 3  # the bulk messages plus the target's own m1, m4, m7 (fixtures_small)
BATCH = 3  # -> 11 batches
# Audit appends of a release: release.started is hit 0, batch b is hit b + 1. Failing hit 3
# fails the entry of batch 2, so batches 0 and 1 (and only they) have left.
BATCH_2_HIT = 3
SENT_BEFORE_BATCH_2 = 2
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
SERVING = health_pb2.HealthCheckResponse.SERVING
BROKEN_EVENT = "audit log broken; refusing to act until restarted"

Received = list[tuple[int, list[tuple[str, str]]]]  # per batch: (audit_index, [(id, sha256)])


# -- helpers ----------------------------------------------------------------------------------


def store_rows() -> list[dict[str, Any]]:
    """The small data set plus BULK of the target's own direct messages inside the window."""
    base = JAN1 + dt.timedelta(days=10)
    return ROWS + [
        {
            "kind": "message",
            "id": f"bulk-{i}",
            "room": "r-dm",
            "sender": "u1",
            "sent_at": (base + dt.timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "body": f"bulk message {i} " + "y" * 120,
        }
        for i in range(BULK)
    ]


def approved_warrant(client_of: Any, now: dt.datetime) -> str:
    with client_of(OFFICER) as officer:
        w = officer.submit(
            make_spec(["account:u1"], ["message_content"], JAN1, FEB1, now + dt.timedelta(days=30))
        )
    with client_of(REVIEWER) as reviewer:
        reviewer.approve(w.id)
    return w.id


def read_release(
    client: Client, warrant_id: str
) -> tuple[Received, ClientError | None, pb.ReleaseSummary | None]:
    """Read a release stream until it ends; what arrived, how it ended, and any summary."""
    received: Received = []
    summary = None
    try:
        for item in client.release(warrant_id, batch_size=BATCH):
            kind = item.WhichOneof("item")
            if kind == "batch":
                records = []
                for r in item.batch.records:
                    # The digest the gateway audits is sha256 of the canonical payload bytes.
                    assert r.payload == canonical_json(json.loads(r.payload)).encode()
                    records.append((r.id, hashlib.sha256(r.payload).hexdigest()))
                received.append((item.batch.audit_index, records))
            elif kind == "summary":
                summary = item.summary
    except ClientError as exc:
        return received, exc, summary
    return received, None, summary


def entries_of(lines: list[bytes]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines]


def assert_covered(lines: list[bytes], warrant_id: str, received: Received) -> None:
    """Every received record is named, with its digest, by a release.batch entry among `lines`
    (the durable lines), and each batch by the very entry its audit_index points at."""
    entries = entries_of(lines)
    audited = {
        (rid, digest)
        for e in entries
        if e["event"] == "release.batch" and e["warrant"] == warrant_id
        for rid, digest in e["records"]
    }
    flat = [record for _, records in received for record in records]
    uncovered = [record for record in flat if record not in audited]
    assert not uncovered, f"{len(uncovered)} received records have no durable entry: {uncovered}"
    for audit_index, records in received:
        entry = entries[audit_index]
        assert entry["index"] == audit_index and entry["event"] == "release.batch"
        assert [tuple(x) for x in entry["records"]] == records


def verifier_of(data: pathlib.Path) -> NoteVerifier:
    return NoteVerifier.from_key((data / "audit.vkey").read_text().strip())


def assert_verifies(data: pathlib.Path, *notes: str) -> None:
    """The log verifies against the gateway's latest checkpoint file and the given notes."""
    checkpoints = [("DIR/checkpoint", (data / "checkpoint").read_text())]
    checkpoints += [(f"checkpoint {n}", note) for n, note in enumerate(notes)]
    report = verify_log(data / "audit.log", [verifier_of(data)], checkpoints)
    assert report.ok, report.faults
    assert len(report.checkpoints) == len(checkpoints)


def assert_consistent(data: pathlib.Path, client: Client, old_note: str, new_note: str) -> None:
    """The checkpoint signed before the failure is a prefix of the one signed after restart."""
    verifier = verifier_of(data)
    old: Checkpoint = open_checkpoint(old_note, [verifier])
    new: Checkpoint = open_checkpoint(new_note, [verifier])
    assert 0 < old.size < new.size
    lines = list(read_lines(data / "audit.log"))
    tree = MerkleTree(leaf_hash(line) for line in lines)
    assert tree.root(old.size) == old.root  # the first N lines after restart are what was signed
    assert tree.root(new.size) == new.root
    served = client.consistency_proof(old.size, new.size)
    verify_consistency(old.size, new.size, old.root, new.root, list(served.hashes))


def health(address: str, service: str = "") -> int:
    with grpc.insecure_channel(address) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=5
        )
    return int(reply.status)


def finish_a_release(client: Client, warrant_id: str) -> pb.ReleaseSummary:
    """After a restart the gateway serves again: a whole release runs to its signed summary."""
    received, error, summary = read_release(client, warrant_id)
    assert error is None and summary is not None
    assert sum(len(records) for _, records in received) == RELEASED == summary.released
    return summary


@pytest.fixture(autouse=True)
def _disarmed() -> Iterator[None]:
    faults.disarm_all()
    yield
    faults.disarm_all()


# -- A: a failing disk, in-process --------------------------------------------------------------


@pytest.mark.parametrize(
    "point, after",
    [
        pytest.param("audit.write", BATCH_2_HIT, id="audit.write"),
        pytest.param("audit.fsync", BATCH_2_HIT, id="audit.fsync"),
        # A release writes a checkpoint once: for its summary, after every batch has left.
        pytest.param("checkpoint.write", 0, id="checkpoint.write"),
        pytest.param("checkpoint.fsync", 0, id="checkpoint.fsync"),
    ],
)
def test_a_failed_write_or_fsync_stops_the_gateway_and_loses_no_released_record(
    start_gateway: Any, clock: Any, point: str, after: int
) -> None:
    run = start_gateway(store_rows())
    data = run.gateway.data.root
    warrant_id = approved_warrant(run.client, clock.now)
    with run.client(AUDITOR) as auditor:
        old_note = auditor.checkpoint().note  # signed (and written) before anything fails

    faults.arm(point, "raise", after=after)
    with capture_logs() as logs, run.client(OFFICER) as officer:
        received, error, summary = read_release(officer, warrant_id)

        # The stream ends with UNAVAILABLE and a reason, never OK, never a traceback.
        assert error is not None and summary is None
        assert error.code is grpc.StatusCode.UNAVAILABLE, error
        assert point in error.message and "Traceback" not in error.message
        # The invariant: what is durable now (every line, except one whose fsync failed) covers
        # every record the client received.
        lines = list(read_lines(data / "audit.log"))
        durable = lines[:-1] if point == "audit.fsync" else lines
        assert_covered(durable, warrant_id, received)
        if point == "audit.fsync":
            assert json.loads(lines[-1])["batch"] == SENT_BEFORE_BATCH_2  # the unsynced entry
        count = sum(len(records) for _, records in received)
        if point.startswith("audit."):
            assert len(received) == SENT_BEFORE_BATCH_2
        else:
            assert count == RELEASED  # every batch left (write-ahead); only the summary is missing

        # Health says NOT_SERVING for the server and every service; later actions are refused.
        for service in ("", *SERVICE_NAMES):
            assert health(run.address, service) == NOT_SERVING, service
        again, refused, _ = read_release(officer, warrant_id)
        assert not again and refused is not None
        assert refused.code is grpc.StatusCode.UNAVAILABLE
        with run.client(REVIEWER) as other, pytest.raises(ClientError) as submit:
            other.submit(
                make_spec(["account:u1"], ["logins"], JAN1, FEB1, clock.now + dt.timedelta(days=1))
            )
        assert submit.value.code is grpc.StatusCode.UNAVAILABLE

    # The operational log says why, once, and nothing was an internal error.
    broken = [e for e in logs if e["event"] == BROKEN_EVENT]
    assert len(broken) == 1 and point in broken[0]["why"], logs
    assert broken[0]["log_level"] == "error"
    assert not [e for e in logs if e["event"] == "internal error"]

    # Restart on the same directory: it serves again and the log still verifies.
    run.gateway.stop(grace=None)
    faults.disarm_all()
    restarted = start_gateway(data=data)
    assert health(restarted.address) == SERVING
    lines = list(read_lines(data / "audit.log"))
    assert "audit.recovered" not in {e["event"] for e in entries_of(lines)}  # nothing was torn
    assert_recovered(restarted, data, lines, warrant_id, received, old_note)


def test_a_failed_witness_export_is_logged_and_loses_nothing(
    start_gateway: Any, clock: Any, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The witness gets a copy of checkpoints outside the log. A failed export is logged with
    its reason and retried later with a freshly written file (never by re-fsyncing the failed
    one); the log itself is unharmed, so releases stay write-ahead and keep verifying."""
    monkeypatch.setattr(server_module, "EXPORT_TICK", 0.02)
    witness = tmp_path / "witness"
    run = start_gateway(store_rows(), witness=str(witness), export_every_entries=1)
    data = run.gateway.data.root
    warrant_id = approved_warrant(run.client, clock.now)
    with run.client(AUDITOR) as auditor:
        old_note = auditor.checkpoint().note

    faults.arm("witness.write", "raise")
    with capture_logs() as logs, run.client(OFFICER) as officer:
        received, error, summary = read_release(officer, warrant_id)
        deadline = time.monotonic() + 10
        while not [e for e in logs if e["event"] == "checkpoint export failed"]:
            assert time.monotonic() < deadline, "the armed witness export never ran"
            time.sleep(0.02)
    failed = [e for e in logs if e["event"] == "checkpoint export failed"]
    assert "witness.write" in failed[0]["why"] and str(witness) in failed[0]["why"]
    assert not [e for e in logs if e["event"] in (BROKEN_EVENT, "internal error")]
    assert error is None and summary is not None
    assert health(run.address) == SERVING
    assert_covered(list(read_lines(data / "audit.log")), warrant_id, received)

    size = run.gateway.audit.size
    run.gateway.stop(grace=None)  # exports the final checkpoint: the failed export was made good
    assert (witness / f"{size:012d}.checkpoint").exists()
    restarted = start_gateway(data=data)
    exported = [p.read_text() for p in sorted(witness.glob("*.checkpoint"))]
    assert_verifies(data, old_note, summary.checkpoint, *exported)
    with restarted.client(OFFICER) as officer:
        assert_consistent(data, officer, old_note, finish_a_release(officer, warrant_id).checkpoint)


def assert_recovered(
    restarted: Any,
    data: pathlib.Path,
    lines: list[bytes],
    warrant_id: str,
    received: Received,
    old_note: str,
) -> None:
    """After a restart: what was received is covered, the log verifies against the checkpoint
    from before the failure, and a new release ends in a checkpoint consistent with it."""
    assert_covered(lines, warrant_id, received)
    assert_verifies(data, old_note)
    with restarted.client(OFFICER) as officer:
        summary = finish_a_release(officer, warrant_id)
        assert_consistent(data, officer, old_note, summary.checkpoint)
    assert_verifies(data, old_note, summary.checkpoint)


# -- B: a killed `wsg serve` process ------------------------------------------------------------


def serve_process(
    data: pathlib.Path, failpoints: str, stderr_path: pathlib.Path
) -> tuple[subprocess.Popen[bytes], str]:
    """`wsg serve --insecure` on a free loopback port with fail points armed by environment."""
    env = {**os.environ, faults.ENV: failpoints}
    with stderr_path.open("wb") as stderr:
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
                str(data),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=env,
        )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for line in stderr_path.read_text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("event") == "wsg serving":
                return proc, record["address"]
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    proc.wait(timeout=10)
    raise AssertionError(f"wsg serve did not start: {stderr_path.read_text()}")


@pytest.mark.parametrize(
    "point, action, after",
    [
        pytest.param("audit.write", "kill", BATCH_2_HIT, id="audit.write-kill"),
        pytest.param("audit.write", "torn", BATCH_2_HIT, id="audit.write-torn"),
        pytest.param("audit.fsync", "kill", BATCH_2_HIT, id="audit.fsync-kill"),
        pytest.param("checkpoint.write", "kill", 0, id="checkpoint.write-kill"),
        pytest.param("checkpoint.write", "torn", 0, id="checkpoint.write-torn"),
        pytest.param("checkpoint.fsync", "kill", 0, id="checkpoint.fsync-kill"),
    ],
)
def test_a_killed_gateway_recovers_and_covers_every_record_it_sent(
    start_gateway: Any, clock: Any, tmp_path: pathlib.Path, point: str, action: str, after: int
) -> None:
    data = tmp_path / "wsg-data"
    # Prepare the directory in-process (store, approved warrant, a first checkpoint) on the real
    # clock, which the server process uses; then stop so the process has it to itself.
    clock.now = dt.datetime.now(dt.UTC)
    prep = start_gateway(store_rows(), data=data)
    warrant_id = approved_warrant(prep.client, clock.now)
    with prep.client(AUDITOR) as auditor:
        old_note = auditor.checkpoint().note
    prep.gateway.stop(grace=None)
    size_before = len(list(read_lines(data / "audit.log")))

    proc, address = serve_process(data, f"{point}={action}@{after}", tmp_path / "serve.stderr")
    try:
        with Client(address, OFFICER, insecure=True) as officer:
            received, error, summary = read_release(officer, warrant_id)
        assert error is not None and summary is None  # the stream broke, it did not finish
        assert error.code is grpc.StatusCode.UNAVAILABLE, error
        assert proc.wait(timeout=15) == -signal.SIGKILL  # the fail point fired and killed it
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)

    # The checkpoint file is replaced atomically: a crash while writing its successor leaves it.
    assert (data / "checkpoint").read_text() == old_note

    # What survived the crash, before any recovery. The invariant: its durable lines (all but a
    # torn tail, and all but the entry whose fsync never happened) cover what the client got.
    raw = (data / "audit.log").read_bytes()
    lines = list(read_lines(data / "audit.log"))
    torn = action == "torn" and point == "audit.write"
    complete = lines[:-1] if torn else lines
    durable = complete[:-1] if point == "audit.fsync" else complete
    assert_covered(durable, warrant_id, received)
    # Batches sent before the kill normally all arrive; at least the first must, or the coverage
    # check would prove nothing.
    assert received
    if point.startswith("audit."):
        assert len(received) <= SENT_BEFORE_BATCH_2
    else:
        assert sum(len(records) for _, records in received) <= RELEASED
    # The process died at hit `after` of `point`.
    assert raw.endswith(b"\n") is not torn
    written = entries_of(complete)[size_before:]
    if point == "audit.write":
        assert [e["event"] for e in written] == ["release.started", *["release.batch"] * 2]
    elif point == "audit.fsync":
        assert written[-1]["event"] == "release.batch" and written[-1]["batch"] == 2
    else:
        assert written[-1]["event"] == "release.completed"

    # Reopen in-process: a torn tail is cut off and recorded, the log verifies, it serves again.
    clock.now = dt.datetime.now(dt.UTC)
    restarted = start_gateway(data=data)
    assert health(restarted.address) == SERVING
    after_lines = list(read_lines(data / "audit.log"))
    entries = entries_of(after_lines)
    recovered = [e for e in entries if e["event"] == "audit.recovered"]
    if torn:
        assert after_lines[:-1] == complete and len(recovered) == 1
        entry = recovered[0]
        assert entry["index"] == len(complete) == len(after_lines) - 1
        assert entry["prev"] == hashlib.sha256(complete[-1]).hexdigest()
        head = base64.b64decode(entry["torn_head_b64"])
        assert head == lines[-1] and entry["torn_bytes"] == len(head)
        assert entry["torn_sha256"] == hashlib.sha256(head).hexdigest()
        assert b'"event":"release.batch"' in head  # it was batch 2's entry, never sent
    else:
        assert after_lines == lines and not recovered
    assert_recovered(restarted, data, after_lines, warrant_id, received, old_note)
