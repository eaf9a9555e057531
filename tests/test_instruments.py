"""Legal instruments (issue 15): the catalogue, the `instrument` field, intake against the
tier's reach, and the tier deciding what a release lets out, on both backends."""

from __future__ import annotations

import datetime as dt
import json
import pathlib
import shutil
from typing import Any

import grpc
import pytest
from fixtures_small import FEB1, JAN1, ROWS

from gateway.api.client import ClientError
from gateway.api.package import write_package
from gateway.api.v1 import wsg_pb2 as pb
from gateway.errors import FailedPrecondition
from gateway.model import Tier
from gateway.policy import instruments
from gateway.settings import DEFAULT_POLICY_DIR
from gateway.testing import make_spec
from gateway.warrants.file import WarrantFileError, parse_warrant_text

BOTH_BACKENDS = True

OFFICER, REVIEWER = "alice", "bob"
SHIPPED_KEYS = {
    "kr.subscriber_data",
    "kr.communication_records",
    "kr.search_warrant",
    "us.subpoena",
    "us.2703d_order",
    "us.search_warrant",
    "emergency",
    "preservation",
}


def spec(clock: Any, categories: list[str], instrument: str = "") -> pb.WarrantSpec:
    made = make_spec(
        ["phone:+821011112222"], categories, JAN1, FEB1, clock.now + dt.timedelta(days=30)
    )
    made.instrument = instrument
    if instrument == "emergency":  # its own rule, tested in test_deadlines
        made.justification = "a life at risk"
    return made


def submit(run: Any, clock: Any, categories: list[str], instrument: str = "") -> pb.Warrant:
    with run.client(OFFICER) as officer:
        return officer.submit(spec(clock, categories, instrument))


def released(run: Any, warrant: pb.Warrant, out: pathlib.Path) -> tuple[dict[str, Any], list]:
    with run.client(OFFICER) as officer:
        manifest = write_package(out, warrant, officer.release(warrant.id, 0))
    lines = (out / "records.jsonl").read_text().splitlines()
    return manifest, [json.loads(line) for line in lines]


class TestCatalogue:
    def test_an_accepted_warrants_instrument_the_catalogue_lost_fails_closed(self) -> None:
        """What the tier and the participation rule both read: no instrument is no entry, a
        known one its entry, one the catalogue no longer knows FailedPrecondition (never a
        default tier, never "participation not required")."""
        catalogue = instruments.load(DEFAULT_POLICY_DIR)
        assert catalogue.of_warrant("w-1", None) is None
        entry = catalogue.of_warrant("w-1", "kr.search_warrant")
        assert entry is not None and entry.participation
        with pytest.raises(FailedPrecondition) as err:
            catalogue.of_warrant("w-1", "kr.gone")
        assert err.value.reason == "UNKNOWN_INSTRUMENT"
        assert err.value.message.startswith("warrant w-1: spec.instrument: unknown instrument")

    def test_the_shipped_catalogue_has_every_named_key(self) -> None:
        """Korean and US entries, emergency and preservation, each with a label and a basis."""
        catalogue = instruments.load(DEFAULT_POLICY_DIR)
        assert set(catalogue.instruments) >= SHIPPED_KEYS
        for entry in catalogue.instruments.values():
            assert entry.label.strip() and entry.legal_basis.strip() and entry.response_days > 0
        assert catalogue.tier_of("us.subpoena") is Tier.SUBSCRIBER
        assert catalogue.tier_of("kr.communication_records") is Tier.COMMUNICATION_RECORDS
        assert catalogue.tier_of(None) is Tier.SEARCH_WARRANT
        assert catalogue.emergency_follow_up == dt.timedelta(hours=48)
        assert catalogue.preservation == dt.timedelta(days=90)

    @pytest.mark.parametrize(
        "text, words",
        [
            ("instruments: {}\n", "at least one"),
            ("instruments: [a, b]\n", "a mapping"),
            ("{: [\n", "not YAML"),
            (
                "instruments: {x: {tier: judge, label: a, legal_basis: b, response_days: 1}}\n",
                "x.tier",
            ),
            (
                "instruments: {X!: {tier: subscriber, label: a, legal_basis: b,"
                " response_days: 1}}\n",
                "lowercase words",
            ),
            (
                "instruments: {x: {tier: subscriber, label: a, legal_basis: b,"
                " response_days: 0}}\n",
                "response_days",
            ),
            (
                "instruments: {x: {tier: subscriber, label: '', legal_basis: b,"
                " response_days: 1}}\n",
                "label",
            ),
            (
                "instruments: {x: {tier: subscriber, label: a, legal_basis: b,"
                " response_days: 1, reaches: [message_content]}}\n",
                "unknown key 'reaches'",
            ),
            (
                "instruments: {x: {tier: subscriber, label: a, legal_basis: b,"
                " response_days: 1}}\nreview: {content: 'yes'}\n",
                "review.content",
            ),
        ],
    )
    def test_a_bad_catalogue_is_refused_in_one_line(
        self, tmp_path: pathlib.Path, text: str, words: str
    ) -> None:
        (tmp_path / instruments.CATALOGUE_FILE).write_text(text)
        with pytest.raises(FailedPrecondition) as err:
            instruments.load(tmp_path)
        assert words in err.value.message and "\n" not in err.value.message

    def test_a_missing_catalogue_is_refused(self, tmp_path: pathlib.Path) -> None:
        with pytest.raises(FailedPrecondition, match="file is missing"):
            instruments.load(tmp_path)


