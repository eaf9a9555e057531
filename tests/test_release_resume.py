"""`wsg release ID --resume DIR`: an interrupted release continues from the last batch the
package holds; the kept batches are checked, not sent again; it is audited as a resumption
(release.resumed); the pseudonyms are the same and the finished records file is byte-identical
to an uninterrupted release's, its manifest equal but for the audit binding."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import pathlib
import time
from collections.abc import Iterable, Iterator
from typing import Any

import grpc
import pytest
from click.testing import CliRunner
from fixtures_small import FEB1, JAN1, ROWS

from gateway.api.client import ClientError
from gateway.api.package import PARTIAL, PROGRESS, Progress, resume_package, write_package
from gateway.api.v1 import wsg_pb2 as pb
from gateway.audit.evidence import MANIFEST, RECORDS, EvidenceError, verify_package
from gateway.audit.notes import NoteVerifier
from gateway.cli import main
from gateway.testing import make_spec

BOTH_BACKENDS = True
CATEGORIES = ["message_content", "message_metadata", "logins", "contacts", "memberships"]
BATCH = 2
AUDIT_BINDING = {"audit_index", "audit_checkpoint", "audit_inclusion_proofs"}


def approved(run: Any, clock: Any) -> pb.Warrant:
    with run.client("alice") as alice:
        w = alice.submit(
            make_spec(["account:u1"], CATEGORIES, JAN1, FEB1, clock.now + dt.timedelta(days=30))
        )
    with run.client("bob") as bob:
        bob.approve(w.id)
    with run.client("alice") as alice:
        return alice.get(w.id)


def cut_after(stream: Iterable[pb.ReleaseResponse], batches: int) -> Iterator[pb.ReleaseResponse]:
    """The stream until `batches` batches arrived, then a dropped connection."""
    seen = 0
    for item in stream:
        yield item
        seen += item.WhichOneof("item") == "batch"
        if seen == batches:
            raise ClientError(grpc.StatusCode.UNAVAILABLE, "connection dropped")


def interrupted(run: Any, w: pb.Warrant, out: pathlib.Path, batches: int) -> None:
    with run.client("alice") as alice, pytest.raises(ClientError):
        write_package(out, w, cut_after(alice.release(w.id, BATCH), batches), batch_size=BATCH)
    deadline = time.monotonic() + 10
    while run.gateway.releases_in_flight:  # the server notices the cut at its next batch
        assert time.monotonic() < deadline
        time.sleep(0.01)


def resume(run: Any, w: pb.Warrant, out: pathlib.Path) -> dict[str, Any]:
    with run.client("alice") as alice:
        return resume_package(out, w, lambda size, held: alice.release(w.id, size, held))


def verifier(run: Any) -> list[NoteVerifier]:
    return [NoteVerifier.from_key(run.gateway.checkpoints.verifier_key)]


class TestResume:
    def test_the_resumed_package_is_the_uninterrupted_one(
        self, start_gateway: Any, clock: Any, tmp_path: pathlib.Path
    ) -> None:
        """Cut after 2 batches, resumed: records.jsonl byte for byte, the manifest but for its
        audit binding; both verify; the log shows the resumption and no batch sent twice."""
        run = start_gateway(ROWS)
        w = approved(run, clock)
        whole, cut = tmp_path / "whole", tmp_path / "cut"
        with run.client("alice") as alice:
            expected = write_package(whole, w, alice.release(w.id, BATCH))
        assert expected["batches"] > 3
        interrupted(run, w, cut, 2)
        assert not (cut / RECORDS).exists() and Progress.read(cut).batches == 2
        kept_sha256 = Progress.read(cut).records_sha256
        before = len(run.entries())
        manifest = resume(run, w, cut)
        records = (cut / RECORDS).read_bytes()
        assert records == (whole / RECORDS).read_bytes()
        assert b"pseud:" in records  # third parties pseudonymized, with the same pseudonyms
        same = {k: v for k, v in manifest.items() if k not in AUDIT_BINDING}
        assert same == {k: v for k, v in expected.items() if k not in AUDIT_BINDING}
        assert not (cut / PROGRESS).exists() and not (cut / PARTIAL).exists()
        for package in (whole, cut):
            verify_package(package, verifier(run))
        run_entries = run.entries()[before:]
        kinds = [e["event"] for e in run_entries]
        assert kinds[0] == "release.resumed" and kinds[-1] == "release.completed"
        resumed = run_entries[0]
        assert resumed["batches"] == 2
        assert resumed["records_sha256"] == kept_sha256
        held = next(e for e in run.entries() if e["index"] == resumed["resumed_from"])
        assert (held["event"], held["batch"]) == ("release.batch", 1)
        sent_again = [e["batch"] for e in run_entries if e["event"] == "release.batch"]
        assert sent_again == list(range(2, expected["batches"]))

    def test_all_batches_kept_but_no_summary(
        self, start_gateway: Any, clock: Any, tmp_path: pathlib.Path
    ) -> None:
        """Cut after the last batch: the resumption sends no batch, only the summary."""
        run = start_gateway(ROWS)
        w = approved(run, clock)
        whole, cut = tmp_path / "whole", tmp_path / "cut"
        with run.client("alice") as alice:
            expected = write_package(whole, w, alice.release(w.id, BATCH))
        interrupted(run, w, cut, expected["batches"])
        resume(run, w, cut)
        assert (cut / RECORDS).read_bytes() == (whole / RECORDS).read_bytes()
        verify_package(cut, verifier(run))

    def test_records_that_differ_are_refused_by_the_gateway(
        self, start_gateway: Any, clock: Any, tmp_path: pathlib.Path
    ) -> None:
        """Kept records the gateway would not make now (here: edited, digest recomputed to
        match): FAILED_PRECONDITION RESUME_MISMATCH, audited, nothing more sent."""
        run = start_gateway(ROWS)
        w = approved(run, clock)
        cut = tmp_path / "cut"
        interrupted(run, w, cut, 2)
        held = Progress.read(cut)
        data = (cut / PARTIAL).read_bytes()[: held.bytes].replace(b'"u1"', b'"u9"', 1)
        assert data != (cut / PARTIAL).read_bytes()[: held.bytes]
        (cut / PARTIAL).write_bytes(data)
        Progress(
            held.warrant,
            held.batch_size,
            held.batches,
            len(data),
            hashlib.sha256(data).hexdigest(),
            held.last_batch_audit_index,
        ).write(cut)
        with pytest.raises(ClientError) as raised:
            resume(run, w, cut)
        assert raised.value.code is grpc.StatusCode.FAILED_PRECONDITION
        assert raised.value.reason == "RESUME_MISMATCH"
        last = run.entries()[-1]
        assert last["event"] == "release.stopped" and "resume refused" in last["why"]
        assert not (cut / MANIFEST).exists()

    def test_a_damaged_partial_file_is_found_before_asking(
        self, start_gateway: Any, clock: Any, tmp_path: pathlib.Path
    ) -> None:
        run = start_gateway(ROWS)
        w = approved(run, clock)
        cut = tmp_path / "cut"
        interrupted(run, w, cut, 2)
        (cut / PARTIAL).write_bytes(b"{}\n")
        before = len(run.entries())
        with pytest.raises(EvidenceError, match="damaged"):
            resume(run, w, cut)
        assert len(run.entries()) == before  # the gateway was not even asked

    def test_a_batch_entry_of_another_release_is_refused(
        self, start_gateway: Any, clock: Any, tmp_path: pathlib.Path
    ) -> None:
        """The last kept batch must name that batch's release.batch entry of this warrant."""
        run = start_gateway(ROWS)
        w = approved(run, clock)
        cut = tmp_path / "cut"
        interrupted(run, w, cut, 2)
        held = Progress.read(cut)
        bad = pb.ReleaseResume(
            batches=held.batches,
            records_sha256=held.records_sha256,
            last_batch_audit_index=held.last_batch_audit_index - 1,  # batch 0's entry
        )
        with run.client("alice") as alice, pytest.raises(ClientError) as raised:
            list(alice.release(w.id, BATCH, bad))
        assert raised.value.code is grpc.StatusCode.FAILED_PRECONDITION
        assert "last_batch_audit_index" in raised.value.message

    def test_a_package_of_another_warrant_is_refused(
        self, start_gateway: Any, clock: Any, tmp_path: pathlib.Path
    ) -> None:
        """A's kept batches offered as B's: the client refuses before asking; with the progress
        file forged to name B and B's own batch entry, the gateway refuses (B's pseudonyms make
        other bytes), audited, and nothing of B is sent."""
        run = start_gateway(ROWS)
        a, b = approved(run, clock), approved(run, clock)
        cut_a, cut_b = tmp_path / "a", tmp_path / "b"
        interrupted(run, a, cut_a, 2)
        before = len(run.entries())
        with pytest.raises(EvidenceError, match=f"release of {a.id}, not of {b.id}"):
            resume(run, b, cut_a)
        assert len(run.entries()) == before  # the gateway was not asked
        interrupted(run, b, cut_b, 2)
        forged = dataclasses.replace(
            Progress.read(cut_a),
            warrant=b.id,
            last_batch_audit_index=Progress.read(cut_b).last_batch_audit_index,
        )
        forged.write(cut_a)
        before = len(run.entries())
        with pytest.raises(ClientError) as raised:
            resume(run, b, cut_a)
        assert raised.value.reason == "RESUME_MISMATCH"
        written = [e["event"] for e in run.entries()[before:]]
        assert written == ["release.resumed", "release.stopped"]
        assert not (cut_a / MANIFEST).exists()


class TestCli:
    def test_release_resume_finishes_the_package(
        self, start_gateway: Any, clock: Any, tmp_path: pathlib.Path
    ) -> None:
        """`wsg release ID --resume DIR` finishes the package; --out with --resume is refused."""
        run = start_gateway(ROWS)
        w = approved(run, clock)
        cut = tmp_path / "cut"
        interrupted(run, w, cut, 2)
        args = ["--server", run.address, "--insecure", "--identity", "alice", "--json"]
        result = CliRunner().invoke(main, ["release", w.id, "--resume", str(cut), *args])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["out"] == str(cut)
        verify_package(cut, verifier(run))
        both = CliRunner().invoke(
            main, ["release", w.id, "--resume", str(cut), "--out", str(cut), *args]
        )
        assert both.exit_code == 2 and "either --out" in both.stderr
