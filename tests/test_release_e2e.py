"""End to end over real gRPC: warrant lifecycle and release on a real SQLite store."""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
from typing import Any

import grpc
import pytest
from fixtures_small import FEB1, JAN1, NON_TARGETS, ROWS, many_messages, strings_in

from gateway.api.client import ClientError
from gateway.api.package import write_package
from gateway.api.v1 import wsg_pb2 as pb
from gateway.audit.files import read_entries
from gateway.testing import make_spec

BOTH_BACKENDS = True  # every gateway test here also runs on the real PostgreSQL (conftest)

OFFICER, REVIEWER = "alice", "bob"


def approved(
    run: Any,
    clock: Any,
    categories: list[str],
    targets: list[str] | None = None,
    received_direct: bool = False,
) -> pb.Warrant:
    with run.client(OFFICER) as officer:
        w = officer.submit(
            make_spec(
                targets or ["phone:+821011112222"],
                categories,
                JAN1,
                FEB1,
                clock.now + dt.timedelta(days=30),
                received_direct,
            )
        )
    with run.client(REVIEWER) as reviewer:
        return reviewer.approve(w.id)


def release_to(
    run: Any, warrant: pb.Warrant, out: pathlib.Path, batch_size: int = 0
) -> dict[str, Any]:
    with run.client(OFFICER) as officer:
        return write_package(out, warrant, officer.release(warrant.id, batch_size))


class TestRelease:
    def test_exactly_the_targets_in_window_messages_leave(
        self, start_gateway: Any, clock: Any, tmp_path: pathlib.Path
    ) -> None:
        """Own messages in [start, end) leave; group and direct peers' messages are withheld."""
        run = start_gateway(ROWS)
        w = approved(run, clock, ["message_content"])
        manifest = release_to(run, w, tmp_path / "out")
        lines = (tmp_path / "out" / "records.jsonl").read_text().splitlines()
        ids = sorted(json.loads(line)["id"] for line in lines)
        assert ids == ["message_content:m1", "message_content:m4", "message_content:m7"]
        assert manifest["withheld"] == {"group_peer": 1, "direct_peer_not_requested": 1}
        assert manifest["released"] == 3

    def test_received_direct_messages_leave_with_author_pseudonymized(
        self, start_gateway: Any, clock: Any, tmp_path: pathlib.Path
    ) -> None:
        """With include_received_direct the peer's direct message leaves, its author a pseudonym."""
        run = start_gateway(ROWS)
        w = approved(run, clock, ["message_content"], received_direct=True)
        release_to(run, w, tmp_path / "out")
        records = [
            json.loads(x) for x in (tmp_path / "out" / "records.jsonl").read_text().splitlines()
        ]
        m3 = next(r for r in records if r["id"] == "message_content:m3")
        assert m3["sender"].startswith("pseud:") and m3["recipient"] == "u1"

    def test_no_third_party_identifier_in_any_output(
        self, start_gateway: Any, clock: Any, tmp_path: pathlib.Path
    ) -> None:
        """Every category released; not one non-target identifier appears in records or manifest."""
        run = start_gateway(ROWS)
        w = approved(
            run,
            clock,
            [
                "subscriber",
                "logins",
                "message_metadata",
                "message_content",
                "memberships",
                "contacts",
            ],
            received_direct=True,
        )
        manifest = release_to(run, w, tmp_path / "out")
        out_strings = strings_in(manifest)
        for line in (tmp_path / "out" / "records.jsonl").read_text().splitlines():
            out_strings |= strings_in(json.loads(line))
        assert not out_strings & NON_TARGETS
        assert manifest["released_by_category"]["subscriber"] == 1
        assert manifest["released_by_category"]["contacts"] == 1
        assert manifest["pseudonymized_parties"] >= 2

    def test_digests_match_audit_entries(
        self, start_gateway: Any, clock: Any, tmp_path: pathlib.Path
    ) -> None:
        """Each released record's sha256 is named by a release.batch entry written for it."""
        run = start_gateway(ROWS)
        w = approved(run, clock, ["message_content", "message_metadata"])
        manifest = release_to(run, w, tmp_path / "out", batch_size=2)
        audited = {
            (rid, digest)
            for e in run.entries()
            if e["event"] == "release.batch"
            for rid, digest in e["records"]
        }
        assert {tuple(r) for r in manifest["records"]} == audited
        assert manifest["batches"] == 3

    def test_pseudonyms_differ_between_warrants(
        self, start_gateway: Any, clock: Any, tmp_path: pathlib.Path
    ) -> None:
        """The same third party gets unlinkable pseudonyms under two warrants."""
        run = start_gateway(ROWS)
        seen = []
        for n in range(2):
            w = approved(run, clock, ["contacts"])
            release_to(run, w, tmp_path / f"out{n}")
            record = json.loads((tmp_path / f"out{n}" / "records.jsonl").read_text())
            seen.append(record["contact"])
        assert seen[0] != seen[1] and all(s.startswith("pseud:") for s in seen)


