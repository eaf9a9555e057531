"""The console's pages for legal process as it arrives: the deadlines page, the dry-run figures
reviewers decide on, and a preservation's hold with its one extension; the same answers as
ListDue, Get and ExtendPreservation, through the same API policy and audit log."""

from __future__ import annotations

import datetime as dt
import html
import pathlib
import re
from collections.abc import Iterator
from typing import Any

import pytest
from console_http import ConsoleHttp
from fixtures_small import FEB1, JAN1, ROWS

from gateway.api.convert import spec_from_pb
from gateway.console.pages import relative
from gateway.identity.roles import bind_roles, roles_file
from gateway.model import Warrant
from gateway.testing import Clock, GatewayFactory, Running, make_spec

PEOPLE = {
    "off": "officer",
    "off2": "officer",
    "rev": "reviewer",
    "adm": "policy_admin",
    "aud": "auditor",
}


@pytest.fixture
def site(tmp_path: Any, clock: Clock) -> Iterator[Running]:
    data = tmp_path / "wsg-data"
    data.mkdir(mode=0o700)
    bind_roles(roles_file(data), list(PEOPLE.items()))
    factory = GatewayFactory(tmp_path, clock)
    yield factory(ROWS, data=data, console="127.0.0.1:0")
    problems = factory.stop_all()
    assert not problems, problems


def person(site: Running, name: str) -> ConsoleHttp:
    return ConsoleHttp.signed_in(site.console_url, name)


def submit(
    site: Running, clock: Clock, officer: str, days: int, case: str, instrument: str = ""
) -> Warrant:
    spec = make_spec(
        ["account:u1"], ["message_content"], JAN1, FEB1, clock.now + dt.timedelta(days=days)
    )
    spec.case_number = case
    spec.instrument = instrument
    return site.gateway.book.submit(spec_from_pb(spec), officer)


