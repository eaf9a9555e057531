"""The overbreadth review (issue 15): a dry run at submission that releases nothing, its figures
shown to reviewers and kept in the approval's entry, and a second reviewer above thresholds."""

from __future__ import annotations

import datetime as dt
import pathlib
import shutil
from typing import Any

import grpc
import pytest
from fixtures_small import FEB1, JAN1, ROWS

from gateway.api.client import ClientError
from gateway.api.package import write_package
from gateway.api.v1 import wsg_pb2 as pb
from gateway.cli.common import review_rows
from gateway.policy.instruments import CATALOGUE_FILE
from gateway.settings import DEFAULT_POLICY_DIR
from gateway.testing import make_spec

BOTH_BACKENDS = True

OFFICER, REVIEWER, SECOND = "alice", "bob", "carol"
ALL = [
    "subscriber",
    "logins",
    "message_metadata",
    "message_content",
    "memberships",
    "contacts",
]


def submit(run: Any, clock: Any, categories: list[str], received: bool = False) -> pb.Warrant:
    with run.client(OFFICER) as officer:
        return officer.submit(
            make_spec(
                ["phone:+821011112222"],
                categories,
                JAN1,
                FEB1,
                clock.now + dt.timedelta(days=30),
                received,
            )
        )


def policies_with(tmp_path: pathlib.Path, review: str, drop_api: str = "") -> pathlib.Path:
    """The shipped policies with the catalogue's `review:` block replaced (and an API row
    dropped)."""
    directory = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICY_DIR, directory)
    catalogue = directory / CATALOGUE_FILE
    text = catalogue.read_text()
    catalogue.write_text(text[: text.index("review:")] + review)
    if drop_api:
        api = directory / "api_policy.csv"
        api.write_text(api.read_text().replace(drop_api + "\n", ""))
    return directory


def entries(run: Any, kind: str) -> list[dict[str, Any]]:
    return [e for e in run.entries() if e["event"] == kind]


class TestDryRun:
    @pytest.mark.parametrize("received", [False, True])
    def test_the_figures_equal_what_the_release_then_does(
        self, start_gateway: Any, clock: Any, tmp_path: pathlib.Path, received: bool
    ) -> None:
        """Withheld by reason, released by effect and pseudonymized parties: the dry run at
        submission says what the release after approval does, and releases nothing itself."""
        run = start_gateway(ROWS)
        w = submit(run, clock, ALL, received)
        assert not entries(run, "release.batch")  # the dry run released nothing
        review = w.review
        assert sum(review.in_scope.values()) == sum(review.released.values()) + sum(
            review.withheld.values()
        )
        with run.client(REVIEWER) as reviewer:
            approved = reviewer.approve(w.id)
        with run.client(OFFICER) as officer:
            manifest = write_package(tmp_path / "out", approved, officer.release(w.id, 0))
        assert dict(review.withheld) == manifest["withheld"]
        assert dict(review.released) == manifest["released_by_effect"]
        assert review.pseudonymized_parties == manifest["pseudonymized_parties"]
        assert review.third_parties >= review.pseudonymized_parties > 0
        assert review.group_rooms == 1  # the fixture's one group room
        withheld = sum(review.withheld.values())
        assert review.share_withheld == pytest.approx(
            withheld / sum(review.in_scope.values()), abs=1e-4
        )
        approval = entries(run, "warrant.approved")[0]
        assert approval["review"]["withheld"] == manifest["withheld"]
        assert approval["review"]["pseudonymized_parties"] == manifest["pseudonymized_parties"]

    def test_reviewers_see_the_figures(self, start_gateway: Any, clock: Any) -> None:
        run = start_gateway(ROWS)
        w = submit(run, clock, ["message_content"])
        with run.client(REVIEWER) as reviewer:
            shown = reviewer.get(w.id)
        assert shown.review == w.review and shown.review.in_scope["message_content"] > 0
        rows = dict(review_rows(shown))
        assert rows["reviewers needed"] == "1"
        assert "group_peer" in rows["would withhold"]


class TestSecondReviewer:
    def test_many_third_parties_need_two_approvals(
        self, start_gateway: Any, clock: Any, tmp_path: pathlib.Path
    ) -> None:
        run = start_gateway(
            ROWS, policy_dir=policies_with(tmp_path, "review: {third_parties: 1}\n")
        )
        w = submit(run, clock, ALL)
        assert w.review.second_review and "third parties touched" in w.review.second_review[0]
        with run.client(REVIEWER) as first:
            after_first = first.approve(w.id, "looks right")
            assert after_first.state == pb.WARRANT_STATE_SUBMITTED
            assert after_first.first_approved_by == REVIEWER
            with pytest.raises(ClientError) as again:
                first.approve(w.id)
        assert again.value.code is grpc.StatusCode.PERMISSION_DENIED
        assert "approved warrant" in again.value.message and "first" in again.value.message
        with run.client(OFFICER) as officer, pytest.raises(ClientError) as own:
            officer.approve(w.id)
        assert own.value.code is grpc.StatusCode.PERMISSION_DENIED
        with run.client(SECOND) as second:
            done = second.approve(w.id)
        assert done.state == pb.WARRANT_STATE_APPROVED and done.decided_by == SECOND
        (first_entry,) = entries(run, "warrant.first_approval")
        (approval,) = entries(run, "warrant.approved")
        assert first_entry["principal"] == REVIEWER
        assert approval["first_approved_by"] == REVIEWER and approval["principal"] == SECOND
        assert first_entry["review"] == approval["review"]
        assert approval["review"]["third_parties"] == w.review.third_parties

    @pytest.mark.parametrize(
        "review, crossed",
        [
            ("review: {window_days: 10}\n", "a window of 31 days (more than 10)"),
            ("review: {content: true}\n", "message content requested"),
        ],
    )
    def test_window_and_content_thresholds(
        self, start_gateway: Any, clock: Any, tmp_path: pathlib.Path, review: str, crossed: str
    ) -> None:
        run = start_gateway(ROWS, policy_dir=policies_with(tmp_path, review))
        w = submit(run, clock, ["message_content"])
        assert list(w.review.second_review) == [crossed]
        narrow = submit(run, clock, ["subscriber"])
        assert list(narrow.review.second_review) == ([crossed] if "window" in crossed else [])

    def test_the_api_policy_decides_who_may_be_second(
        self, start_gateway: Any, clock: Any, tmp_path: pathlib.Path
    ) -> None:
        run = start_gateway(
            ROWS,
            policy_dir=policies_with(
                tmp_path,
                "review: {third_parties: 1}\n",
                drop_api="p, reviewer, SecondReview, other",
            ),
        )
        w = submit(run, clock, ALL)
        with run.client(REVIEWER) as first:
            first.approve(w.id)
        with run.client(SECOND) as second, pytest.raises(ClientError) as err:
            second.approve(w.id)
        assert err.value.code is grpc.StatusCode.PERMISSION_DENIED
        assert "SecondReview" in err.value.message
        refused = entries(run, "warrant.approved_refused")
        assert refused and refused[-1]["principal"] == SECOND
        with run.client(SECOND) as second:
            assert second.get(w.id).state == pb.WARRANT_STATE_SUBMITTED
