"""The transparency report (issue 16, part 1): counts per instrument tier and period, computed
only from the audit log, naming the signed checkpoint it was computed over; recomputed from a
copy of the log by `wsg report verify`, which fails on a tampered log or an edited report;
banding exact at the edges. Both backends."""

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
from fixtures_small import FEB1, JAN1, ROWS

from gateway.api.client import ClientError
from gateway.api.v1 import wsg_pb2 as pb
from gateway.cli import main
from gateway.reports import transparency
from gateway.reports.formats import to_csv, to_html
from gateway.testing import T0, make_spec

BOTH_BACKENDS = True

OFFICER, REVIEWER, AUDITOR = "alice", "bob", "audit1"
U1, U2 = "phone:+821011112222", "phone:+821033334444"
BY_CATEGORY, BY_REASON = "records_released_by_category", "records_withheld_by_reason"
MARCH, APRIL, MAY = T0, T0 + dt.timedelta(days=31), T0 + dt.timedelta(days=61)


def submit(run: Any, clock: Any, targets: list[str], categories: list[str], instrument: str) -> str:
    spec = make_spec(targets, categories, JAN1, FEB1, clock.now + dt.timedelta(days=400))
    spec.instrument = instrument
    with run.client(OFFICER) as officer:
        return str(officer.submit(spec).id)


def approve(run: Any, warrant_id: str) -> None:
    with run.client(REVIEWER) as reviewer:
        reviewer.approve(warrant_id)


def release(run: Any, warrant_id: str) -> pb.ReleaseSummary:
    with run.client(OFFICER) as officer:
        items = list(officer.release(warrant_id))
    return items[-1].summary


class History:
    """What the scripted history did, as the calls saw it (not read from the log)."""

    def __init__(self) -> None:
        self.expected: dict[str, dict[str, Any]] = {}

    def tier(self, name: str) -> dict[str, Any]:
        return self.expected.setdefault(
            name,
            {
                **dict.fromkeys(transparency.COUNTS, 0),
                "records_released_by_category": Counter(),
                "records_withheld_by_reason": Counter(),
            },
        )

    def released(self, name: str, summary: pb.ReleaseSummary) -> None:
        t = self.tier(name)
        t["requests_with_data_produced"] += summary.released > 0
        t["records_released"] += summary.released
        t["records_withheld"] += sum(summary.withheld.values())
        t["third_parties_pseudonymized"] += summary.pseudonymized_parties
        t["records_released_by_category"].update(dict(summary.released_by_category))
        t["records_withheld_by_reason"].update(dict(summary.withheld))


def scripted(run: Any, clock: Any) -> tuple[History, History]:
    """March: a subpoena (released), a communication-records permit for two accounts
    (released), three requests without an instrument (one rejected, one approved then revoked
    in April, one released), a subpoena left undecided. April: a subpoena approved, and the
    revocation of March's warrant (counted in April under its March tier)."""
    march, april = History(), History()
    clock.now = MARCH + dt.timedelta(days=1)
    sub = march.tier("subscriber")
    rec = march.tier("communication_records")
    sw = march.tier("search_warrant")

    w = submit(run, clock, [U1], ["subscriber"], "us.subpoena")
    approve(run, w)
    march.released("subscriber", release(run, w))
    sub.update(requests_received=1, approved=1, accounts_specified=1)

    w = submit(
        run, clock, [U1, U2], ["message_metadata", "memberships"], "kr.communication_records"
    )
    approve(run, w)
    march.released("communication_records", release(run, w))
    rec.update(requests_received=1, approved=1, accounts_specified=2)

    rejected = submit(run, clock, [U1], ["message_content"], "")
    with run.client(REVIEWER) as reviewer:
        reviewer.reject(rejected, "not specific enough")
    revoked_later = submit(run, clock, [U1], ["message_content"], "")
    approve(run, revoked_later)
    w = submit(run, clock, [U1], ["message_content", "memberships", "contacts"], "")
    approve(run, w)
    march.released("search_warrant", release(run, w))
    sw.update(requests_received=3, approved=2, rejected=1, accounts_specified=3)

    submit(run, clock, [U2], ["subscriber"], "us.subpoena")
    sub["requests_received"] += 1
    sub["accounts_specified"] += 1

    clock.now = APRIL + dt.timedelta(days=2)
    w = submit(run, clock, [U1], ["subscriber"], "us.subpoena")
    approve(run, w)
    april.tier("subscriber").update(requests_received=1, approved=1, accounts_specified=1)
    with run.client(REVIEWER) as reviewer:
        reviewer.revoke(revoked_later, "withdrawn")
    april.tier("search_warrant")["revoked"] = 1
    return march, april


