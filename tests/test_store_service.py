"""`wsg store find` and `wsg store stats`: officers ask the gateway (they have no direct access
to the store), the API policy decides, and every look-up is audited, on both backends."""

from __future__ import annotations

import json
from typing import Any

import grpc
import pytest
from click.testing import CliRunner
from fixtures_small import ROWS

from gateway.api.client import ClientError
from gateway.cli import main

BOTH_BACKENDS = True


def cli(run: Any, who: str, *args: str) -> Any:
    return CliRunner().invoke(
        main, [*args, "--server", run.address, "--insecure", "--identity", who, "--json"]
    )


class TestFind:
    @pytest.mark.parametrize(
        ("target", "accounts"),
        [
            ("email:target@example.org", ["u1"]),
            ("phone:+821011112222", ["u1"]),
            ("account:u2", ["u2"]),
            ("email:shared@example.org", ["u3", "u4"]),  # two accounts: not a valid target
            ("email:nobody@example.org", []),
        ],
    )
    def test_finds_what_a_target_names_and_audits_it(
        self, start_gateway: Any, target: str, accounts: list[str]
    ) -> None:
        run = start_gateway(ROWS)
        result = cli(run, "alice", "store", "find", target)
        assert result.exit_code == 0, result.output
        assert sorted(json.loads(result.stdout)["accounts"]) == accounts
        last = run.entries()[-1]
        assert (last["event"], last["principal"], last["target"], last["matches"]) == (
            "store.searched",
            "alice",
            target,
            len(accounts),
        )

    def test_a_caller_without_the_role_is_refused_and_audited(self, start_gateway: Any) -> None:
        run = start_gateway(ROWS)
        with run.client("audit1") as auditor, pytest.raises(ClientError) as raised:
            auditor.find_accounts("account:u1")
        assert raised.value.code is grpc.StatusCode.PERMISSION_DENIED
        assert run.entries()[-1]["event"] == "api.denied"
        assert not any(e["event"] == "store.searched" for e in run.entries())

    @pytest.mark.parametrize(
        "bad",
        [
            "u1",
            "fax:123",
            "email:",
            "x" * 3000,
            "email:t\u0430rget@example.org",  # a Cyrillic a: a look-alike, as Submit refuses
            "phone:+8210\u200b11112222",  # an invisible character
            "@not a matrix id",
        ],
    )
    def test_a_malformed_target_names_the_field(self, start_gateway: Any, bad: str) -> None:
        """Refused as a warrant's target would be: one reading of a target for find, look-up
        and Submit; the attempt is audited all the same, with why (issue 13: a probe leaves
        a trace)."""
        run = start_gateway(ROWS)
        with run.client("alice") as alice, pytest.raises(ClientError) as raised:
            alice.find_accounts(bad)
        assert raised.value.code is grpc.StatusCode.INVALID_ARGUMENT
        assert raised.value.field == "target"
        searched = [e for e in run.entries() if e["event"] == "store.searched"]
        assert [(e["matches"], e["why"]) for e in searched] == [(0, raised.value.message)]

    def test_a_matrix_id_is_read_as_submit_reads_it(self, start_gateway: Any) -> None:
        """A bare @user:server is a Matrix target (no account of the reference store has one),
        audited in its normalized form, as LookupAccount writes it."""
        run = start_gateway(ROWS)
        with run.client("alice") as alice:
            assert list(alice.find_accounts(" @target:example.org ")) == []
        last = run.entries()[-1]
        assert (last["event"], last["target"]) == ("store.searched", "matrix:@target:example.org")


class TestStats:
    def test_counts_and_time_range(self, start_gateway: Any) -> None:
        run = start_gateway(ROWS)
        result = cli(run, "audit1", "store", "stats")
        assert result.exit_code == 0, result.output
        stats = json.loads(result.stdout)
        kinds = [r["kind"] for r in ROWS]
        assert stats["counts"] == {k: kinds.count(k) for k in set(kinds)}
        times = sorted(r["sent_at"] for r in ROWS if r["kind"] == "message")
        assert stats["messages"] == [times[0], times[-1]]
        assert run.entries()[-1]["event"] == "store.inspected"

    def test_nobody_without_a_role(self, start_gateway: Any) -> None:
        run = start_gateway(ROWS)
        result = cli(run, "mallory", "store", "stats")
        assert result.exit_code == 1 and "PERMISSION_DENIED" in result.stderr
