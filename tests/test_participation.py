"""Participation (issue 16 part 4): where the catalogue requires it for an instrument
(`participation: required`, shipped for kr.search_warrant), message content is withheld as
participation_pending until a notice and then an attendance, objection or waiver are recorded,
each with its document's hash and audited; other categories and other instruments are
unaffected; a release started while pending withholds content to its end. Both backends."""

from __future__ import annotations

import datetime as dt
import json
import pathlib
import shutil
from collections import Counter
from typing import Any

import grpc
import pytest
from click.testing import CliRunner
from console_http import ConsoleHttp
from fixtures_small import FEB1, JAN1, ROWS

from gateway.api.client import ClientError
from gateway.api.v1 import wsg_pb2 as pb
from gateway.cli import main
from gateway.errors import FailedPrecondition
from gateway.identity.roles import bind_roles, roles_file
from gateway.policy import instruments
from gateway.settings import DEFAULT_POLICY_DIR
from gateway.testing import make_spec
from gateway.warrants.participation import PENDING_REASON

BOTH_BACKENDS = True

OFFICER, REVIEWER = "alice", "bob"  # each both officer and reviewer (gateway.testing)
OTHER_OFFICER, AUDITOR, NOBODY = "olga", "audit1", "mallory"  # olga: an officer only
TARGET = "phone:+821011112222"  # u1
CATEGORIES = ["subscriber", "logins", "message_metadata", "message_content", "memberships"]
NOTICE, ATTENDANCE, WAIVER, OBJECTION = ("a" * 64, "b" * 64, "c" * 64, "d" * 64)


def submitted(run: Any, clock: Any, instrument: str = "kr.search_warrant") -> pb.Warrant:
    spec = make_spec([TARGET], CATEGORIES, JAN1, FEB1, clock.now + dt.timedelta(days=30))
    spec.instrument = instrument
    with run.client(OFFICER) as officer:
        return officer.submit(spec)


def approved(run: Any, clock: Any, instrument: str = "kr.search_warrant") -> pb.Warrant:
    w = submitted(run, clock, instrument)
    with run.client(REVIEWER) as reviewer:
        return reviewer.approve(w.id)


def released(
    run: Any, warrant_id: str, batch_size: int = 0
) -> tuple[list[dict[str, Any]], pb.ReleaseSummary]:
    records: list[dict[str, Any]] = []
    summary = None
    with run.client(OFFICER) as officer:
        for item in officer.release(warrant_id, batch_size):
            which = item.WhichOneof("item")
            if which == "batch":
                records.extend(json.loads(r.payload) | {"id": r.id} for r in item.batch.records)
            elif which == "summary":
                summary = item.summary
    assert summary is not None
    return records, summary


def kinds(records: list[dict[str, Any]]) -> Counter[str]:
    return Counter(r["id"].split(":")[0] for r in records)


def record(run: Any, who: str, warrant_id: str, step: str, digest: str, note: str = "") -> Any:
    with run.client(who) as client:
        return client.record_participation(warrant_id, step, digest, note)


def refused(run: Any, who: str, warrant_id: str, step: str, digest: str) -> ClientError:
    with pytest.raises(ClientError) as err:
        record(run, who, warrant_id, step, digest)
    return err.value


def entries(run: Any, kind: str) -> list[dict[str, Any]]:
    return [e for e in run.entries() if e["event"] == kind]


class TestCatalogue:
    def test_shipped_for_the_korean_search_warrant_only(self) -> None:
        catalogue = instruments.load(DEFAULT_POLICY_DIR)
        required = {k for k, v in catalogue.instruments.items() if v.participation}
        assert required == {"kr.search_warrant"}
        assert catalogue.participation_required("kr.search_warrant")
        assert not catalogue.participation_required("us.search_warrant")
        assert not catalogue.participation_required(None)  # a request naming no instrument

    @pytest.mark.parametrize("value", ["maybe", "true", "[required]", "yes"])
    def test_a_bad_value_stops_the_load(self, tmp_path: pathlib.Path, value: str) -> None:
        text = (DEFAULT_POLICY_DIR / instruments.CATALOGUE_FILE).read_text()
        bad = text.replace("    participation: required", f"    participation: {value}")
        assert bad != text
        with pytest.raises(FailedPrecondition, match="participation: required or not_required"):
            instruments.parse(tmp_path / instruments.CATALOGUE_FILE, bad)