def numbers(report: dict[str, Any], tier: str) -> dict[str, Any]:
    return report["tiers"][tier]


def expected_numbers(t: dict[str, Any]) -> dict[str, Any]:
    return {
        **{k: t[k] for k in transparency.COUNTS},
        "records_released_by_category": {
            k: v for k, v in sorted(t["records_released_by_category"].items()) if v
        },
        "records_withheld_by_reason": {
            k: v for k, v in sorted(t["records_withheld_by_reason"].items()) if v
        },
    }


def report_of(run: Any, start: dt.datetime, end: dt.datetime, band: int = 0) -> dict[str, Any]:
    with run.client(AUDITOR) as auditor:
        return dict(json.loads(auditor.transparency_report(start, end, band)))


def log_copy(run: Any, backend: str, path: pathlib.Path) -> pathlib.Path:
    """A copy of the log as an auditor is given it: the file, or the table's lines."""
    if backend == "sqlite":
        shutil.copyfile(run.gateway.data.audit_log, path)
    else:
        path.write_bytes(b"".join(line + b"\n" for _, line in run.gateway.audit.lines(0)))
    return path


def cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), env={"COLUMNS": "200"})


def independent(lines: list[bytes], start: dt.datetime, end: dt.datetime) -> dict[str, Counter]:
    """The plainest recount from the log's lines, sharing no code with gateway.reports."""
    tier_of: dict[str, str] = {}
    out: dict[str, Counter] = {}
    for line in lines:
        e = json.loads(line)
        if e["event"] == "warrant.submitted":
            tier_of[e["warrant"]] = e.get("tier") or "search_warrant"
        when = dt.datetime.fromisoformat(e["ts"].replace("Z", "+00:00"))
        if not (start <= when < end) or "warrant" not in e or e["warrant"] is None:
            continue
        c = out.setdefault(tier_of.get(e["warrant"], "search_warrant"), Counter())
        kind = e["event"]
        if kind == "warrant.submitted":
            c["requests_received"] += 1
            c["accounts_specified"] += len(set(e["target_accounts"]))
        for decided in ("approved", "rejected", "revoked"):
            c[decided] += kind == f"warrant.{decided}"
        if kind == "release.completed":
            c["requests_with_data_produced"] += e["released"] > 0  # one release each here
            c["records_released"] += e["released"]
            c["records_withheld"] += sum(e["withheld"].values())
            c["third_parties_pseudonymized"] += e["pseudonymized_parties"]
            for category, n in e["released_by_category"].items():
                c[f"category:{category}"] += n
            for reason, n in e["withheld"].items():
                c[f"reason:{reason}"] += n
    return out


class TestNumbers:
    def test_the_report_matches_the_scripted_history(self, start_gateway: Any, clock: Any) -> None:
        run = start_gateway(ROWS)
        march, april = scripted(run, clock)
        for start, end, history in ((MARCH, APRIL, march), (APRIL, MAY, april)):
            report = report_of(run, start, end)
            for tier in ("subscriber", "communication_records", "search_warrant"):
                expected = expected_numbers(history.tier(tier))
                assert numbers(report, tier) == expected, (start, tier)
            for tier in ("emergency", "preservation"):
                assert {numbers(report, tier)[c] for c in transparency.COUNTS} == {0}
        march_report = report_of(run, MARCH, APRIL)
        # The scripted history released something under every tier it used, withheld some
        # of it and pseudonymized people who were not named: the figures are not all zero.
        assert march_report["total"]["requests_with_data_produced"] == 3
        assert march_report["total"]["records_released"] > 0
        assert march_report["total"]["third_parties_pseudonymized"] > 0
        assert march_report["total"]["records_withheld"] > 0
        assert march_report["total"]["requests_received"] == 6

    def test_the_window_counts_only_entries_inside(self, start_gateway: Any, clock: Any) -> None:
        run = start_gateway(ROWS)
        scripted(run, clock)
        everything = report_of(run, MARCH, MAY)["total"]
        assert everything["requests_received"] == 7 and everything["revoked"] == 1
        april = report_of(run, APRIL, MAY)
        assert april["total"]["requests_received"] == 1
        # March's warrant, revoked in April, counts in April under its March tier.
        assert numbers(april, "search_warrant")["revoked"] == 1
        assert numbers(april, "search_warrant")["requests_received"] == 0
        # The edge: an entry at exactly `to` is the next period's, one at `from` this one's.
        at = APRIL + dt.timedelta(days=2)
        assert report_of(run, MARCH, at)["total"]["requests_received"] == 6
        assert report_of(run, at, MAY)["total"]["requests_received"] == 1
        assert report_of(run, MARCH - dt.timedelta(days=30), MARCH)["total"] == {
            **dict.fromkeys(transparency.COUNTS, 0),
            "records_released_by_category": {},
            "records_withheld_by_reason": {},
        }

    def test_it_names_the_signed_checkpoint_it_was_computed_over(
        self, start_gateway: Any, clock: Any
    ) -> None:
        run = start_gateway(ROWS)
        scripted(run, clock)
        report = report_of(run, MARCH, MAY)
        with run.client(AUDITOR) as auditor:
            latest = auditor.checkpoint()
        assert report["checkpoint"]["note"] == latest.note
        assert report["checkpoint"]["tree_size"] == latest.tree_size
        assert "Every count is exact" in report["banding"]["statement"]
        assert report["period"] == {"from": "2026-03-01T00:00:00Z", "to": "2026-05-01T00:00:00Z"}


