"""LookupAccount: "one account" or "none", nothing more; audited; limited by the API policy."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from fixtures_small import ROWS

from gateway.api.client import ClientError

BOTH_BACKENDS = True


class TestLookupAccount:
    def test_exactly_one_match_names_the_account_and_is_audited(self, start_gateway: Any) -> None:
        """A phone number of one account answers that account; the entry names who asked."""
        run = start_gateway(ROWS)
        with run.client("alice") as alice:
            reply = alice.lookup_account("phone:+821011112222")
        assert (reply.found, reply.account) == (True, "u1")
        last = run.entries()[-1]
        assert last["event"] == "account.looked_up"
        assert (last["principal"], last["target"], last["account"]) == (
            "alice",
            "phone:+821011112222",
            "u1",
        )

    @pytest.mark.parametrize("target", ["email:shared@example.org", "account:nobody"])
    def test_several_or_no_matches_are_the_same_none(self, start_gateway: Any, target: str) -> None:
        """Two accounts sharing an e-mail and no account at all give the same empty answer."""
        run = start_gateway(ROWS)
        with run.client("alice") as alice:
            reply = alice.lookup_account(target)
        assert (reply.found, reply.account) == (False, "")
        assert reply.ByteSize() == 0  # nothing more: not even a count
        last = run.entries()[-1]
        assert (last["event"], last["account"]) == ("account.looked_up", None)

    def test_a_malformed_target_is_invalid_argument_naming_it(self, start_gateway: Any) -> None:
        run = start_gateway(ROWS)
        with run.client("alice") as alice, pytest.raises(ClientError) as caught:
            alice.lookup_account("telephone:123")
        assert caught.value.code is grpc.StatusCode.INVALID_ARGUMENT
        assert caught.value.message.startswith("target: 'telephone:123' is not account:ID")

    def test_an_invisible_character_is_refused(self, start_gateway: Any) -> None:
        run = start_gateway(ROWS)
        with run.client("alice") as alice, pytest.raises(ClientError) as caught:
            alice.lookup_account("account:u\u202e1")
        assert caught.value.code is grpc.StatusCode.INVALID_ARGUMENT
        assert "U+202E" in caught.value.message

    def test_an_auditor_may_not_look_up_and_the_denial_is_audited(self, start_gateway: Any) -> None:
        run = start_gateway(ROWS)
        with run.client("audit1") as auditor, pytest.raises(ClientError) as caught:
            auditor.lookup_account("account:u1")
        assert caught.value.code is grpc.StatusCode.PERMISSION_DENIED
        last = run.entries()[-1]
        assert (last["event"], last["rpc"]) == ("api.denied", "LookupAccount")
        assert not any(e["event"] == "account.looked_up" for e in run.entries())