class TestRelease:
    def test_content_withheld_until_recorded_then_released(
        self, start_gateway: Any, clock: Any
    ) -> None:
        """Pending: every content record withheld and counted as participation_pending, the
        other categories exactly as after; complete (notice, then waiver): content too."""
        run = start_gateway(ROWS)
        w = approved(run, clock)
        before, pending = released(run, w.id)
        assert kinds(before)["message_content"] == 0
        record(run, OFFICER, w.id, "notice", NOTICE, "served on counsel")
        still, _ = released(run, w.id)  # a notice alone does not complete it
        assert kinds(still)["message_content"] == 0
        record(run, OFFICER, w.id, "waiver", WAIVER)
        after, complete = released(run, w.id)
        content = kinds(after)["message_content"]
        assert content > 0
        assert pending.withheld[PENDING_REASON] == content
        assert PENDING_REASON not in complete.withheld
        # Other categories, and the policy's own withholding, are untouched meanwhile.
        assert kinds(before) == kinds(after) - Counter({"message_content": content})
        assert {k: v for k, v in pending.withheld.items() if k != PENDING_REASON} == dict(
            complete.withheld
        )
        assert complete.released == pending.released + content
        started = entries(run, "release.started")
        assert [e["participation"] for e in started] == ["pending", "pending", "complete"]
        completed = entries(run, "release.completed")
        assert completed[0]["withheld"][PENDING_REASON] == content

    @pytest.mark.parametrize("step", ["attendance", "objection", "waiver"])
    def test_each_concluding_step_completes_after_a_notice(
        self, start_gateway: Any, clock: Any, step: str
    ) -> None:
        run = start_gateway(ROWS)
        w = approved(run, clock)
        assert not record(run, REVIEWER, w.id, "notice", NOTICE).complete
        reply = record(run, REVIEWER, w.id, step, ATTENDANCE)
        assert reply.complete and reply.step.step == step and reply.step.seq == 1
        records, summary = released(run, w.id)
        assert kinds(records)["message_content"] > 0 and PENDING_REASON not in summary.withheld

    def test_an_instrument_without_the_flag_is_unaffected(
        self, start_gateway: Any, clock: Any
    ) -> None:
        """The same request as a US search warrant, or naming no instrument: content at once,
        no participation in its entries, and no participation to record."""
        run = start_gateway(ROWS)
        for instrument in ("us.search_warrant", ""):
            w = approved(run, clock, instrument)
            records, summary = released(run, w.id)
            assert kinds(records)["message_content"] > 0
            assert PENDING_REASON not in summary.withheld
            assert entries(run, "release.started")[-1]["participation"] is None
            err = refused(run, OFFICER, w.id, "notice", NOTICE)
            assert err.code is grpc.StatusCode.FAILED_PRECONDITION
            assert "does not require a participation record" in err.message
            assert entries(run, "participation.recorded_refused")[-1]["warrant"] == w.id
            with run.client(OFFICER) as officer:
                listed = officer.list_participation(w.id)
            assert not listed.required and not listed.steps

    def test_other_tiers_are_unaffected(self, start_gateway: Any, clock: Any) -> None:
        """A Korean communication-records permit reaches no content anyway: nothing is
        counted as participation_pending, its own categories release as before."""
        run = start_gateway(ROWS)
        spec = make_spec(
            [TARGET], ["message_metadata", "logins"], JAN1, FEB1, clock.now + dt.timedelta(days=9)
        )
        spec.instrument = "kr.communication_records"
        with run.client(OFFICER) as officer:
            w = officer.submit(spec)
        with run.client(REVIEWER) as reviewer:
            reviewer.approve(w.id)
        records, summary = released(run, w.id)
        assert kinds(records)["message_metadata"] > 0
        assert PENDING_REASON not in summary.withheld

    def test_the_catalogue_in_force_decides_at_release(
        self, start_gateway: Any, clock: Any, tmp_path: pathlib.Path
    ) -> None:
        """An instrument the catalogue comes to require participation for after approval
        withholds content at its next release; the requirement is not fixed at intake."""
        policies = tmp_path / "policies"
        shutil.copytree(DEFAULT_POLICY_DIR, policies)
        run = start_gateway(ROWS, policy_dir=policies)
        w = approved(run, clock, "us.search_warrant")
        assert kinds(released(run, w.id)[0])["message_content"] > 0
        run.gateway.stop(grace=None)
        catalogue = policies / instruments.CATALOGUE_FILE
        text = catalogue.read_text()
        edited = text.replace(
            '"18 U.S.C. 2703(a), (b)(1)(A), (c)(1)(A)"\n    response_days: 10\n',
            '"18 U.S.C. 2703(a), (b)(1)(A), (c)(1)(A)"\n    response_days: 10\n'
            "    participation: required\n",
        )
        assert edited != text
        catalogue.write_text(edited)
        again = start_gateway(policy_dir=policies)
        records, summary = released(again, w.id)
        assert kinds(records)["message_content"] == 0 and summary.withheld[PENDING_REASON] > 0

    def test_a_release_in_progress_does_not_bypass(self, start_gateway: Any, clock: Any) -> None:
        """Decided once, at the release's start: steps completed while a release streams do
        not let content into it (its later batches included); the next release has it."""
        run = start_gateway(ROWS)
        w = approved(run, clock)
        records: list[dict[str, Any]] = []
        summary = None
        batches = 0
        with run.client(OFFICER) as officer:
            for item in officer.release(w.id, 1):
                which = item.WhichOneof("item")
                if which == "batch":
                    batches += 1
                    records.extend({"id": r.id} for r in item.batch.records)
                    if batches == 1:  # the rest is still to come
                        record(run, OFFICER, w.id, "notice", NOTICE)
                        record(run, OFFICER, w.id, "attendance", ATTENDANCE)
                elif which == "summary":
                    summary = item.summary
        assert summary is not None and batches > 2
        assert kinds(records)["message_content"] == 0
        assert summary.withheld[PENDING_REASON] > 0
        after, _ = released(run, w.id)
        assert kinds(after)["message_content"] == summary.withheld[PENDING_REASON]


