"""Submit with a request_id is idempotent (AIP-155), on both backends, durably: the same id and
spec from the same principal return the same warrant; the same id with another spec is
ALREADY_EXISTS; ids are per principal; concurrent retries make one warrant."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
from typing import Any

import grpc
import pytest
from fixtures_small import FEB1, JAN1, ROWS

from gateway.api.client import ClientError
from gateway.testing import make_spec

BOTH_BACKENDS = True


def spec(clock: Any, category: str = "message_content") -> Any:
    return make_spec(["account:u1"], [category], JAN1, FEB1, clock.now + dt.timedelta(days=30))


def submitted(run: Any) -> list[str]:
    return [e["warrant"] for e in run.entries() if e["event"] == "warrant.submitted"]


class TestIdempotentSubmit:
    def test_a_retry_returns_the_same_warrant(self, start_gateway: Any, clock: Any) -> None:
        """Twice the same id and spec: one warrant, one audit entry, the same reply."""
        run = start_gateway(ROWS)
        with run.client("alice") as alice:
            first = alice.submit(spec(clock), "ticket-7")
            again = alice.submit(spec(clock), "ticket-7")
            assert [w.id for w in alice.list()] == [first.id]
        assert again == first
        assert submitted(run) == [first.id]

    def test_the_same_id_with_another_spec_is_refused(self, start_gateway: Any, clock: Any) -> None:
        run = start_gateway(ROWS)
        with run.client("alice") as alice:
            first = alice.submit(spec(clock), "ticket-7")
            with pytest.raises(ClientError) as raised:
                alice.submit(spec(clock, "logins"), "ticket-7")
        assert raised.value.code is grpc.StatusCode.ALREADY_EXISTS
        assert raised.value.reason == "REQUEST_ID_REUSED"
        assert first.id in raised.value.message
        assert submitted(run) == [first.id]

    def test_ids_belong_to_their_principal(self, start_gateway: Any, clock: Any) -> None:
        """Another officer's id never returns (or blocks) someone else's warrant."""
        run = start_gateway(ROWS)
        with run.client("alice") as alice, run.client("carol") as carol:
            mine = alice.submit(spec(clock), "same-id")
            theirs = carol.submit(spec(clock, "logins"), "same-id")
        assert mine.id != theirs.id and theirs.submitted_by == "carol"

    def test_without_an_id_each_submit_is_new(self, start_gateway: Any, clock: Any) -> None:
        run = start_gateway(ROWS)
        with run.client("alice") as alice:
            a, b = alice.submit(spec(clock)), alice.submit(spec(clock))
        assert a.id != b.id

    def test_the_id_is_kept_across_a_restart(
        self, start_gateway: Any, clock: Any, tmp_path: Any
    ) -> None:
        """Stored with the warrant: a retry after the gateway restarted still finds it."""
        data = tmp_path / "kept"
        run = start_gateway(ROWS, data=data)
        with run.client("alice") as alice:
            first = alice.submit(spec(clock), "across-restart")
        run.gateway.stop(grace=None)
        start_gateway.started.remove(run.gateway)
        again = start_gateway(data=data)
        with again.client("alice") as alice:
            assert alice.submit(spec(clock), "across-restart").id == first.id

    def test_concurrent_retries_make_one_warrant(self, start_gateway: Any, clock: Any) -> None:
        run = start_gateway(ROWS)

        def go(_: int) -> str:
            with run.client("alice") as alice:
                return alice.submit(spec(clock), "burst").id

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            ids = set(pool.map(go, range(16)))
        assert len(ids) == 1
        assert submitted(run) == list(ids)

    @pytest.mark.parametrize("bad", ["x" * 129, "has space", "tab\there"])
    def test_a_bad_id_names_the_field(self, start_gateway: Any, clock: Any, bad: str) -> None:
        run = start_gateway(ROWS)
        with run.client("alice") as alice, pytest.raises(ClientError) as raised:
            alice.submit(spec(clock), bad)
        assert raised.value.code is grpc.StatusCode.INVALID_ARGUMENT
        assert raised.value.field == "request_id"
