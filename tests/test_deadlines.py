"""Deadline clocks (issue 15): the due list (WarrantService.ListDue, `wsg due`) and each clock's
passing audited once, with an injected clock, on both backends."""

from __future__ import annotations

import datetime as dt
import json
import pathlib
import shutil
import threading
from typing import Any

import grpc
import pytest
from fixtures_small import FEB1, JAN1, ROWS
from test_cli import served, warrant_yaml, wsg  # noqa: F401 - the fixture is used by name

from gateway.api.client import ClientError
from gateway.api.package import write_package
from gateway.api.v1 import wsg_pb2 as pb
from gateway.identity.roles import bind_roles, roles_file
from gateway.settings import DEFAULT_POLICY_DIR
from gateway.testing import make_spec, ts

BOTH_BACKENDS = True

OFFICER, REVIEWER = "alice", "bob"


def approved(
    run: Any,
    clock: Any,
    categories: list[str],
    instrument: str = "",
    officer: str = OFFICER,
    nondisclosure: dt.datetime | None = None,
) -> pb.Warrant:
    spec = make_spec(
        ["phone:+821011112222"], categories, JAN1, FEB1, clock.now + dt.timedelta(days=60)
    )
    spec.instrument = instrument
    if instrument == "emergency":
        spec.justification = "a life at risk"
    if nondisclosure is not None:
        spec.nondisclosure_until.CopyFrom(ts(nondisclosure))
    with run.client(officer) as client:
        w = client.submit(spec)
    with run.client(REVIEWER) as reviewer:
        return reviewer.approve(w.id)


def due(run: Any, who: str = REVIEWER) -> dict[tuple[str, str], pb.Deadline]:
    with run.client(who) as client:
        return {(d.warrant_id, d.clock): d for d in client.list_due().deadlines}


def passed(run: Any) -> list[dict[str, Any]]:
    return [e for e in run.entries() if e["event"] == "clock.passed"]


class TestDueList:
    def test_a_response_clock_per_instrument_and_the_expiry(
        self, start_gateway: Any, clock: Any
    ) -> None:
        run = start_gateway(ROWS)
        w = approved(run, clock, ["subscriber"], "us.subpoena")  # 14 days to answer
        plain = approved(run, clock, ["subscriber"])  # no instrument: no response clock
        found = due(run)
        response = found[(w.id, "response")]
        assert response.due_at.ToDatetime(dt.UTC) == clock.now + dt.timedelta(days=14)
        assert response.status == "pending" and response.instrument == "us.subpoena"
        assert found[(w.id, "expiry")].status == "pending"
        assert (plain.id, "response") not in found and (plain.id, "expiry") in found
        clock.now += dt.timedelta(days=8)
        assert due(run)[(w.id, "response")].status == "due"

    def test_a_passed_clock_is_overdue_and_audited_once(
        self, start_gateway: Any, clock: Any
    ) -> None:
        run = start_gateway(ROWS)
        w = approved(run, clock, ["subscriber"], "kr.subscriber_data")  # 7 days
        due(run)
        assert passed(run) == []
        clock.now += dt.timedelta(days=7, seconds=1)
        assert due(run)[(w.id, "response")].status == "overdue"
        due(run)
        due(run, OFFICER)
        (entry,) = passed(run)
        assert (entry["warrant"], entry["clock"], entry["principal"]) == (
            w.id,
            "response",
            REVIEWER,
        )
        assert entry["instrument"] == "kr.subscriber_data"

    def test_an_emergency_follow_up_falls_due_in_48_hours(
        self, start_gateway: Any, clock: Any
    ) -> None:
        run = start_gateway(ROWS)
        w = approved(run, clock, ["subscriber", "logins"], "emergency")
        follow_up = due(run)[(w.id, "emergency_follow_up")]
        assert follow_up.due_at.ToDatetime(dt.UTC) == clock.now + dt.timedelta(hours=48)
        clock.now += dt.timedelta(hours=48)
        assert due(run)[(w.id, "emergency_follow_up")].status == "overdue"
        assert {e["clock"] for e in passed(run)} == {"emergency_follow_up", "response"}

    def test_non_disclosure_ends_and_expiry_are_clocks(
        self, start_gateway: Any, clock: Any
    ) -> None:
        run = start_gateway(ROWS)
        ends = clock.now + dt.timedelta(days=3)
        w = approved(run, clock, ["subscriber"], nondisclosure=ends)
        clock.now += dt.timedelta(days=61)
        found = due(run)
        assert found[(w.id, "nondisclosure")].status == "overdue"
        assert found[(w.id, "expiry")].status == "overdue"
        assert sorted(e["clock"] for e in passed(run)) == ["expiry", "nondisclosure"]

    def test_an_officer_sees_only_the_clocks_of_their_warrants(
        self, start_gateway: Any, clock: Any, tmp_path: pathlib.Path
    ) -> None:
        data = tmp_path / "wsg-data"
        data.mkdir(mode=0o700)
        bind_roles(roles_file(data), [("off", "officer"), ("off2", "officer")])
        run = start_gateway(ROWS)
        mine = approved(run, clock, ["subscriber"], officer="off")
        theirs = approved(run, clock, ["subscriber"], officer="off2")
        assert {w for w, _ in due(run, "off")} == {mine.id}
        assert {w for w, _ in due(run, REVIEWER)} == {mine.id, theirs.id}

    @pytest.mark.postgres_only
    def test_two_replicas_audit_a_passing_once(
        self, start_gateway: Any, clock: Any, tmp_path: pathlib.Path, pg_schema: Any
    ) -> None:
        a = start_gateway(ROWS, data=tmp_path / "a", database=pg_schema.url)
        (tmp_path / "b").mkdir(mode=0o700)
        shutil.copytree(tmp_path / "a" / "keys", tmp_path / "b" / "keys")
        b = start_gateway(data=tmp_path / "b", database=pg_schema.url)
        w = approved(a, clock, ["subscriber"], "us.subpoena")
        clock.now += dt.timedelta(days=15)
        barrier = threading.Barrier(6)

        def ask(run: Any) -> None:
            barrier.wait()
            due(run)

        threads = [threading.Thread(target=ask, args=(r,)) for r in (a, b) * 3]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [(e["warrant"], e["clock"]) for e in passed(a)] == [(w.id, "response")]