class TestRecord:
    def test_each_step_is_audited_with_its_hash_and_listed(
        self, start_gateway: Any, clock: Any
    ) -> None:
        run = start_gateway(ROWS)
        w = submitted(run, clock)  # steps may precede approval
        record(run, OFFICER, w.id, "notice", NOTICE.upper(), "to counsel Kim")
        record(run, REVIEWER, w.id, "objection", OBJECTION, "objections heard; selection narrowed")
        record(run, OFFICER, w.id, "attendance", ATTENDANCE)
        found = entries(run, "participation.recorded")
        assert [
            (e["principal"], e["step"], e["document_sha256"], e["seq"], e["complete"])
            for e in found
        ] == [
            (OFFICER, "notice", NOTICE, 0, False),
            (REVIEWER, "objection", OBJECTION, 1, True),
            (OFFICER, "attendance", ATTENDANCE, 2, True),
        ]
        assert found[0]["note"] == "to counsel Kim" and found[2]["note"] is None
        assert all(e["warrant"] == w.id for e in found)
        with run.client(REVIEWER) as reviewer:
            listed = reviewer.list_participation(w.id)
        assert listed.required and listed.complete
        assert [(s.seq, s.step, s.document_sha256, s.recorded_by) for s in listed.steps] == [
            (0, "notice", NOTICE, OFFICER),
            (1, "objection", OBJECTION, REVIEWER),
            (2, "attendance", ATTENDANCE, OFFICER),
        ]
        assert listed.steps[0].note == "to counsel Kim"
        # The warrant as released evidence hashes it is not changed by its steps.
        with run.client(REVIEWER) as reviewer:
            shown = reviewer.get(w.id)
        assert "participation" not in {f.name for f, _ in shown.ListFields()}

    @pytest.mark.parametrize(
        "step, digest, words",
        [
            ("hearing", NOTICE, "step: 'hearing' is not one of notice, attendance"),
            ("", NOTICE, "step: '' is not one of"),
            ("Notice", NOTICE, "step: 'Notice' is not one of"),
            ("notice", "a" * 63, "document_sha256: must be 64 hex digits"),
            ("notice", "g" * 64, "document_sha256: must be 64 hex digits"),
            ("notice", "", "document_sha256: must be 64 hex digits"),
            ("notice", "a" * 64 + "\n", "document_sha256: must be 64 hex digits"),
        ],
    )
    def test_bad_input_is_refused_and_not_recorded(
        self, start_gateway: Any, clock: Any, step: str, digest: str, words: str
    ) -> None:
        run = start_gateway(ROWS)
        w = approved(run, clock)
        err = refused(run, OFFICER, w.id, step, digest)
        assert err.code is grpc.StatusCode.INVALID_ARGUMENT
        assert words in err.message
        assert not entries(run, "participation.recorded")
        assert not entries(run, "participation.recorded_refused")  # malformed: not a step

    def test_a_note_with_control_characters_is_refused(
        self, start_gateway: Any, clock: Any
    ) -> None:
        run = start_gateway(ROWS)
        w = approved(run, clock)
        with pytest.raises(ClientError) as err:
            record(run, OFFICER, w.id, "notice", NOTICE, "hidden\u202etext")
        assert err.value.code is grpc.StatusCode.INVALID_ARGUMENT
        assert err.value.message.startswith("note:")

    def test_order_duplicates_and_state(self, start_gateway: Any, clock: Any) -> None:
        """A concluding step before a notice, the same step and document twice, and a step
        for a revoked warrant are refused, each saying why; nothing is recorded by them."""
        run = start_gateway(ROWS)
        w = approved(run, clock)
        err = refused(run, OFFICER, w.id, "waiver", WAIVER)
        assert err.code is grpc.StatusCode.FAILED_PRECONDITION
        assert "record the notice given to the suspect or counsel before a waiver" in err.message
        record(run, OFFICER, w.id, "notice", NOTICE)
        err = refused(run, OFFICER, w.id, "notice", NOTICE)
        assert err.code is grpc.StatusCode.ALREADY_EXISTS and "recorded already" in err.message
        record(run, OFFICER, w.id, "notice", ATTENDANCE)  # a second notice, another document
        with run.client(REVIEWER) as reviewer:
            reviewer.revoke(w.id)
        err = refused(run, OFFICER, w.id, "waiver", WAIVER)
        assert err.code is grpc.StatusCode.FAILED_PRECONDITION
        assert "is REVOKED" in err.message
        assert [e["step"] for e in entries(run, "participation.recorded")] == ["notice"] * 2
        # Each refusal is audited, with who and why (as a refused approval is).
        refusals = entries(run, "participation.recorded_refused")
        assert [(e["warrant"], e["principal"]) for e in refusals] == [(w.id, OFFICER)] * 3
        assert "before a waiver" in refusals[0]["why"]
        assert "recorded already" in refusals[1]["why"]
        assert "is REVOKED" in refusals[2]["why"]

    def test_unknown_warrant_and_wrong_callers(
        self, start_gateway: Any, clock: Any, tmp_path: pathlib.Path
    ) -> None:
        """Another officer, an auditor and someone without a role are refused by the API
        policy (audited as api.denied); the auditor may read the steps, the officer not."""
        data = tmp_path / "wsg-data"
        data.mkdir(mode=0o700)
        bind_roles(roles_file(data), [(OTHER_OFFICER, "officer")])
        run = start_gateway(ROWS, data=data)
        w = approved(run, clock)
        err = refused(run, OFFICER, "w-0000000000000000", "notice", NOTICE)
        assert err.code is grpc.StatusCode.NOT_FOUND and "no warrant" in err.message
        err = refused(run, OFFICER, "not-an-id", "notice", NOTICE)
        assert err.code is grpc.StatusCode.NOT_FOUND
        for who in (OTHER_OFFICER, AUDITOR, NOBODY):
            err = refused(run, who, w.id, "notice", NOTICE)
            assert err.code is grpc.StatusCode.PERMISSION_DENIED
            denied = entries(run, "api.denied")[-1]
            assert (denied["principal"], denied["rpc"]) == (who, "RecordParticipation")
        with run.client(OTHER_OFFICER) as other, pytest.raises(ClientError) as listed:
            other.list_participation(w.id)
        assert listed.value.code is grpc.StatusCode.PERMISSION_DENIED
        with run.client(AUDITOR) as auditor:
            assert auditor.list_participation(w.id).required
        assert not entries(run, "participation.recorded")