def words(page: str) -> str:
    """A page's text as a person reads it: tags gone, entities decoded, spaces folded."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def rows(page: str) -> dict[str, str]:
    """The deadlines table's rows, by warrant id: the row's text, tags stripped."""
    found = {}
    for row in re.findall(r'<tr class="due-row[^"]*">(.*?)</tr>', page, re.S):
        warrant = re.search(r"/warrants/(w-[0-9a-f]{16})", row)
        assert warrant is not None, row
        found[warrant.group(1)] = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", row)).split())
    return found


def passed(site: Running, warrant: str) -> list[dict[str, Any]]:
    return [e for e in site.entries() if e["event"] == "clock.passed" and e["warrant"] == warrant]


def test_each_person_sees_the_clocks_of_what_they_may_see(site: Running, clock: Clock) -> None:
    mine = submit(site, clock, "off", 3, "2026-DUE-MINE")
    theirs = submit(site, clock, "off2", 30, "2026-DUE-THEIRS")
    page = person(site, "off").get("/due")
    assert page.status == 200, page.error
    shown = rows(page.text)
    assert set(shown) == {mine.id}  # not another officer's request
    assert "due" in shown[mine.id].split() and "2026-DUE-MINE" in shown[mine.id]
    assert "expiry" in shown[mine.id] and "in 3 days" in shown[mine.id]
    assert "0 overdue · 1 due · 0 pending" in html.unescape(re.sub(r"<[^>]+>", "", page.text))
    assert set(rows(person(site, "rev").get("/due").text)) == {mine.id, theirs.id}
    pending = rows(person(site, "rev").get("/due?status=pending").text)
    assert set(pending) == {theirs.id}
    everything = rows(person(site, "rev").get("/due?status=nonsense").text)
    assert set(everything) == {mine.id, theirs.id}  # an unknown filter filters nothing


def test_a_passed_clock_is_overdue_and_audited_once_whoever_looks(
    site: Running, clock: Clock
) -> None:
    w = submit(site, clock, "off", 3, "2026-DUE-LATE")
    clock.advance(days=4)
    officer = person(site, "off")
    shown = rows(officer.get("/due").text)
    assert "overdue" in shown[w.id].split() and "1 day" not in shown[w.id]
    assert "ago" in shown[w.id]
    assert len(passed(site, w.id)) == 1 and passed(site, w.id)[0]["principal"] == "off"
    person(site, "rev").get("/due")
    assert len(passed(site, w.id)) == 1  # written once, by whoever looked first
    assert set(rows(officer.get("/due?status=overdue").text)) == {w.id}


def test_a_role_without_list_due_is_denied_and_audited(site: Running) -> None:
    before = site.gateway.audit.size
    reply = person(site, "adm").get("/due")
    assert reply.status == 403
    denied = [e for e in site.entries()[before:] if e["event"] == "api.denied"]
    assert [(e["principal"], e["rpc"]) for e in denied] == [("adm", "ListDue")]
    assert "/due" not in person(site, "adm").get("/").text  # and no link to it


def test_reviewers_see_the_dry_run_figures_before_they_decide(site: Running, clock: Clock) -> None:
    w = submit(site, clock, "off", 3, "2026-DUE-FIGURES")
    review = w.review
    assert review is not None and sum(review.in_scope.values()) > 0
    for path in ("/review", f"/warrants/{w.id}"):
        page = person(site, "rev").get(path)
        assert page.status == 200, page.error
        text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.text)).split())
        assert "Dry run at submission" in text, path
        assert f"Records in scope {sum(review.in_scope.values())}" in text, path
        assert f"Would be withheld {sum(review.withheld.values())}" in text, path
        assert f"Other people named {review.third_parties}, of whom" in text, path
        assert f"{review.pseudonymized_parties} would appear under a pseudonym" in text, path
        assert "no dry run" not in text


@pytest.mark.parametrize(
    ("offset", "said"),
    [
        (dt.timedelta(days=3, hours=5), "in 3 days"),
        (dt.timedelta(days=1, hours=23), "in 47 hours"),
        (dt.timedelta(hours=1, minutes=5), "in 1 hour"),
        (dt.timedelta(minutes=59), "within the hour"),
        (dt.timedelta(minutes=-1), "less than an hour ago"),
        (dt.timedelta(hours=-2), "2 hours ago"),
        (dt.timedelta(days=-9), "9 days ago"),
    ],
)
def test_times_are_told_from_now_in_the_largest_whole_unit(offset: dt.timedelta, said: str) -> None:
    now = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    assert relative(now + offset, now) == said


def test_a_request_that_expired_undecided_says_so_in_the_queue(site: Running, clock: Clock) -> None:
    w = submit(site, clock, "off", 2, "2026-DUE-UNDECIDED")
    clock.advance(days=3)
    text = " ".join(
        html.unescape(re.sub(r"<[^>]+>", " ", person(site, "rev").get("/review").text)).split()
    )
    assert "expired 24 hours ago: it can no longer be approved" in text
    assert "expires within the hour" not in text
    assert w.id in text
    page = person(site, "rev").get("/review").text
    assert f'id="reject-{w.id}"' in page and f'id="approve-{w.id}"' not in page


def test_a_preservation_shows_its_hold_and_is_extended_once_from_its_page(
    site: Running, clock: Clock
) -> None:
    w = submit(site, clock, "off", 400, "2026-HOLD-1", instrument="preservation")
    site.gateway.book.approve(w.id, "rev", "")
    hold = site.gateway.book.holds.hold(w.id)
    officer = person(site, "off")
    page = officer.get(f"/warrants/{w.id}")
    text = words(page.text)
    assert f"{hold.records} record" in text and hold.content_sha256 in text
    assert "Extended not yet" in text and "in 90 days" in text
    assert 'id="extend-hold"' in page.text
    assert 'id="download-release"' not in page.text  # a preservation releases nothing itself
    reply = officer.post(f"/warrants/{w.id}/extend-hold", {"reason": "the case goes on"})
    assert reply.status == 303, reply.error
    (extended,) = [e for e in site.entries() if e["event"] == "preservation.extended"]
    assert (extended["principal"], extended["reason"]) == ("off", "the case goes on")
    page = officer.get(f"/warrants/{w.id}")
    assert "Extended by off" in words(page.text) and "in 180 days" in words(page.text)
    assert 'id="extend-hold"' not in page.text  # once
    again = officer.post(f"/warrants/{w.id}/extend-hold", {"reason": "again"})
    assert again.status == 409 and "extended once" in again.error
    assert [e["why"] for e in site.entries() if e["event"] == "preservation.extended_refused"]


def test_only_those_the_api_policy_lets_extend_see_the_form(site: Running, clock: Clock) -> None:
    w = submit(site, clock, "off", 400, "2026-HOLD-2", instrument="preservation")
    site.gateway.book.approve(w.id, "rev", "")
    other = person(site, "off2")  # another officer: not their request
    assert other.get(f"/warrants/{w.id}").status == 403
    before = site.gateway.audit.size
    reply = other.post(f"/warrants/{w.id}/extend-hold", {"reason": "mine now"})
    assert reply.status == 403
    denied = [e for e in site.entries()[before:] if e["event"] == "api.denied"]
    assert [(e["principal"], e["rpc"]) for e in denied] == [("off2", "ExtendPreservation")]
    assert site.gateway.book.holds.hold(w.id).extended_at is None


def test_a_request_that_is_not_a_preservation_shows_no_hold(site: Running, clock: Clock) -> None:
    w = submit(site, clock, "off", 30, "2026-HOLD-3")
    site.gateway.book.approve(w.id, "rev", "")
    page = person(site, "off").get(f"/warrants/{w.id}").text
    assert 'id="hold"' not in page and 'id="extend-hold"' not in page


def released_and_queued(site: Running, clock: Clock, case: str) -> Warrant:
    w = submit(site, clock, "off", 30, case)
    site.gateway.book.approve(w.id, "rev", "")
    with site.client("off") as officer:
        items = list(officer.release(w.id, 0))
    assert items[-1].WhichOneof("item") == "summary" and items[-1].summary.released > 0
    site.gateway.book.notices.sweep()
    return w


def test_a_requests_notices_are_shown_queued_then_sent(site: Running, clock: Clock) -> None:
    w = released_and_queued(site, clock, "2026-NOTICE-1")
    (notice,) = site.gateway.book.notices.of_warrant(w)[0]
    page = person(site, "off").get(f"/warrants/{w.id}").text
    table = words(page[page.index('id="notice-list"') :])
    assert f"u1 {notice.id}" in table and "not yet" in table
    site.gateway.book.notices.mark_sent(notice.id, "delivery")
    page = person(site, "off").get(f"/warrants/{w.id}").text
    assert "by delivery" in words(page[page.index('id="notice-list"') :])
    assert 'id="defer-notices"' not in page  # an officer may not defer; and all are sent
    assert 'id="defer-notices"' not in person(site, "rev").get(f"/warrants/{w.id}").text
    waiting = submit(site, clock, "off", 30, "2026-NOTICE-WAITING")  # could not have released
    assert 'id="notices"' not in person(site, "rev").get(f"/warrants/{waiting.id}").text


def test_a_reviewer_defers_the_notices_under_a_court_order(site: Running, clock: Clock) -> None:
    w = released_and_queued(site, clock, "2026-NOTICE-2")
    reviewer = person(site, "rev")
    page = reviewer.get(f"/warrants/{w.id}").text
    assert 'id="defer-notices"' in page
    order = "ab" * 32
    until = (clock.now + dt.timedelta(days=200)).strftime("%Y-%m-%dT%H:%M")
    for fields, said in (
        ({"until": until, "order_sha256": "not-a-hash"}, "order_sha256:"),
        ({"until": "soon", "order_sha256": order}, "until:"),
        ({"until": "2020-01-01T00:00", "order_sha256": order}, "is not in the future"),
    ):
        reply = reviewer.post(f"/warrants/{w.id}/defer-notices", fields)
        assert reply.status == 400 and said in reply.error, (fields, reply.error)
    assert not [e for e in site.entries() if e["event"] == "notice.deferred"]
    reply = reviewer.post(
        f"/warrants/{w.id}/defer-notices", {"until": until, "order_sha256": order}
    )
    assert reply.status == 303, reply.error
    (deferred,) = [e for e in site.entries() if e["event"] == "notice.deferred"]
    assert (deferred["principal"], deferred["order_sha256"], deferred["notices"]) == (
        "rev",
        order,
        1,
    )
    text = words(reviewer.get(f"/warrants/{w.id}").text)
    shown = text[text.index("User notices") :]
    day = until.replace("T", " ")
    assert f"Deferred until {day} UTC by a court order (sha256 {order} )" in shown, shown[:600]
    assert f"u1 {site.gateway.book.notices.of_warrant(w)[0][0].id} {day} UTC" in shown  # moved


def test_an_officer_may_not_defer_notices(site: Running, clock: Clock) -> None:
    w = released_and_queued(site, clock, "2026-NOTICE-3")
    before = site.gateway.audit.size
    reply = person(site, "off").post(
        f"/warrants/{w.id}/defer-notices", {"until": "2027-01-01T00:00", "order_sha256": "ab" * 32}
    )
    assert reply.status == 403
    denied = [e for e in site.entries()[before:] if e["event"] == "api.denied"]
    assert [(e["principal"], e["rpc"]) for e in denied] == [("off", "DeferNotice")]


def test_a_log_changed_behind_the_gateways_back_gives_no_report(
    site: Running, clock: Clock
) -> None:
    """The report is computed only over entries that give the signed checkpoint's root: a
    changed entry stops it on both edges (FAILED_PRECONDITION), with no figures."""
    import grpc

    from gateway.api.client import ClientError

    submit(site, clock, "off", 30, "2026-REPORT-1")
    site.gateway.reader.checkpoint()  # signed over the submission
    log = pathlib.Path(site.gateway.audit.location)
    lines = log.read_bytes().split(b"\n")
    lines[0] = lines[0].replace(b'"principal":"off"', b'"principal":"ofg"')
    log.write_bytes(b"\n".join(lines))
    reply = person(site, "aud").get("/audit/report?from=2026-01-01&to=2027-01-01")
    assert reply.status == 409
    shown = words(reply.text)
    assert "no transparency report: the log's first" in shown and "(the log was changed)" in shown
    assert 'id="report-figures"' not in reply.text
    with site.client("aud") as auditor, pytest.raises(ClientError) as err:
        auditor.transparency_report(
            dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
        )
    assert err.value.code is grpc.StatusCode.FAILED_PRECONDITION
    assert "the log was changed" in err.value.message
