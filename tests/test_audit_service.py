"""AuditService and `wsg audit` against a real gateway: what an auditor is promised
(docs/architecture.md).

Every proof the gateway hands out is checked here with the verifier functions (or by recomputing
the Merkle root from DIR/audit.log), never by comparing it with another output of the same code
path; every refusal is checked for its exact status code.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from fixtures_small import FEB1, JAN1, ROWS
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.api.client import ClientError
from gateway.api.package import _check_audit_binding, write_package
from gateway.api.rpcs import SERVICES as SERVICE_NAMES
from gateway.api.v1 import wsg_pb2 as pb
from gateway.audit.evidence import EvidenceError
from gateway.audit.notes import (
    Checkpoint,
    NoteSigner,
    NoteVerifier,
    open_checkpoint,
    sign_checkpoint,
)
from gateway.audit.proofs import check_inclusion_json
from gateway.audit.tree import (
    MerkleTree,
    ProofError,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from gateway.settings import DEFAULT_ORIGIN
from gateway.testing import T0, make_spec, ts

BOTH_BACKENDS = True  # every gateway test here also runs on the real PostgreSQL (conftest)

ALICE, CAROL = "alice", "carol"  # officers who submit warrants
BOB = "bob"  # the second person who approves them
AUDITOR = "audit1"
OUTSIDER = "mallory"  # authenticated, no role, no entries of their own
AUDITORS = frozenset({AUDITOR})
WSG = [sys.executable, "-m", "gateway"]


# -- helpers -----------------------------------------------------------------------------------


def submit(run: Any, clock: Any, who: str, targets: list[str], categories: list[str]) -> pb.Warrant:
    with run.client(who) as client:
        expires = clock.now + dt.timedelta(days=30)
        return client.submit(make_spec(targets, categories, JAN1, FEB1, expires))


def approve(run: Any, warrant_id: str, who: str = BOB) -> pb.Warrant:
    with run.client(who) as client:
        return client.approve(warrant_id)


def release(run: Any, who: str, warrant: pb.Warrant, out: pathlib.Path) -> dict[str, Any]:
    """A release through the client API into an evidence package (as `wsg release --out`)."""
    with run.client(who) as client:
        # The warrant as it stands (approved): the manifest shows it, the log binds it.
        return write_package(out, client.get(warrant.id), client.release(warrant.id))


def lines_of(run: Any) -> list[bytes]:
    """The log's leaves as stored: each line of DIR/audit.log without its newline, or each row
    of the audit_log table, read past the gateway's tree."""
    database = getattr(run.gateway.backend, "database", None)
    if database is not None:
        from gateway.backends.postgres.audit_log import read_lines

        return list(read_lines(database))
    data = run.gateway.data.audit_log.read_bytes()
    assert data.endswith(b"\n")
    return data[:-1].split(b"\n")


def root_of(lines: list[bytes]) -> bytes:
    """The RFC 6962 root recomputed from the log's bytes, independent of the gateway's tree."""
    return MerkleTree(leaf_hash(line) for line in lines).root()


def refused(call: Callable[[], Any]) -> ClientError:
    with pytest.raises(ClientError) as err:
        call()
    assert "Traceback" not in err.value.message and "\n" not in err.value.message
    return err.value


def listed(run: Any, who: str, **request: Any) -> list[pb.ListEntriesResponse]:
    with run.client(who) as client:
        return list(client.entries(pb.ListEntriesRequest(**request)))