class TestCli:
    def test_wsg_due_json(self, served: dict[str, str], tmp_path: pathlib.Path) -> None:  # noqa: F811
        w = json.loads(
            wsg(
                "warrant",
                "submit",
                warrant_yaml(tmp_path),
                "--identity",
                "alice",
                "--json",
                env=served,
            ).stdout
        )
        listed = json.loads(wsg("due", "--identity", "alice", "--json", env=served).stdout)
        # (test_cli's warrant file ends its non-disclosure when the warrant expires)
        assert [(d["warrant"], d["clock"], d["status"]) for d in listed] == [
            (w["id"], "expiry", "due"),
            (w["id"], "nondisclosure", "due"),
        ]
        human = wsg("due", "--identity", "alice", env=served).stdout
        assert w["id"] in human and "expiry" in human


class TestEmergency:
    def emergency(self, run: Any, clock: Any, categories: list[str], why: str = "") -> Any:
        spec = make_spec(
            ["phone:+821011112222"], categories, JAN1, FEB1, clock.now + dt.timedelta(days=5)
        )
        spec.instrument, spec.justification = "emergency", why
        with run.client(OFFICER) as officer:
            return officer.submit(spec)

    def test_a_justification_is_required(self, start_gateway: Any, clock: Any) -> None:
        run = start_gateway(ROWS)
        with pytest.raises(ClientError) as err:
            self.emergency(run, clock, ["subscriber"])
        assert err.value.code is grpc.StatusCode.INVALID_ARGUMENT
        assert err.value.message.startswith("spec.justification:")

    def test_only_what_the_emergency_rows_allow_leaves(
        self, start_gateway: Any, clock: Any, tmp_path: pathlib.Path
    ) -> None:
        run = start_gateway(ROWS)
        with pytest.raises(ClientError) as err:
            self.emergency(run, clock, ["logins", "message_content"], "a life at risk")
        assert "message_content beyond what 'emergency'" in err.value.message
        w = self.emergency(run, clock, ["subscriber", "logins", "message_metadata"], "at risk")
        with run.client(REVIEWER) as reviewer:
            w = reviewer.approve(w.id)
        with run.client(OFFICER) as officer:
            manifest = write_package(tmp_path / "out", w, officer.release(w.id, 0))
        records = (tmp_path / "out" / "records.jsonl").read_text().splitlines()
        kinds = {json.loads(r)["id"].split(":")[0] for r in records}
        assert kinds <= {"subscriber", "logins", "message_metadata"} and manifest["released"]
        assert not any("body" in json.loads(r) for r in records)

    def test_the_api_policy_names_who_approves_emergencies(
        self, start_gateway: Any, clock: Any, tmp_path: pathlib.Path
    ) -> None:
        policies = tmp_path / "policies"
        shutil.copytree(DEFAULT_POLICY_DIR, policies)
        api = policies / "api_policy.csv"
        api.write_text(api.read_text().replace("p, reviewer, ApproveEmergency, other\n", ""))
        run = start_gateway(ROWS, policy_dir=policies)
        w = self.emergency(run, clock, ["subscriber"], "a child missing")
        with run.client(REVIEWER) as reviewer, pytest.raises(ClientError) as err:
            reviewer.approve(w.id)
        assert err.value.code is grpc.StatusCode.PERMISSION_DENIED
        assert any(
            e["event"] == "api.denied" and e.get("rpc") == "ApproveEmergency" for e in run.entries()
        )

    def test_a_follow_up_attached_stops_the_clock(self, start_gateway: Any, clock: Any) -> None:
        run = start_gateway(ROWS)
        w = self.emergency(run, clock, ["subscriber"], "a bomb threat")
        with run.client(REVIEWER) as reviewer:
            reviewer.approve(w.id)
        assert (w.id, "emergency_follow_up") in due(run)
        plain = approved(run, clock, ["subscriber"])
        follow = make_spec(
            ["phone:+821011112222"], ["subscriber"], JAN1, FEB1, clock.now + dt.timedelta(days=9)
        )
        follow.instrument, follow.follows_up = "us.subpoena", plain.id
        with run.client(OFFICER) as officer, pytest.raises(ClientError) as err:
            officer.submit(follow)
        assert "not an emergency request" in err.value.message
        follow.follows_up = w.id
        with run.client(OFFICER) as officer:
            attached = officer.submit(follow)
        assert attached.spec.follows_up == w.id
        clock.now += dt.timedelta(days=3)
        found = due(run)
        assert (w.id, "emergency_follow_up") not in found
        assert "emergency_follow_up" not in {e["clock"] for e in passed(run)}