class TestLifecycle:
    def test_two_person_rule(self, start_gateway: Any, clock: Any) -> None:
        """The submitter cannot approve or reject their own warrant."""
        run = start_gateway(ROWS)
        with run.client(OFFICER) as officer:
            w = officer.submit(
                make_spec(["account:u1"], ["logins"], JAN1, FEB1, clock.now + dt.timedelta(days=1))
            )
            for action in (officer.approve, officer.reject):
                with pytest.raises(ClientError) as err:
                    action(w.id)
                assert err.value.code is grpc.StatusCode.PERMISSION_DENIED
            assert officer.get(w.id).state == pb.WARRANT_STATE_SUBMITTED

    @pytest.mark.parametrize(
        "setup, action",
        [
            ([], "revoke"),
            (["approve"], "approve"),
            (["approve"], "reject"),
            (["reject"], "approve"),
            (["reject"], "reject"),
            (["reject"], "revoke"),
            (["approve", "revoke"], "approve"),
            (["approve", "revoke"], "revoke"),
            (["approve", "revoke"], "reject"),
        ],
    )
    def test_illegal_transitions_fail_precondition(
        self, start_gateway: Any, clock: Any, setup: list[str], action: str
    ) -> None:
        """Every transition the state machine lacks is refused and changes nothing."""
        run = start_gateway(ROWS)
        with run.client(OFFICER) as officer:
            w = officer.submit(
                make_spec(["account:u1"], ["logins"], JAN1, FEB1, clock.now + dt.timedelta(days=1))
            )
        with run.client(REVIEWER) as reviewer:
            for step in setup:
                getattr(reviewer, step)(w.id)
            before = reviewer.get(w.id).state
            with pytest.raises(ClientError) as err:
                getattr(reviewer, action)(w.id)
            assert err.value.code is grpc.StatusCode.FAILED_PRECONDITION
            assert reviewer.get(w.id).state == before

    def test_expired_warrant_is_expired_and_releases_nothing(
        self, start_gateway: Any, clock: Any, tmp_path: pathlib.Path
    ) -> None:
        """Past expires_at an APPROVED warrant reads EXPIRED and a release is refused."""
        run = start_gateway(ROWS)
        w = approved(run, clock, ["message_content"])
        clock.advance(days=31)
        with run.client(OFFICER) as officer:
            assert officer.get(w.id).state == pb.WARRANT_STATE_EXPIRED
            with pytest.raises(ClientError) as err:
                list(officer.release(w.id))
        assert err.value.code is grpc.StatusCode.FAILED_PRECONDITION

    def test_unapproved_and_revoked_release_nothing(self, start_gateway: Any, clock: Any) -> None:
        """A SUBMITTED or REVOKED warrant yields no record at all."""
        run = start_gateway(ROWS)
        with run.client(OFFICER) as officer:
            w = officer.submit(
                make_spec(
                    ["account:u1"],
                    ["message_content"],
                    JAN1,
                    FEB1,
                    clock.now + dt.timedelta(days=1),
                )
            )
            with pytest.raises(ClientError) as err:
                list(officer.release(w.id))
            assert err.value.code is grpc.StatusCode.FAILED_PRECONDITION
        with run.client(REVIEWER) as reviewer:
            reviewer.approve(w.id)
            reviewer.revoke(w.id, "court withdrew it")
        with run.client(OFFICER) as officer:
            received: list[Any] = []
            with pytest.raises(ClientError):
                for item in officer.release(w.id):
                    received.append(item)
        assert not any(i.WhichOneof("item") == "batch" for i in received)

    def test_warrants_survive_a_restart(
        self, start_gateway: Any, clock: Any, tmp_path: pathlib.Path
    ) -> None:
        """State is durable: a new server on the same data directory knows the warrant."""
        run = start_gateway(ROWS)
        w = approved(run, clock, ["logins"])
        run.gateway.stop()
        again = start_gateway(data=run.gateway.data.root)
        with again.client(OFFICER) as officer:
            assert officer.get(w.id).state == pb.WARRANT_STATE_APPROVED
            assert [x.id for x in officer.list()] == [w.id]