class TestWarrantFile:
    BASE = (
        'case_number: "C-1"\nauthority: "Court"\ntargets: ["account:u1"]\n'
        'window: {start: "2026-01-01T00:00:00Z", end: "2026-02-01T00:00:00Z"}\n'
        'categories: [subscriber]\nexpires_at: "2026-12-31T00:00:00Z"\n'
    )

    def test_the_instrument_is_read(self) -> None:
        assert parse_warrant_text(self.BASE + "instrument: us.subpoena\n").instrument == (
            "us.subpoena"
        )

    def test_a_file_without_it_is_a_search_warrant(self) -> None:
        assert parse_warrant_text(self.BASE).instrument is None

    def test_a_number_is_not_an_instrument(self, tmp_path: pathlib.Path) -> None:
        path = tmp_path / "w.yaml"
        path.write_text(self.BASE + "instrument: 2703\n")
        from gateway.warrants.file import load_warrant_file

        with pytest.raises(WarrantFileError, match="instrument: expected a string"):
            load_warrant_file(path)


class TestIntake:
    def test_the_instrument_round_trips(self, start_gateway: Any, clock: Any) -> None:
        """Submitted, stored, read back over the API, and in the submission's audit entry."""
        run = start_gateway(ROWS)
        w = submit(run, clock, ["subscriber"], "us.subpoena")
        with run.client(REVIEWER) as reviewer:
            assert reviewer.get(w.id).spec.instrument == "us.subpoena"
        entry = next(e for e in run.entries() if e["event"] == "warrant.submitted")
        assert (entry["instrument"], entry["tier"]) == ("us.subpoena", "subscriber")

    def test_no_instrument_is_a_search_warrant(self, start_gateway: Any, clock: Any) -> None:
        run = start_gateway(ROWS)
        w = submit(run, clock, ["message_content", "contacts"])
        assert w.spec.instrument == ""
        entry = next(e for e in run.entries() if e["event"] == "warrant.submitted")
        assert (entry["instrument"], entry["tier"]) == (None, "search_warrant")

    @pytest.mark.parametrize(
        "instrument, categories, beyond",
        [
            ("us.subpoena", ["subscriber", "message_content"], "message_content"),
            ("kr.subscriber_data", ["logins", "subscriber", "contacts"], "logins, contacts"),
            ("us.2703d_order", ["message_metadata", "message_content"], "message_content"),
            ("kr.communication_records", ["contacts"], "contacts"),
            (
                "emergency",
                ["logins", "message_content", "memberships"],
                "message_content, memberships",
            ),
        ],
    )
    def test_categories_beyond_the_tier_are_refused_by_name(
        self, start_gateway: Any, clock: Any, instrument: str, categories: list[str], beyond: str
    ) -> None:
        run = start_gateway(ROWS)
        with pytest.raises(ClientError) as err:
            submit(run, clock, categories, instrument)
        assert err.value.code is grpc.StatusCode.INVALID_ARGUMENT
        assert f"spec.categories: {beyond} beyond what {instrument!r}" in err.value.message
        refused = [e for e in run.entries() if e["event"] == "warrant.submit_refused"]
        assert len(refused) == 1 and beyond in refused[0]["why"]
        assert not [e for e in run.entries() if e["event"] == "warrant.submitted"]

    def test_an_unknown_instrument_is_refused(self, start_gateway: Any, clock: Any) -> None:
        run = start_gateway(ROWS)
        with pytest.raises(ClientError) as err:
            submit(run, clock, ["subscriber"], "us.national_security_letter")
        assert err.value.code is grpc.StatusCode.INVALID_ARGUMENT
        assert "spec.instrument: unknown instrument" in err.value.message
        assert "us.subpoena" in err.value.message

    @pytest.mark.parametrize("bad", ["US.Subpoena", "us subpoena", "kr.", "a" * 100 + "\u200b"])
    def test_a_malformed_instrument_is_refused(
        self, start_gateway: Any, clock: Any, bad: str
    ) -> None:
        run = start_gateway(ROWS)
        with pytest.raises(ClientError) as err:
            submit(run, clock, ["subscriber"], bad)
        assert err.value.code is grpc.StatusCode.INVALID_ARGUMENT
        assert err.value.message.startswith("spec.instrument:")