def wsg(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the installed CLI as a separate process, as a script or operator would."""
    proc = subprocess.run(
        [*WSG, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"wsg {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
    return proc


def opened(note: str, verifier_key: str) -> Checkpoint:
    return open_checkpoint(note, [NoteVerifier.from_key(verifier_key)], DEFAULT_ORIGIN)


def b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


# -- 1. checkpoints and proofs over gRPC -------------------------------------------------------


class TestProofs:
    def test_checkpoint_inclusion_and_consistency_verify(
        self, start_gateway: Any, clock: Any, tmp_path: pathlib.Path
    ) -> None:
        """The signed checkpoint opens with the gateway's key, every entry's proof leads to its
        root with the exact bytes of its line, and an earlier checkpoint is a prefix of a later."""
        run = start_gateway(ROWS, auditors=AUDITORS)
        w1 = submit(run, clock, ALICE, ["account:u1"], ["message_content"])
        approve(run, w1.id)
        with run.client(AUDITOR) as auditor:
            early = auditor.checkpoint()
        release(run, ALICE, w1, tmp_path / "out")
        w2 = submit(run, clock, CAROL, ["account:u2"], ["logins"])
        with run.client(BOB) as bob:
            bob.reject(w2.id, "no grounds")
        lines = lines_of(run)

        with run.client(AUDITOR) as auditor:
            late = auditor.checkpoint()
            vkey_file = run.gateway.data.verifier_key.read_text().strip()
            assert late.verifier_key == vkey_file
            for key in (late.verifier_key, vkey_file):
                body = opened(late.note, key)
                assert (body.size, body.root) == (late.tree_size, late.root_hash)
            assert late.tree_size == len(lines) and late.root_hash == root_of(lines)
            # GetCheckpoint persists what it signed: the offline CLI reads the same note.
            assert run.gateway.checkpoints._kept.latest() == late.note  # kept durably

            for index in range(late.tree_size):
                proof = auditor.inclusion_proof(index, late.tree_size)
                assert (proof.index, proof.tree_size) == (index, late.tree_size)
                assert proof.leaf == lines[index]
                verify_inclusion(
                    leaf_hash(proof.leaf), index, late.tree_size, list(proof.hashes), late.root_hash
                )
            # A proof in the earlier, smaller tree leads to the earlier root.
            old = auditor.inclusion_proof(1, early.tree_size)
            verify_inclusion(
                leaf_hash(lines[1]), 1, early.tree_size, list(old.hashes), early.root_hash
            )
            with pytest.raises(ProofError):  # and the check can fail: another entry's bytes
                verify_inclusion(
                    leaf_hash(lines[0]), 1, early.tree_size, list(old.hashes), early.root_hash
                )

            assert 1 < early.tree_size < late.tree_size
            assert opened(early.note, vkey_file).root == early.root_hash
            assert early.root_hash == root_of(lines[: early.tree_size])
            consistency = auditor.consistency_proof(early.tree_size, late.tree_size)
            assert (consistency.old_size, consistency.new_size) == (early.tree_size, late.tree_size)
            verify_consistency(
                early.tree_size,
                late.tree_size,
                early.root_hash,
                late.root_hash,
                list(consistency.hashes),
            )
            with pytest.raises(ProofError):  # a root of a different prefix does not pass
                verify_consistency(
                    early.tree_size,
                    late.tree_size,
                    root_of(lines[:1]),
                    late.root_hash,
                    list(consistency.hashes),
                )
            same = auditor.consistency_proof(late.tree_size, late.tree_size)
            assert list(same.hashes) == []

    @pytest.mark.parametrize(
        "call, field",
        [
            (lambda c, n: c.inclusion_proof(n, n), "index"),  # index == tree_size
            (lambda c, n: c.inclusion_proof(n + 5, 0), "index"),  # beyond the latest size
            (lambda c, n: c.inclusion_proof(3, 2), "index"),  # index > explicit tree_size
            (lambda c, n: c.inclusion_proof(0, n + 1), "tree_size"),  # larger than the log
            (lambda c, n: c.inclusion_proof(0, 2**64 - 1), "tree_size"),
            (lambda c, n: c.consistency_proof(0, n), "old_size"),
            (lambda c, n: c.consistency_proof(0, 0), "old_size"),
            (lambda c, n: c.consistency_proof(n, n - 1), "old_size"),  # old > new
            (lambda c, n: c.consistency_proof(n + 1, 0), "old_size"),  # old > latest
            (lambda c, n: c.consistency_proof(1, n + 1), "new_size"),  # new larger than the log
        ],
        ids=[
            "index=size",
            "index>latest",
            "index>size",
            "size>log",
            "size=2^64-1",
            "old=0",
            "old=0,new=latest",
            "old>new",
            "old>latest",
            "new>log",
        ],
    )
    def test_bad_arguments_are_invalid_argument_naming_the_field(
        self, start_gateway: Any, clock: Any, call: Callable[[Any, int], Any], field: str
    ) -> None:
        """Out-of-range indexes and sizes are INVALID_ARGUMENT with the field named, no trace."""
        run = start_gateway(ROWS, auditors=AUDITORS)
        w = submit(run, clock, ALICE, ["account:u1"], ["logins"])
        approve(run, w.id)
        with run.client(BOB) as bob:
            bob.revoke(w.id, "done")
        size = len(lines_of(run))
        assert size == 3
        with run.client(AUDITOR) as auditor:
            error = refused(lambda: call(auditor, size))
        assert error.code is grpc.StatusCode.INVALID_ARGUMENT, error
        assert error.message.startswith(f"{field}:"), error.message


# -- 3. who may read which entries -------------------------------------------------------------

HOUR = dt.timedelta(hours=1)


def two_officers(run: Any, clock: Any, tmp_path: pathlib.Path) -> tuple[pb.Warrant, pb.Warrant]:
    """Alice's W1 and Carol's W2, both approved by Bob and released, one action per clock hour:
    entry 0 at T0 (submit W1), 1 at T0+1h (approve W1), 2 at T0+2h (submit W2), 3 at T0+3h
    (approve W2), the W1 release at T0+4h, the W2 release at T0+5h, Carol revoking W1 at T0+6h."""
    w1 = submit(run, clock, ALICE, ["account:u1"], ["message_content"])
    clock.advance(hours=1)
    approve(run, w1.id)
    clock.advance(hours=1)
    w2 = submit(run, clock, CAROL, ["account:u2"], ["logins"])
    clock.advance(hours=1)
    approve(run, w2.id)
    clock.advance(hours=1)
    release(run, ALICE, w1, tmp_path / "w1")
    clock.advance(hours=1)
    release(run, CAROL, w2, tmp_path / "w2")
    clock.advance(hours=1)
    with run.client(CAROL) as carol:
        carol.revoke(w1.id, "case closed")
    return w1, w2


class TestPermissions:
    def test_officers_read_their_own_warrants_auditors_read_all(
        self, start_gateway: Any, clock: Any, tmp_path: pathlib.Path
    ) -> None:
        """An officer sees the entries they made or about warrants they submitted, not a
        colleague's; an auditor sees every line of the log, byte for byte."""
        run = start_gateway(ROWS, auditors=AUDITORS)
        w1, w2 = two_officers(run, clock, tmp_path)
        lines = lines_of(run)
        entries = [json.loads(line) for line in lines]

        everything = listed(run, AUDITOR)
        assert [(e.index, e.line) for e in everything] == list(enumerate(lines))

        alice = listed(run, ALICE)
        expected = [
            i
            for i, e in enumerate(entries)
            if e.get("warrant") == w1.id or e.get("principal") == ALICE
        ]
        assert [e.index for e in alice] == expected
        assert all(e.line == lines[e.index] for e in alice)
        seen = [entries[e.index] for e in alice]
        assert not [e for e in seen if e.get("warrant") == w2.id]
        assert {
            "warrant.submitted",
            "warrant.approved",
            "release.started",
            "release.batch",
            "release.completed",
            "warrant.revoked",
        } <= {e["event"] for e in seen}
        assert {e["principal"] for e in seen} == {ALICE, BOB, CAROL}  # others' acts on her warrant

        # Filtering by a colleague's warrant is no way around it: the answer is empty, not an error.
        assert listed(run, ALICE, warrant_id=w2.id) == []
        assert [e.index for e in listed(run, ALICE, warrant_id=w1.id)] == [
            i for i, e in enumerate(entries) if e.get("warrant") == w1.id
        ]
        # Bob submitted nothing: only his own two approvals.
        assert [entries[e.index]["event"] for e in listed(run, BOB)] == ["warrant.approved"] * 2
        # A principal with no role gets nothing at all (API policy), and the denial is logged.
        assert refused(lambda: listed(run, OUTSIDER)).code is grpc.StatusCode.PERMISSION_DENIED
        assert json.loads(lines_of(run)[-1])["event"] == "api.denied"

    def test_inclusion_proof_of_someone_elses_entry_is_denied(
        self, start_gateway: Any, clock: Any, tmp_path: pathlib.Path
    ) -> None:
        """The leaf inside a proof is an entry: PERMISSION_DENIED unless the caller may read it.
        Checkpoints and consistency proofs hold only hashes, so anyone with a role gets them;
        a principal without a role gets nothing."""
        run = start_gateway(ROWS, auditors=AUDITORS)
        _w1, w2 = two_officers(run, clock, tmp_path)
        lines = lines_of(run)
        about_w2 = next(i for i, line in enumerate(lines) if json.loads(line)["warrant"] == w2.id)
        about_w1 = 1  # Bob's approval of Alice's W1

        with run.client(ALICE) as alice:
            error = refused(lambda: alice.inclusion_proof(about_w2))
            assert error.code is grpc.StatusCode.PERMISSION_DENIED
            assert f"audit entry {about_w2}" in error.message
            assert alice.inclusion_proof(about_w1).leaf == lines[about_w1]
        with run.client(AUDITOR) as auditor:
            proof = auditor.inclusion_proof(about_w2)
            checkpoint = auditor.checkpoint()
        assert proof.leaf == lines[about_w2]
        verify_inclusion(
            leaf_hash(proof.leaf),
            about_w2,
            proof.tree_size,
            list(proof.hashes),
            checkpoint.root_hash,
        )
        with run.client(BOB) as bob:  # bob submitted nothing
            assert bob.checkpoint().note == checkpoint.note
            assert bob.consistency_proof(2).new_size == len(lines)
        with run.client(OUTSIDER) as outsider:
            for call in (
                outsider.checkpoint,
                lambda: outsider.consistency_proof(2),
                lambda: outsider.inclusion_proof(0),
            ):
                assert refused(call).code is grpc.StatusCode.PERMISSION_DENIED

    def test_since_until_select_entries_by_time(
        self, start_gateway: Any, clock: Any, tmp_path: pathlib.Path
    ) -> None:
        """since <= ts < until, on the entries' own timestamps, and still only what one may read."""
        run = start_gateway(ROWS, auditors=AUDITORS)
        w1, w2 = two_officers(run, clock, tmp_path)
        entries = [json.loads(line) for line in lines_of(run)]
        window = listed(run, AUDITOR, since=ts(T0 + HOUR), until=ts(T0 + 3 * HOUR))
        got = [(e.index, entries[e.index]["event"], entries[e.index]["warrant"]) for e in window]
        assert got == [(1, "warrant.approved", w1.id), (2, "warrant.submitted", w2.id)]

        releases = listed(run, AUDITOR, since=ts(T0 + 4 * HOUR), until=ts(T0 + 5 * HOUR))
        assert [e.index for e in releases] == [
            i for i, e in enumerate(entries) if e["ts"] == "2026-03-01T04:00:00Z"
        ]
        assert {entries[e.index]["event"] for e in releases} == {
            "release.started",
            "release.batch",
            "release.completed",
        }
        late = listed(run, AUDITOR, since=ts(T0 + 6 * HOUR))
        assert [entries[e.index]["event"] for e in late] == ["warrant.revoked"]
        early = listed(run, AUDITOR, until=ts(T0 + HOUR))
        assert [e.index for e in early] == [0]
        # Alice's view of the window holds no entry about Carol's warrant.
        hers = listed(run, ALICE, since=ts(T0 + HOUR), until=ts(T0 + 3 * HOUR))
        assert [e.index for e in hers] == [1]


# -- 4. the CLI, offline and online ------------------------------------------------------------


def modify_string_value(line: bytes, key: str) -> bytes:
    """Change one byte inside the JSON string value of `key`, keeping the line valid JSON."""
    start = line.index(f'"{key}":"'.encode()) + len(key) + 4
    changed = bytearray(line)
    changed[start] = ord(chr(changed[start]).swapcase())
    assert bytes(changed) != line and json.loads(changed)[key] != json.loads(line)[key]
    return bytes(changed)


def faults_of(proc: subprocess.CompletedProcess[str]) -> list[tuple[str, int]]:
    report = json.loads(proc.stdout)
    assert report["ok"] is (not report["faults"])
    return [(f["class"], f["index"]) for f in report["faults"]]


class TestCli:
    @pytest.mark.sqlite_only  # reads DIR/audit.log; tests/test_postgres.py verifies the table
    def test_offline_and_online_answers_agree_and_verify(
        self, start_gateway: Any, clock: Any, tmp_path: pathlib.Path
    ) -> None:
        """`wsg audit key|checkpoint|proof|consistency` on --data and on --server print the same,
        in the documented shapes, and the proofs verify independently against the checkpoint."""
        run = start_gateway(ROWS, auditors=AUDITORS)
        w = submit(run, clock, ALICE, ["account:u1"], ["message_content", "contacts"])
        approve(run, w.id)
        release(run, ALICE, w, tmp_path / "out")
        with run.client(AUDITOR) as auditor:
            latest = auditor.checkpoint()  # signs and writes DIR/checkpoint; no action follows
        data = str(run.gateway.data.root)
        offline = ["--data", data]
        online = ["--server", run.address, "--identity", AUDITOR, "--insecure"]
        lines = lines_of(run)
        size = len(lines)
        assert latest.tree_size == size

        key = wsg("audit", "key", *offline).stdout
        assert key == wsg("audit", "key", *online).stdout == latest.verifier_key + "\n"
        assert key.startswith(f"{DEFAULT_ORIGIN}+")
        note = wsg("audit", "checkpoint", *offline).stdout
        assert note == wsg("audit", "checkpoint", *online).stdout == latest.note
        checkpoint = opened(note, key.strip())

        for index in (2, size - 1):
            args = ("audit", "proof", "--index", str(index), "--json")
            proof = json.loads(wsg(*args, *offline).stdout)
            assert proof == json.loads(wsg(*args, *online).stdout)
            assert set(proof) == {"tree_size", "index", "leaf", "proof"}
            assert (proof["tree_size"], proof["index"]) == (size, index)
            leaf = b64(proof["leaf"])
            assert leaf == lines[index]
            verify_inclusion(
                leaf_hash(leaf),
                index,
                checkpoint.size,
                [b64(h) for h in proof["proof"]],
                checkpoint.root,
            )

        for old in (1, 3):
            args = ("audit", "consistency", "--old", str(old), "--json")
            proof = json.loads(wsg(*args, *offline).stdout)
            assert proof == json.loads(wsg(*args, *online).stdout)
            assert set(proof) == {"old_size", "new_size", "proof"}
            assert (proof["old_size"], proof["new_size"]) == (old, size)
            verify_consistency(
                old, size, root_of(lines[:old]), checkpoint.root, [b64(h) for h in proof["proof"]]
            )

        # Refusals: one line on stderr, non-zero exit, in both modes.
        bad = (("audit", "proof", "--index", str(size)), ("audit", "consistency", "--old", "0"))
        for args in bad:
            for mode in (offline, online):
                proc = wsg(*args, *mode, check=False)
                assert proc.returncode != 0 and proc.stdout == ""
                assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
        denied = wsg(
            "audit",
            "proof",
            "--index",
            "0",
            "--server",
            run.address,
            "--identity",
            OUTSIDER,
            "--insecure",
            check=False,
        )
        assert denied.returncode == 1 and "[PERMISSION_DENIED]" in denied.stderr

    @pytest.mark.sqlite_only
    def test_verify_finds_a_modified_entry_and_a_foreign_checkpoint(
        self, start_gateway: Any, clock: Any, tmp_path: pathlib.Path
    ) -> None:
        """`wsg audit verify` passes the gateway's own log, names entry 2 when one byte of it
        changed in a copy, and reports a checkpoint signed by another key as bad_signature."""
        run = start_gateway(ROWS, auditors=AUDITORS)
        w = submit(run, clock, ALICE, ["account:u1"], ["message_content"])
        approve(run, w.id)
        release(run, ALICE, w, tmp_path / "out")
        with run.client(AUDITOR) as auditor:
            latest = auditor.checkpoint()
        dirs = run.gateway.data
        size = len(lines_of(run))

        report = json.loads(wsg("audit", "verify", "--data", str(dirs.root), "--json").stdout)
        assert report == {"ok": True, "faults": [], "tree_size": size, "checkpoints_checked": 1}

        saved = tmp_path / "kept.checkpoint"
        saved.write_text(latest.note)
        good, bad = tmp_path / "good.log", tmp_path / "bad.log"
        shutil.copy(dirs.audit_log, good)
        lines = good.read_bytes().split(b"\n")
        assert json.loads(lines[2])["event"] == "release.started"
        lines[2] = modify_string_value(lines[2], "principal")
        bad.write_bytes(b"\n".join(lines))

        def check(log: pathlib.Path, kept: pathlib.Path) -> subprocess.CompletedProcess[str]:
            return wsg(
                "audit",
                "verify",
                "--log",
                str(log),
                "--data",
                str(dirs.root),
                "--key",
                str(dirs.verifier_key),
                "--checkpoint",
                str(kept),
                "--json",
                check=False,
            )

        untouched = check(good, saved)
        assert untouched.returncode == 0 and faults_of(untouched) == []
        tampered = check(bad, saved)
        assert tampered.returncode == 1 and faults_of(tampered) == [("modified", 2)]

        stranger = NoteSigner.generate("stranger.example/audit")
        foreign = tmp_path / "foreign.checkpoint"  # the true size and root, the wrong signer
        true_body = Checkpoint(DEFAULT_ORIGIN, size, latest.root_hash)
        foreign.write_text(sign_checkpoint(stranger, true_body))
        forged = check(good, foreign)
        assert forged.returncode == 1 and faults_of(forged) == [("bad_signature", size)]


# -- 5. the evidence package carries its audit proofs ------------------------------------------


def summary_from(manifest: dict[str, Any], records: bytes) -> pb.ReleaseSummary:
    """The parts of a release summary that bind a package to the audit log, rebuilt from it."""

    def proof(p: dict[str, Any]) -> pb.InclusionProof:
        return pb.InclusionProof(
            index=p["index"],
            tree_size=p["tree_size"],
            leaf=b64(p["leaf"]),
            hashes=[b64(h) for h in p["proof"]],
        )

    proofs = manifest["audit_inclusion_proofs"]
    return pb.ReleaseSummary(
        checkpoint=manifest["audit_checkpoint"],
        last_batch_proof=proof(proofs["last_batch"]),
        completed_proof=proof(proofs["completed"]),
        records_sha256=hashlib.sha256(records).hexdigest(),
    )


class TestEvidence:
    def test_manifest_proves_the_release_is_in_the_log(
        self, start_gateway: Any, clock: Any, tmp_path: pathlib.Path
    ) -> None:
        """`wsg release --out`: the manifest's signed checkpoint and inclusion proofs show the
        release.completed entry naming sha256(records.jsonl) is in the log; an edited
        records.jsonl no longer matches it."""
        run = start_gateway(ROWS, auditors=AUDITORS)
        w = submit(run, clock, ALICE, ["account:u1"], ["message_content", "message_metadata"])
        approve(run, w.id)
        out = tmp_path / "evidence"
        wsg(
            "release",
            w.id,
            "--out",
            str(out),
            "--batch-size",
            "2",
            "--server",
            run.address,
            "--identity",
            ALICE,
            "--insecure",
            "--json",
        )
        manifest = json.loads((out / "manifest.json").read_text())
        records = (out / "records.jsonl").read_bytes()
        lines = lines_of(run)

        vkey = run.gateway.data.verifier_key.read_text().strip()
        checkpoint = opened(manifest["audit_checkpoint"], vkey)
        proofs = manifest["audit_inclusion_proofs"]
        assert set(proofs) == {"last_batch", "completed"}
        for proof in proofs.values():
            assert set(proof) == {"tree_size", "index", "leaf", "proof"}
            assert proof["tree_size"] == checkpoint.size
            assert b64(proof["leaf"]) == lines[proof["index"]]
            verify_inclusion(
                leaf_hash(b64(proof["leaf"])),
                proof["index"],
                checkpoint.size,
                [b64(h) for h in proof["proof"]],
                checkpoint.root,
            )
            check_inclusion_json(proof, checkpoint.root)
        completed = json.loads(b64(proofs["completed"]["leaf"]))
        assert completed["event"] == "release.completed" and completed["warrant"] == w.id
        assert proofs["completed"]["index"] == manifest["audit_index"]
        assert completed["records_sha256"] == hashlib.sha256(records).hexdigest()
        last_batch = json.loads(b64(proofs["last_batch"]["leaf"]))
        assert last_batch["event"] == "release.batch"
        assert last_batch["batch"] == manifest["batches"] - 1
        assert 1 <= len(last_batch["records"]) <= 2
        assert last_batch["records"] == manifest["records"][-len(last_batch["records"]) :]
        assert checkpoint.root == root_of(lines[: checkpoint.size])

        _check_audit_binding(summary_from(manifest, records))  # the untouched package passes
        tampered = records[:20] + bytes([records[20] ^ 0x01]) + records[21:]  # one byte of record 1
        with pytest.raises(EvidenceError, match="other records"):
            _check_audit_binding(summary_from(manifest, tampered))
        # Nor can the proven entry be edited to name the changed file.
        renamed = b64(proofs["completed"]["leaf"]).replace(
            completed["records_sha256"].encode(), hashlib.sha256(tampered).hexdigest().encode()
        )
        forged = dict(proofs["completed"], leaf=base64.b64encode(renamed).decode())
        with pytest.raises(ProofError):
            check_inclusion_json(forged, checkpoint.root)

    @pytest.mark.sqlite_only  # reads the verifier key and log from DIR
    def test_a_package_on_disk_verifies_offline_and_tampering_is_named(
        self, start_gateway: Any, clock: Any, tmp_path: pathlib.Path
    ) -> None:
        """`wsg audit evidence DIR`: the package alone plus the verifier key prove the release;
        an edited record, a dropped record or a checkpoint from another key is refused."""
        run = start_gateway(ROWS)
        w = submit(run, clock, ALICE, ["account:u1"], ["message_content", "message_metadata"])
        approve(run, w.id)
        out = tmp_path / "evidence"
        wsg(
            "release",
            w.id,
            "--out",
            str(out),
            "--batch-size",
            "2",
            "--server",
            run.address,
            "--identity",
            ALICE,
            "--insecure",
        )
        data = str(run.gateway.data.root)
        ok = json.loads(wsg("audit", "evidence", str(out), "--data", data, "--json").stdout)
        assert ok == {
            "ok": True,
            "warrant": w.id,
            "records": json.loads((out / "manifest.json").read_text())["released"],
        }

        def broken(change: Any) -> str:
            copy = tmp_path / f"copy-{len(list(tmp_path.iterdir()))}"
            shutil.copytree(out, copy)
            change(copy)
            proc = wsg("audit", "evidence", str(copy), "--data", data, "--json", check=False)
            assert proc.returncode == 1, proc.stdout
            return json.loads(proc.stdout)["problem"]

        def edit_record(d: pathlib.Path) -> None:
            raw = (d / "records.jsonl").read_bytes()
            (d / "records.jsonl").write_bytes(raw[:20] + bytes([raw[20] ^ 1]) + raw[21:])

        def drop_record(d: pathlib.Path) -> None:
            lines = (d / "records.jsonl").read_bytes().splitlines(keepends=True)
            (d / "records.jsonl").write_bytes(b"".join(lines[1:]))
            manifest = json.loads((d / "manifest.json").read_text())
            manifest["records"] = manifest["records"][1:]
            manifest["files"]["records.jsonl"]["sha256"] = hashlib.sha256(
                b"".join(lines[1:])
            ).hexdigest()
            (d / "manifest.json").write_text(json.dumps(manifest))

        def foreign_checkpoint(d: pathlib.Path) -> None:
            manifest = json.loads((d / "manifest.json").read_text())
            checkpoint = Checkpoint.parse(manifest["audit_checkpoint"].rpartition("\n\n")[0] + "\n")
            other = NoteSigner.generate(checkpoint.origin)
            manifest["audit_checkpoint"] = sign_checkpoint(other, checkpoint)
            (d / "manifest.json").write_text(json.dumps(manifest))

        assert "sha256" in broken(edit_record)
        assert "other records" in broken(drop_record)
        assert "does not verify" in broken(foreign_checkpoint)

    def test_records_changed_in_transit_leave_no_package(
        self, start_gateway: Any, clock: Any, tmp_path: pathlib.Path
    ) -> None:
        """A record altered on the way (its per-record digest fixed up to match) no longer
        matches the audited records_sha256: write_package refuses and writes no manifest."""
        run = start_gateway(ROWS)
        w = submit(run, clock, ALICE, ["account:u1"], ["message_content"])
        approve(run, w.id)

        def altered(stream: Any) -> Any:
            for item in stream:
                if item.WhichOneof("item") == "batch":
                    record = item.batch.records[0]
                    record.payload = record.payload[:-1] + b',"added":"in transit"}'
                    record.sha256 = hashlib.sha256(record.payload).hexdigest()
                yield item

        out = tmp_path / "evidence"
        with run.client(ALICE) as alice:
            with pytest.raises(EvidenceError, match="do not match the digest the gateway audited"):
                write_package(out, w, altered(alice.release(w.id)))
        assert not (out / "manifest.json").exists() and not (out / "records.jsonl").exists()


# -- 6. health follows the audit log ----------------------------------------------------------


class TestHealth:
    @pytest.mark.sqlite_only  # breaks the log file; tests/test_postgres.py cuts the database
    def test_a_broken_audit_log_makes_the_gateway_not_serving(
        self, start_gateway: Any, clock: Any
    ) -> None:
        """Once an audit write fails, grpc.health.v1 says NOT_SERVING for the server and every
        service (so a load balancer stops sending work) and a new release is UNAVAILABLE."""
        run = start_gateway(ROWS)
        w = submit(run, clock, ALICE, ["account:u1"], ["message_content"])
        approve(run, w.id)
        names = ("", *SERVICE_NAMES)
        assert "wsg.v1.ReleaseService" in names

        def statuses() -> dict[str, int]:
            with grpc.insecure_channel(run.address) as channel:
                stub = health_pb2_grpc.HealthStub(channel)
                return {
                    n: stub.Check(health_pb2.HealthCheckRequest(service=n), timeout=5).status
                    for n in names
                }

        assert statuses() == dict.fromkeys(names, health_pb2.HealthCheckResponse.SERVING)
        full = os.open("/dev/full", os.O_WRONLY)
        os.dup2(full, run.gateway.audit.fileno())  # every later write to the log fails (ENOSPC)
        os.close(full)
        with run.client(CAROL) as carol:
            failed = refused(
                lambda: carol.submit(
                    make_spec(
                        ["account:u2"], ["logins"], JAN1, FEB1, clock.now + dt.timedelta(days=1)
                    )
                )
            )
        assert failed.code is grpc.StatusCode.UNAVAILABLE
        assert statuses() == dict.fromkeys(names, health_pb2.HealthCheckResponse.NOT_SERVING)

        received: list[Any] = []
        with run.client(ALICE) as alice:
            error = refused(lambda: received.extend(alice.release(w.id)))
        assert error.code is grpc.StatusCode.UNAVAILABLE and "audit log" in error.message
        assert not [i for i in received if i.WhichOneof("item") == "batch"]