class TestBadInput:
    @pytest.mark.parametrize(
        "targets, field",
        [
            (["email:shared@example.org"], "spec.targets[0]"),  # two accounts
            (["phone:+820000000000"], "spec.targets[0]"),  # none
            (["account:u1", "bogus:x"], "spec.targets[1]"),
            (["account:nobody"], "spec.targets[0]"),
        ],
    )
    def test_targets_must_resolve_to_exactly_one_account(
        self, start_gateway: Any, clock: Any, targets: list[str], field: str
    ) -> None:
        """A target matching zero or several accounts is INVALID_ARGUMENT naming the target."""
        run = start_gateway(ROWS)
        with run.client(OFFICER) as officer:
            with pytest.raises(ClientError) as err:
                officer.submit(
                    make_spec(targets, ["logins"], JAN1, FEB1, clock.now + dt.timedelta(days=1))
                )
            assert err.value.code is grpc.StatusCode.INVALID_ARGUMENT
            assert field in err.value.message
            assert officer.list() == []

    @pytest.mark.parametrize(
        "change, field",
        [
            ({"categories": ["everything"]}, "spec.categories[0]"),
            ({"categories": []}, "spec.categories"),
            ({"case_number": ""}, "spec.case_number"),
            ({"swap_window": True}, "spec.window"),
            ({"expired": True}, "spec.expires_at"),
            ({"document_sha256": "abc"}, "spec.document_sha256"),
        ],
    )
    def test_bad_spec_names_the_field(
        self, start_gateway: Any, clock: Any, change: dict[str, Any], field: str
    ) -> None:
        """Each malformed field gives INVALID_ARGUMENT with the field's name."""
        run = start_gateway(ROWS)
        change = dict(change)  # the parameter is shared by both backends' runs: never mutate it
        start, end = (FEB1, JAN1) if change.pop("swap_window", False) else (JAN1, FEB1)
        expires = (
            clock.now - dt.timedelta(days=1)
            if change.pop("expired", False)
            else clock.now + dt.timedelta(days=1)
        )
        spec = make_spec(["account:u1"], ["logins"], start, end, expires)
        for key, value in change.items():
            if isinstance(value, list):
                del getattr(spec, key)[:]
                getattr(spec, key).extend(value)
            else:
                setattr(spec, key, value)
        with run.client(OFFICER) as officer, pytest.raises(ClientError) as err:
            officer.submit(spec)
        assert err.value.code is grpc.StatusCode.INVALID_ARGUMENT
        assert field in err.value.message

    def test_missing_identity_is_unauthenticated(self, start_gateway: Any) -> None:
        """A call without a principal is refused before anything happens."""
        run = start_gateway(ROWS)
        from gateway.api.v1 import wsg_pb2_grpc as pb_grpc

        with grpc.insecure_channel(run.address) as channel:
            with pytest.raises(grpc.RpcError) as err:
                pb_grpc.WarrantServiceStub(channel).List(pb.WarrantServiceListRequest())
        assert err.value.code() is grpc.StatusCode.UNAUTHENTICATED

    def test_unknown_warrant_is_not_found(self, start_gateway: Any) -> None:
        """Get and Release of an id that does not exist give NOT_FOUND."""
        run = start_gateway(ROWS)
        with run.client(OFFICER) as officer:
            for call in (
                lambda: officer.get("w-0000000000000000"),
                lambda: list(officer.release("'; DROP TABLE warrants; --")),
            ):
                with pytest.raises(ClientError) as err:
                    call()
                assert err.value.code is grpc.StatusCode.NOT_FOUND


class TestAuditFailure:
    @pytest.mark.sqlite_only  # breaks the log file; tests/test_postgres.py cuts the database
    def test_unwritable_audit_log_releases_nothing(self, start_gateway: Any, clock: Any) -> None:
        """When the audit log cannot be written, no batch leaves and the caller gets UNAVAILABLE."""
        run = start_gateway(ROWS)
        w = approved(run, clock, ["message_content"])
        full = os.open("/dev/full", os.O_WRONLY)
        os.dup2(full, run.gateway.audit.fileno())  # the log's descriptor now fails every write
        os.close(full)
        received: list[Any] = []
        with run.client(OFFICER) as officer, pytest.raises(ClientError) as err:
            for item in officer.release(w.id):
                received.append(item)
        assert err.value.code is grpc.StatusCode.UNAVAILABLE
        assert not any(i.WhichOneof("item") == "batch" for i in received)

    @pytest.mark.sqlite_only
    def test_audit_failure_mid_release_leaves_no_unaudited_batch(
        self, start_gateway: Any, clock: Any, tmp_path: pathlib.Path
    ) -> None:
        """Every batch that reached the client is covered by an entry already on disk. (Enough
        records that the server cannot have finished before the disk fails: it writes one batch
        entry ahead of what it sends.)"""
        run = start_gateway(many_messages(2000))
        w = approved(run, clock, ["message_content", "message_metadata", "logins", "contacts"])
        log_path = run.gateway.data.audit_log
        got: list[tuple[str, str]] = []
        with run.client(OFFICER) as officer, pytest.raises(ClientError) as err:
            for item in officer.release(w.id, batch_size=1):
                if item.WhichOneof("item") == "batch":
                    got += [(r.id, r.sha256) for r in item.batch.records]
                    full = os.open("/dev/full", os.O_WRONLY)
                    os.dup2(full, run.gateway.audit.fileno())
                    os.close(full)
        assert err.value.code is grpc.StatusCode.UNAVAILABLE
        on_disk = {
            (rid, digest)
            for e in read_entries(log_path)
            if e["event"] == "release.batch"
            for rid, digest in e["records"]
        }
        assert got and set(got) <= on_disk
        # and the server now refuses other actions too (fail closed, no retried fsync)
        with run.client(REVIEWER) as reviewer, pytest.raises(ClientError) as again:
            reviewer.revoke(w.id)
        assert again.value.code is grpc.StatusCode.UNAVAILABLE