class TestVerify:
    def test_an_independent_recount_of_a_copy_of_the_log_agrees(
        self, start_gateway: Any, clock: Any, backend: str, tmp_path: pathlib.Path
    ) -> None:
        run = start_gateway(ROWS)
        scripted(run, clock)
        report = report_of(run, MARCH, APRIL)
        copy = log_copy(run, backend, tmp_path / "copy.log")
        size = report["checkpoint"]["tree_size"]
        lines = copy.read_bytes().splitlines()[:size]
        recount = independent(lines, MARCH, APRIL)
        for tier, counted in recount.items():
            for name in transparency.COUNTS:
                assert numbers(report, tier)[name] == counted[name], (tier, name)
            breakdowns = {
                **{f"category:{k}": v for k, v in numbers(report, tier)[BY_CATEGORY].items()},
                **{f"reason:{k}": v for k, v in numbers(report, tier)[BY_REASON].items()},
            }
            assert breakdowns == {k: v for k, v in counted.items() if ":" in k and v}, tier
        assert set(recount) == {"subscriber", "communication_records", "search_warrant"}

    def test_wsg_report_verify_accepts_the_report_and_a_copy_of_the_log(
        self, start_gateway: Any, clock: Any, backend: str, tmp_path: pathlib.Path
    ) -> None:
        run = start_gateway(ROWS)
        scripted(run, clock)
        report = tmp_path / "report.json"
        report.write_text(json.dumps(report_of(run, MARCH, APRIL, band=5)))
        copy = log_copy(run, backend, tmp_path / "copy.log")
        with run.client(OFFICER) as officer:  # the log grows after the report: still fine
            officer.list()
        copy = log_copy(run, backend, tmp_path / "copy.log")
        key = run.gateway.reader.verifier_key
        result = cli("report", "verify", str(report), "--log", str(copy), "--key", key, "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["ok"] is True
        if backend == "postgresql":  # the shared table itself, as an auditor reads it
            url = str(run.gateway.config.database)
            result = cli("report", "verify", str(report), "--database", url, "--key", key)
            assert result.exit_code == 0, result.output
            assert "transparency report ok" in result.stdout

    def test_a_tampered_log_fails_verify(
        self, start_gateway: Any, clock: Any, backend: str, tmp_path: pathlib.Path
    ) -> None:
        run = start_gateway(ROWS)
        scripted(run, clock)
        report = tmp_path / "report.json"
        report.write_text(json.dumps(report_of(run, MARCH, APRIL)))
        copy = log_copy(run, backend, tmp_path / "copy.log")
        lines = copy.read_bytes().splitlines()
        at = next(i for i, line in enumerate(lines) if b'"warrant.rejected"' in line)
        lines[at] = lines[at].replace(b'"warrant.rejected"', b'"warrant.approved"')
        copy.write_bytes(b"".join(line + b"\n" for line in lines))
        key = run.gateway.reader.verifier_key
        result = cli("report", "verify", str(report), "--log", str(copy), "--key", key)
        assert result.exit_code == 1
        assert "do not give the checkpoint's root hash" in result.output
        # A log cut short of the checkpoint fails too, saying so.
        copy.write_bytes(b"".join(line + b"\n" for line in lines[:at]))
        result = cli("report", "verify", str(report), "--log", str(copy), "--key", key)
        assert result.exit_code == 1 and "the checkpoint covers" in result.output

    def test_an_edited_report_fails_verify_naming_what_differs(
        self, start_gateway: Any, clock: Any, backend: str, tmp_path: pathlib.Path
    ) -> None:
        run = start_gateway(ROWS)
        scripted(run, clock)
        original = report_of(run, MARCH, APRIL, band=2)
        copy = log_copy(run, backend, tmp_path / "copy.log")
        key = run.gateway.reader.verifier_key

        def verdict(edit: Any) -> str:
            edited = json.loads(json.dumps(original))
            edit(edited)
            path = tmp_path / "edited.json"
            path.write_text(json.dumps(edited))
            result = cli("report", "verify", str(path), "--log", str(copy), "--key", key, "--json")
            assert result.exit_code == 1, result.output
            return str(json.loads(result.stdout)["problem"])

        def fewer_rejected(r: dict[str, Any]) -> None:
            r["tiers"]["search_warrant"]["rejected"] = "2-3"

        assert verdict(fewer_rejected) == (
            "tiers.search_warrant.rejected: the report says '2-3', the log gives '0-1'"
        )

        def exact_counts(r: dict[str, Any]) -> None:
            r["banding"]["width"] = 0

        assert verdict(exact_counts).startswith("banding.statement:")

        def other_period(r: dict[str, Any]) -> None:
            r["period"]["to"] = "2026-05-01T00:00:00Z"

        assert verdict(other_period).startswith("tiers.subscriber.approved:")

        def forged_note(r: dict[str, Any]) -> None:
            r["checkpoint"]["note"] = r["checkpoint"]["note"].replace(
                f"\n{original['checkpoint']['tree_size']}\n", "\n3\n"
            )

        assert "checkpoint note does not verify" in verdict(forged_note)

        def bigger_tree(r: dict[str, Any]) -> None:
            r["checkpoint"]["tree_size"] += 1

        assert verdict(bigger_tree).startswith("checkpoint.tree_size:")

        def dropped(r: dict[str, Any]) -> None:
            del r["total"]["revoked"]

        assert verdict(dropped) == "total.revoked: the log gives '0-1', the report leaves it out"
        # Not a report at all: one line, exit 1 (a JSON that is no report) or 2 (not JSON).
        assert "not a transparency report" in verdict(lambda r: r.pop("format"))
        assert verdict(lambda r: r.pop("banding")) == "banding.width: missing from the report"
        assert verdict(lambda r: r["period"].update(to="soon")) == (
            "period.to: not an RFC 3339 time"
        )
        (tmp_path / "garbage.json").write_text("<html>")
        result = cli("report", "verify", str(tmp_path / "garbage.json"), "--log", str(copy))
        assert result.exit_code == 2 and "not JSON" in result.output

    def test_a_report_from_another_gateways_key_fails(
        self, start_gateway: Any, clock: Any, backend: str, tmp_path: pathlib.Path
    ) -> None:
        run = start_gateway(ROWS)
        scripted(run, clock)
        report = tmp_path / "report.json"
        report.write_text(json.dumps(report_of(run, MARCH, APRIL)))
        copy = log_copy(run, backend, tmp_path / "copy.log")
        other = start_gateway(ROWS, data=tmp_path / "other")
        key = other.gateway.reader.verifier_key
        result = cli("report", "verify", str(report), "--log", str(copy), "--key", key)
        assert result.exit_code == 1 and "checkpoint note does not verify" in result.output


class TestBanding:
    @pytest.mark.parametrize(
        "value, width, shown",
        [
            (0, 250, "0-249"),
            (1, 250, "0-249"),
            (249, 250, "0-249"),
            (250, 250, "250-499"),
            (499, 250, "250-499"),
            (500, 250, "500-749"),
            (0, 1, "0-0"),
            (7, 0, 7),
            (249, 0, 249),
        ],
    )
    def test_bands_are_exact_at_the_edges(self, value: int, width: int, shown: Any) -> None:
        assert transparency.band(value, width) == shown

    def test_the_report_states_its_banding_and_bands_every_count(
        self, start_gateway: Any, clock: Any
    ) -> None:
        run = start_gateway(ROWS)
        scripted(run, clock)
        exact = report_of(run, MARCH, APRIL)
        banded = report_of(run, MARCH, APRIL, band=3)
        assert banded["banding"]["width"] == 3
        assert "bands of 3: 0-2, 3-5" in banded["banding"]["statement"]
        for tier, figures in exact["tiers"].items():
            for name in transparency.COUNTS:
                low = figures[name] // 3 * 3
                assert banded["tiers"][tier][name] == f"{low}-{low + 2}"
        assert exact["total"]["requests_received"] == 6
        assert banded["total"]["requests_received"] == "6-8"
        by_category = banded["total"]["records_released_by_category"]
        assert by_category and all("-" in v for v in by_category.values())

    def test_a_backwards_period_is_refused(self, start_gateway: Any, clock: Any) -> None:
        run = start_gateway(ROWS)
        with run.client(AUDITOR) as auditor, pytest.raises(ClientError) as err:
            auditor.transparency_report(APRIL, MARCH)
        assert err.value.code is grpc.StatusCode.INVALID_ARGUMENT
        assert "the period must end after it starts" in err.value.message
        with pytest.raises(transparency.ReportError, match="must end after it starts"):
            transparency.Period(APRIL, APRIL)


class TestAccess:
    @pytest.mark.parametrize("who", [OFFICER, "mallory"])
    def test_the_rpc_is_refused_to_a_role_without_permission(
        self, start_gateway: Any, clock: Any, who: str
    ) -> None:
        run = start_gateway(ROWS)
        with run.client(who) as caller, pytest.raises(ClientError) as err:
            caller.transparency_report(MARCH, APRIL)
        assert err.value.code is grpc.StatusCode.PERMISSION_DENIED
        last = run.entries()[-1]
        assert (last["event"], last["principal"], last["rpc"]) == (
            "api.denied",
            who,
            "GetTransparencyReport",
        )


class TestCli:
    def test_json_csv_and_html_from_a_running_gateway_and_offline(
        self, start_gateway: Any, clock: Any, backend: str, tmp_path: pathlib.Path
    ) -> None:
        run = start_gateway(ROWS)
        scripted(run, clock)
        online = [
            "report",
            "transparency",
            "--from",
            "2026-03-01",
            "--to",
            "2026-04-01",
            "--server",
            run.address,
            "--insecure",
            "--identity",
            AUDITOR,
        ]
        result = cli(*online, "--json")
        assert result.exit_code == 0, result.output
        served = json.loads(result.stdout)
        assert served["tiers"]["search_warrant"]["rejected"] == 1
        csv_text = cli(*online, "--csv").stdout
        assert csv_text.splitlines()[0] == "tier,measure,key,value"
        assert "search_warrant,rejected,,1" in csv_text.splitlines()
        assert "report,band_width,,0" in csv_text.splitlines()
        page = cli(*online, "--html", "--band", "250").stdout
        assert page.startswith("<!DOCTYPE html>") and "0-249" in page
        assert "Every count is published in bands of 250" in page
        people = cli(*online)
        assert people.exit_code == 0 and "Rejected" in people.stdout
        # Offline, from the data directory and its signed checkpoint: the same numbers (the
        # embedded backend's files; a PostgreSQL deployment reads the tables: --database).
        data = run.gateway.data
        offline = ["report", "transparency", "--from", "2026-03-01", "--to", "2026-04-01"]
        where = ["--data", str(data.root)]
        if backend == "postgresql":
            where += ["--database", str(run.gateway.config.database)]
        result = cli(*offline, *where, "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["tiers"] == served["tiers"]
        result = cli(*offline, "--data", str(tmp_path / "nowhere"), "--json")
        assert result.exit_code == 2 and "no audit log" in result.output
        result = cli("report", "transparency", "--from", "March", "--to", "2026-04-01", *where)
        assert result.exit_code == 2 and "--from: 'March' is neither a date" in result.output

    def test_html_and_csv_escape_what_the_log_holds(self) -> None:
        """Tier and category names come from the log: a hostile one is text, not markup."""
        hostile = "<script>alert(1)</script>"
        figures = {
            **dict.fromkeys(transparency.COUNTS, 1),
            "records_released_by_category": {hostile: 2},
            "records_withheld_by_reason": {'a,"b"': 1},
        }
        report = {
            "format": transparency.FORMAT,
            "period": {"from": "2026-03-01T00:00:00Z", "to": "2026-04-01T00:00:00Z"},
            "banding": {"width": 0, "statement": transparency.banding_statement(0)},
            "checkpoint": {"origin": "o", "tree_size": 1, "root_hash": "x", "note": "<b>\n"},
            "tiers": {hostile: figures},
            "total": figures,
        }
        page = to_html(report)
        assert hostile not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "<b>" not in page and "&lt;b&gt;" in page
        assert '"a,""b"""' in to_csv(report)