class TestRelease:
    def test_a_records_order_releases_its_tier_and_no_content(
        self, start_gateway: Any, clock: Any, tmp_path: pathlib.Path
    ) -> None:
        run = start_gateway(ROWS)
        w = submit(run, clock, ["message_metadata", "memberships", "subscriber"], "us.2703d_order")
        with run.client(REVIEWER) as reviewer:
            w = reviewer.approve(w.id)
        _, records = released(run, w, tmp_path / "out")
        kinds = {r["id"].split(":")[0] for r in records}
        assert kinds == {"message_metadata", "memberships", "subscriber"}
        assert not any("body" in r for r in records)

    def test_the_tier_decides_at_release_not_only_at_intake(
        self, start_gateway: Any, clock: Any, tmp_path: pathlib.Path
    ) -> None:
        """An instrument the catalogue moves to a lower tier after submission releases only
        what the lower tier reaches: the rest is withheld as beyond_instrument."""
        policies = tmp_path / "policies"
        shutil.copytree(DEFAULT_POLICY_DIR, policies)
        run = start_gateway(ROWS, policy_dir=policies)
        w = submit(run, clock, ["subscriber", "message_content"], "kr.search_warrant")
        with run.client(REVIEWER) as reviewer:
            w = reviewer.approve(w.id)
        run.gateway.stop(grace=None)
        catalogue = policies / instruments.CATALOGUE_FILE
        catalogue.write_text(
            catalogue.read_text().replace(
                "kr.search_warrant:\n    tier: search_warrant",
                "kr.search_warrant:\n    tier: subscriber",
            )
        )
        again = start_gateway(policy_dir=policies)
        manifest, records = released(again, w, tmp_path / "out")
        assert [r["id"] for r in records] == ["subscriber:u1"]
        assert manifest["withheld"]["beyond_instrument"] == 3

    def test_an_instrument_the_catalogue_dropped_releases_nothing(
        self, start_gateway: Any, clock: Any, tmp_path: pathlib.Path
    ) -> None:
        policies = tmp_path / "policies"
        shutil.copytree(DEFAULT_POLICY_DIR, policies)
        run = start_gateway(ROWS, policy_dir=policies)
        w = submit(run, clock, ["subscriber"], "us.subpoena")
        with run.client(REVIEWER) as reviewer:
            w = reviewer.approve(w.id)
        run.gateway.stop(grace=None)
        catalogue = policies / instruments.CATALOGUE_FILE
        catalogue.write_text(catalogue.read_text().replace("us.subpoena:", "us.subpoena_old:"))
        again = start_gateway(policy_dir=policies)
        with pytest.raises(ClientError) as err:
            released(again, w, tmp_path / "none")
        assert err.value.code is grpc.StatusCode.FAILED_PRECONDITION
        assert "unknown instrument 'us.subpoena'" in err.value.message
