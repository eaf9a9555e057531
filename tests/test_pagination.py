"""AIP-158 pagination on both lists: WarrantService.List and AuditService.ListEntries (which can
also start at an index, to resume reading a log). Tokens are bound to the request's other
fields; bad sizes and tokens are INVALID_ARGUMENT naming the field."""

from __future__ import annotations

import datetime as dt
from typing import Any

import grpc
import pytest
from fixtures_small import FEB1, JAN1, ROWS

from gateway.api.auth import PRINCIPAL_HEADER
from gateway.api.client import ClientError
from gateway.api.v1 import wsg_pb2 as pb
from gateway.api.v1 import wsg_pb2_grpc as pb_grpc
from gateway.testing import make_spec

BOTH_BACKENDS = True


def submit(run: Any, clock: Any, n: int) -> list[str]:
    spec = make_spec(
        ["account:u1"], ["message_content"], JAN1, FEB1, clock.now + dt.timedelta(days=30)
    )
    with run.client("alice") as alice:
        return [alice.submit(spec).id for _ in range(n)]


def list_page(channel: grpc.Channel, **request: Any) -> pb.WarrantServiceListResponse:
    return pb_grpc.WarrantServiceStub(channel).List(
        pb.WarrantServiceListRequest(**request), metadata=[(PRINCIPAL_HEADER, "alice")]
    )


def entries_page(channel: grpc.Channel, **request: Any) -> list[pb.ListEntriesResponse]:
    return list(
        pb_grpc.AuditServiceStub(channel).ListEntries(
            pb.ListEntriesRequest(**request), metadata=[(PRINCIPAL_HEADER, "audit1")]
        )
    )


class TestWarrantList:
    def test_pages_cover_every_warrant_once_newest_first(
        self, start_gateway: Any, clock: Any
    ) -> None:
        """Pages of 3 over 7 warrants: 3, 3, 1, each with a token but the last; a warrant
        submitted between pages neither repeats nor hides one."""
        run = start_gateway(ROWS)
        ids = submit(run, clock, 7)
        seen: list[str] = []
        sizes = []
        with grpc.insecure_channel(run.address) as channel:
            page = list_page(channel, page_size=3)
            while True:
                seen += [w.id for w in page.warrants]
                sizes.append(len(page.warrants))
                if not page.next_page_token:
                    break
                if len(sizes) == 1:
                    submit(run, clock, 1)  # newest: it belongs before the first page
                page = list_page(channel, page_size=3, page_token=page.next_page_token)
        assert sizes == [3, 3, 1]
        assert seen == ids[::-1]

    def test_the_deprecated_limit_still_limits(self, start_gateway: Any, clock: Any) -> None:
        run = start_gateway(ROWS)
        ids = submit(run, clock, 4)
        with grpc.insecure_channel(run.address) as channel:
            page = list_page(channel, limit=2)
        assert [w.id for w in page.warrants] == ids[::-1][:2] and page.next_page_token

    def test_the_client_follows_the_pages(self, start_gateway: Any, clock: Any) -> None:
        """Client.list gets every warrant however many pages that takes, or the first N."""
        run = start_gateway(ROWS)
        ids = submit(run, clock, 5)
        with run.client("alice") as alice:
            assert [w.id for w in alice.list()] == ids[::-1]
            assert [w.id for w in alice.list(limit=2)] == ids[::-1][:2]

    @pytest.mark.parametrize(
        ("request_fields", "field"),
        [
            ({"page_size": -1}, "page_size"),
            ({"page_token": "not-a-token"}, "page_token"),
            ({"page_token": "x" * 2000}, "page_token"),
        ],
    )
    def test_bad_sizes_and_tokens_name_the_field(
        self, start_gateway: Any, request_fields: dict[str, Any], field: str
    ) -> None:
        run = start_gateway(ROWS)
        with run.client("alice") as alice, pytest.raises(ClientError) as raised:
            alice._call(alice.warrants.List, pb.WarrantServiceListRequest(**request_fields))
        assert raised.value.code is grpc.StatusCode.INVALID_ARGUMENT
        assert raised.value.field == field

    def test_a_token_is_for_the_same_request_only(self, start_gateway: Any, clock: Any) -> None:
        """A token from a list of every state is refused for a list of SUBMITTED ones."""
        run = start_gateway(ROWS)
        submit(run, clock, 3)
        with grpc.insecure_channel(run.address) as channel:
            token = list_page(channel, page_size=1).next_page_token
            with pytest.raises(grpc.RpcError) as raised:
                list_page(channel, page_token=token, state=pb.WARRANT_STATE_SUBMITTED)
        assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "page_token" in raised.value.details()


class TestListEntries:
    def test_pages_chain_over_the_whole_log(self, start_gateway: Any, clock: Any) -> None:
        """Pages of 4 cover every entry once, in order; only the last page lacks a token."""
        run = start_gateway(ROWS)
        submit(run, clock, 5)
        everything = [e["index"] for e in run.entries()]
        seen: list[int] = []
        with grpc.insecure_channel(run.address) as channel:
            page = entries_page(channel, page_size=4)
            while True:
                assert len(page) <= 4
                assert all(not e.next_page_token for e in page[:-1])
                seen += [e.index for e in page]
                if not page or not page[-1].next_page_token:
                    break
                page = entries_page(channel, page_size=4, page_token=page[-1].next_page_token)
        assert seen == everything

    def test_resumes_from_an_index(self, start_gateway: Any, clock: Any) -> None:
        """start_index N: the entries from N on, those written since included."""
        run = start_gateway(ROWS)
        submit(run, clock, 2)
        with grpc.insecure_channel(run.address) as channel:
            first = entries_page(channel)
            resume_at = first[-1].index + 1
            assert entries_page(channel, start_index=resume_at) == []
            submit(run, clock, 1)
            later = entries_page(channel, start_index=resume_at)
        assert [e.index for e in later] == list(range(resume_at, resume_at + len(later)))
        assert later and all(b"warrant.submitted" in e.line for e in later)

    def test_the_client_follows_the_pages(self, start_gateway: Any, clock: Any) -> None:
        run = start_gateway(ROWS)
        submit(run, clock, 3)
        with run.client("audit1") as auditor:
            paged = list(auditor.entries(pb.ListEntriesRequest(page_size=2)))
            whole = list(auditor.entries(pb.ListEntriesRequest()))
        assert (
            [e.index for e in paged]
            == [e.index for e in whole]
            == [e["index"] for e in run.entries()]
        )

    def test_a_token_is_for_the_same_filters_only(self, start_gateway: Any, clock: Any) -> None:
        run = start_gateway(ROWS)
        ids = submit(run, clock, 3)
        with grpc.insecure_channel(run.address) as channel:
            token = entries_page(channel, page_size=1)[-1].next_page_token
            assert token
            with pytest.raises(grpc.RpcError) as raised:
                entries_page(channel, page_token=token, warrant_id=ids[0])
        assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "page_token" in raised.value.details()