class TestCli:
    def invoke(self, run: Any, who: str, *args: str) -> Any:
        return CliRunner().invoke(
            main, [*args, "--server", run.address, "--insecure", "--identity", who]
        )

    def test_record_and_show(self, start_gateway: Any, clock: Any) -> None:
        run = start_gateway(ROWS)
        w = approved(run, clock)
        step = ["warrant", "participation", w.id]
        result = self.invoke(run, OFFICER, *step, "--step", "notice", "--document-sha256", NOTICE)
        assert result.exit_code == 0, result.output
        assert "notice recorded" in result.stdout and "still pending" in result.stdout
        shown = self.invoke(run, REVIEWER, "warrant", "show", w.id, "--json")
        assert shown.exit_code == 0, shown.output
        participation = json.loads(shown.stdout)["participation"]
        assert participation["required"] and not participation["complete"]
        assert [s["step"] for s in participation["steps"]] == ["notice"]
        result = self.invoke(
            run,
            OFFICER,
            *step,
            "--step",
            "waiver",
            "--document-sha256",
            WAIVER,
            "--note",
            "in writing",
            "--json",
        )
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert (data["step"], data["seq"], data["complete"], data["note"]) == (
            "waiver",
            1,
            True,
            "in writing",
        )
        human = self.invoke(run, REVIEWER, "warrant", "show", w.id)
        assert human.exit_code == 0 and "participation: complete" in human.stdout

    def test_refusals_are_one_line(self, start_gateway: Any, clock: Any) -> None:
        run = start_gateway(ROWS)
        w = approved(run, clock)
        bad = self.invoke(
            run, OFFICER, "warrant", "participation", w.id, "--step", "waiver",
            "--document-sha256", "xyz",
        )  # fmt: skip
        assert bad.exit_code == 1
        assert bad.stderr.strip().splitlines() == [
            "wsg: error: document_sha256: must be 64 hex digits (the sha256 of the step's "
            "document) [INVALID_ARGUMENT]"
        ]
        wrong = self.invoke(
            run, OFFICER, "warrant", "participation", w.id, "--step", "hearing",
            "--document-sha256", NOTICE,
        )  # fmt: skip
        assert wrong.exit_code == 2 and "'hearing' is not one of" in wrong.stderr

    def test_show_of_a_warrant_without_it_is_unchanged(
        self, start_gateway: Any, clock: Any
    ) -> None:
        run = start_gateway(ROWS)
        w = approved(run, clock, "us.search_warrant")
        shown = self.invoke(run, REVIEWER, "warrant", "show", w.id, "--json")
        assert shown.exit_code == 0, shown.output
        assert "participation" not in json.loads(shown.stdout)


def test_the_console_shows_the_steps_to_a_reviewer(start_gateway: Any, clock: Any) -> None:
    run = start_gateway(ROWS, console="127.0.0.1:0")
    w = approved(run, clock)
    http = ConsoleHttp(run.console_url)
    http.sign_in(REVIEWER)
    page = http.get(f"/warrants/{w.id}")
    assert page.status == 200 and "Pending: until a notice" in page.text
    record(run, OFFICER, w.id, "notice", NOTICE, "<b>to counsel</b>")
    record(run, OFFICER, w.id, "waiver", WAIVER)
    page = http.get(f"/warrants/{w.id}")
    assert page.status == 200 and "Complete: the suspect or counsel" in page.text
    assert NOTICE in page.text and WAIVER in page.text
    assert "&lt;b&gt;to counsel&lt;/b&gt;" in page.text  # a note is text, never markup
    other = approved(run, clock, "us.search_warrant")
    assert 'id="participation"' not in http.get(f"/warrants/{other.id}").text
