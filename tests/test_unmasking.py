"""Unmasking under new process (issue 16): the identity behind a released pseudonym is disclosed
only under a new, separately approved request naming it (`pseudonym:<warrant>:<pseudonym>`),
resolved by recomputing the original warrant's pseudonyms; both warrants' entries link; a
pseudonym of another warrant, a forged one or one for no account resolves to nothing and says
so. Both backends."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import grpc
import pytest
from fixtures_small import FEB1, JAN1, ROWS, at

from gateway.api.client import ClientError
from gateway.api.v1 import wsg_pb2 as pb
from gateway.testing import make_spec

BOTH_BACKENDS = True

OFFICER, REVIEWER = "alice", "bob"
# The target (u1) writes about u2 by name and number: a mention the release pseudonymizes.
MENTION = {
    "kind": "message",
    "id": "m-mention",
    "room": "r-group",
    "sender": "u1",
    "sent_at": at(20),
    "body": "ask Friend about it",
}
FORGED = "pseud:" + "a" * 24


def approved_on_u1(run: Any, clock: Any) -> pb.Warrant:
    spec = make_spec(
        ["account:u1"],
        ["message_content", "memberships", "contacts"],
        JAN1,
        FEB1,
        clock.now + dt.timedelta(days=30),
        True,
    )
    with run.client(OFFICER) as officer:
        w = officer.submit(spec)
    with run.client(REVIEWER) as reviewer:
        return reviewer.approve(w.id)


def payloads(run: Any, warrant_id: str) -> dict[str, dict[str, Any]]:
    found = {}
    with run.client(OFFICER) as officer:
        for item in officer.release(warrant_id, 0):
            if item.WhichOneof("item") == "batch":
                for record in item.batch.records:
                    found[record.id] = json.loads(record.payload)
    return found


def unmasking_spec(clock: Any, target: str) -> pb.WarrantSpec:
    spec = make_spec([target], ["subscriber"], JAN1, FEB1, clock.now + dt.timedelta(days=30))
    spec.instrument = "us.subpoena"  # a subscriber-data request: the subscriber record only
    return spec


def submit(run: Any, clock: Any, target: str) -> pb.Warrant:
    with run.client(OFFICER) as officer:
        return officer.submit(unmasking_spec(clock, target))


def refused(run: Any, clock: Any, target: str) -> str:
    with run.client(OFFICER) as officer, pytest.raises(ClientError) as err:
        officer.submit(unmasking_spec(clock, target))
    assert err.value.code is grpc.StatusCode.INVALID_ARGUMENT
    return err.value.message


@pytest.fixture
def story(start_gateway: Any, clock: Any) -> tuple[Any, pb.Warrant, dict[str, dict[str, Any]]]:
    run = start_gateway([*ROWS, MENTION])
    original = approved_on_u1(run, clock)
    return run, original, payloads(run, original.id)


def pseudonyms_by_field(released: dict[str, dict[str, Any]]) -> dict[str, str]:
    """The pseudonyms of the release, by the field they stand in (the fixture says who each
    one must be: m3's sender and m4's recipient are u2, the crew's members u2 and u3, the
    mention in m-mention's text is u2, the contact is u2)."""
    mention = released["message_content:m-mention"]["body"].split()[1]
    crew = released["memberships:1"]["members"]
    sender = released["message_content:m3"]["sender"]
    return {
        "sender": sender,
        "recipient": released["message_content:m4"]["recipient"],
        "text mention": mention,
        "contact": released["contacts:1"]["contact"],
        "other member": next(p for p in crew if p != sender),
    }


EXPECTED = {
    "sender": "u2",
    "recipient": "u2",
    "text mention": "u2",
    "contact": "u2",
    "other member": "u3",
}


class TestUnmasking:
    @pytest.mark.parametrize("field", sorted(EXPECTED))
    def test_every_field_kind_unmasks_to_its_account_only_after_approval(
        self, story: Any, clock: Any, field: str
    ) -> None:
        run, original, released = story
        pseudonym = pseudonyms_by_field(released)[field]
        assert pseudonym.startswith("pseud:")
        target = f"pseudonym:{original.id}:{pseudonym}"
        entries_before = len(run.entries())
        request = submit(run, clock, target)
        account = EXPECTED[field]
        # Before approval the account is nowhere: not in the reply, a read, or any entry.
        assert list(request.target_accounts) == [target]
        with run.client(OFFICER) as officer:
            assert list(officer.get(request.id).target_accounts) == [target]
        written = json.dumps(run.entries()[entries_before:])
        assert f'"{account}"' not in written
        with run.client(REVIEWER) as reviewer:
            done = reviewer.approve(request.id)
        assert list(done.target_accounts) == [account]
        approval = next(
            e
            for e in run.entries()
            if e["event"] == "warrant.approved" and e["warrant"] == request.id
        )
        assert approval["unmasked"] == [
            {"warrant": original.id, "pseudonym": pseudonym, "account": account}
        ]
        link = [e for e in run.entries() if e["event"] == "pseudonym.unmasked"]
        assert [(e["warrant"], e["unmasked_by"], e["pseudonym"]) for e in link] == [
            (original.id, request.id, pseudonym)
        ]
        assert "account" not in link[0]  # the original's story names no account
        # The new request goes through its own tier: a subscriber record, nothing else.
        records = payloads(run, request.id)
        assert {r["category"] for r in records.values()} == {"subscriber"}
        assert {r["account"] for r in records.values()} == {account}

    def test_a_pseudonym_of_another_warrant_resolves_to_nothing(
        self, story: Any, clock: Any
    ) -> None:
        run, _, released = story
        other = approved_on_u1(run, clock)
        pseudonym = pseudonyms_by_field(released)["sender"]
        message = refused(run, clock, f"pseudonym:{other.id}:{pseudonym}")
        assert "resolves to nothing" in message and other.id in message
        refusal = [e for e in run.entries() if e["event"] == "warrant.submit_refused"][-1]
        assert "resolves to nothing" in refusal["why"]

    def test_a_forged_pseudonym_resolves_to_nothing(self, story: Any, clock: Any) -> None:
        run, original, _ = story
        assert "resolves to nothing" in refused(run, clock, f"pseudonym:{original.id}:{FORGED}")

    def test_an_identifier_pseudonym_names_no_account(self, story: Any, clock: Any) -> None:
        run, original, released = story
        room = released["memberships:1"]["room"]
        assert room.startswith("pseud-room:")
        message = refused(run, clock, f"pseudonym:{original.id}:{room}")
        assert "stands for a room that no account has" in message

    def test_a_warrant_never_approved_released_nothing(self, story: Any, clock: Any) -> None:
        run, _, released = story
        spec = make_spec(["account:u1"], ["contacts"], JAN1, FEB1, clock.now + dt.timedelta(1))
        with run.client(OFFICER) as officer:
            pending = officer.submit(spec)
        pseudonym = pseudonyms_by_field(released)["sender"]
        message = refused(run, clock, f"pseudonym:{pending.id}:{pseudonym}")
        assert "was never approved" in message

    @pytest.mark.parametrize(
        "target, says",
        [
            ("pseudonym:w-0000000000000000:" + FORGED, "no warrant w-0000000000000000"),
            ("pseudonym:w-00:" + FORGED, "is not WARRANT:PSEUDONYM"),
            ("pseudonym:w-0000000000000000:pseud:short", "is not WARRANT:PSEUDONYM"),
            ("pseudonym:" + FORGED, "is not WARRANT:PSEUDONYM"),
        ],
    )
    def test_malformed_or_unknown_is_refused_by_name(
        self, story: Any, clock: Any, target: str, says: str
    ) -> None:
        run, _, _ = story
        message = refused(run, clock, target)
        assert message.startswith("spec.targets[0]:") and says in message

    def test_a_look_up_never_unmasks(self, story: Any, clock: Any) -> None:
        run, original, released = story
        target = f"pseudonym:{original.id}:{pseudonyms_by_field(released)['sender']}"
        with run.client(OFFICER) as officer, pytest.raises(ClientError) as err:
            officer.lookup_account(target)
        assert err.value.code is grpc.StatusCode.INVALID_ARGUMENT
        assert "separately approved request" in err.value.message
        looked = [e for e in run.entries() if e["event"] == "account.looked_up"][-1]
        assert looked["account"] is None

    def test_a_rejected_request_never_discloses(self, story: Any, clock: Any) -> None:
        run, original, released = story
        pseudonym = pseudonyms_by_field(released)["sender"]
        request = submit(run, clock, f"pseudonym:{original.id}:{pseudonym}")
        with run.client(REVIEWER) as reviewer:
            rejected = reviewer.reject(request.id, "not enough")
        assert list(rejected.target_accounts) == list(request.target_accounts)
        assert not [e for e in run.entries() if e["event"] == "pseudonym.unmasked"]
