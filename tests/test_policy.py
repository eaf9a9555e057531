"""The release policy: Casbin's answers, the compiled fast path, the guarantees, failing closed."""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import pathlib
import shutil
import subprocess
from typing import Any

import casbin
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.errors import FailedPrecondition
from gateway.model import Category, Effect, Relation, TextMode, Tier, WarrantState, WindowPosition
from gateway.policy.enforcer import Enforcer
from gateway.policy.guarantees import TIER_REACH
from gateway.policy.release import (
    MODEL_FILE,
    NO_MATCH_REASON,
    POLICY_FILE,
    Decision,
    DecisionRequest,
    ReleasePolicy,
    _casbin_values,
    all_requests,
    policy_version,
)

POLICY_DIR = pathlib.Path(__file__).resolve().parent.parent / "policies"
CASES_FILE = POLICY_DIR / "decision_cases.yaml"
CASE_KEYS = {
    "relation",
    "category",
    "window",
    "state",
    "named",
    "received_direct",
    "tier",
    "effect",
    "reason",
    "text",
    "why",
}
RELEASED = {Effect.RELEASE, Effect.RELEASE_PSEUDONYMIZED}
MESSAGE_CATEGORIES = (Category.MESSAGE_METADATA, Category.MESSAGE_CONTENT)
DOMAIN = all_requests()


def _load_cases() -> list[dict[str, Any]]:
    return yaml.safe_load(CASES_FILE.read_text())["cases"]


CASES = _load_cases()


def _case_id(index: int, case: dict[str, Any]) -> str:
    named = "named" if case["named"] else "unnamed"
    received = "recv" if case["received_direct"] else "norecv"
    outcome = case["reason"] or case["effect"]
    return (
        f"{index:02d}-{case['relation']}-{case['category']}-{case['window']}-{case['state']}"
        f"-{named}-{received}-{case.get('tier', 'search_warrant')}->{outcome}"
    )


def _request(case: dict[str, Any]) -> DecisionRequest:
    return DecisionRequest(
        relation=Relation(case["relation"]),
        category=Category(case["category"]),
        window=WindowPosition(case["window"]),
        state=WarrantState(case["state"]),
        named=case["named"],
        received_direct=case["received_direct"],
        tier=Tier(case.get("tier", "search_warrant")),
    )


def _expected(case: dict[str, Any]) -> Decision:
    text = case["text"]
    return Decision(
        Effect(case["effect"]), case["reason"], None if text is None else TextMode(text)
    )


CASE_PARAMS = [pytest.param(case, id=_case_id(i, case)) for i, case in enumerate(CASES, 1)]


@pytest.fixture(scope="module")
def policy() -> ReleasePolicy:
    return ReleasePolicy.load(POLICY_DIR)


def _copy_policy(tmp_path: pathlib.Path) -> pathlib.Path:
    target = tmp_path / "policies"
    target.mkdir()
    for name in (MODEL_FILE, POLICY_FILE):
        shutil.copy(POLICY_DIR / name, target / name)
    return target


def _rules(text: str) -> list[list[str]]:
    """The rule rows of a policy.csv text, parsed independently of gateway.policy."""
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            rows.append([f.strip() for f in line.split(",")][1:])
    return rows


def _first_match(rows: list[list[str]], req: DecisionRequest) -> Decision:
    """A reference first-match-wins evaluator: what the policy means, written out in Python."""
    values = [
        req.relation.value,
        req.category.value,
        req.window.value,
        req.state.value,
        "yes" if req.named else "no",
        "yes" if req.received_direct else "no",
        req.tier.value,
    ]
    for row in rows:
        if all(p in ("*", v) for p, v in zip(row[:7], values, strict=True)):
            effect = Effect(row[7])
            if effect is Effect.WITHHOLD:
                return Decision(effect, row[8])
            return Decision(effect, None, TextMode(row[9]))
    return Decision(Effect.WITHHOLD, NO_MATCH_REASON)


class TestDecisionCases:
    """Every row of policies/decision_cases.yaml gets its effect and reason from both paths."""

    @pytest.mark.parametrize("case", CASE_PARAMS)
    def test_enforcer_decides_case(self, policy: ReleasePolicy, case: dict[str, Any]) -> None:
        assert policy.decide_direct(_request(case)) == _expected(case), case["why"]

    @pytest.mark.parametrize("case", CASE_PARAMS)
    def test_fast_path_decides_case(self, policy: ReleasePolicy, case: dict[str, Any]) -> None:
        req = _request(case)
        assert policy.decide(req) == _expected(case), case["why"]
        assert policy.decide_key(
            req.relation,
            req.category,
            req.window,
            req.state,
            req.named,
            req.received_direct,
            req.tier,
        ) == _expected(case), case["why"]

    def test_cases_are_well_formed(self) -> None:
        assert len(CASES) >= 30
        for i, case in enumerate(CASES, 1):
            assert set(case) | {"tier"} == CASE_KEYS, f"case {i}: keys {sorted(case)}"
            assert isinstance(case["named"], bool) and isinstance(case["received_direct"], bool)
            assert isinstance(case["why"], str) and case["why"].strip(), f"case {i}: no why"
            assert (case["reason"] is None) == (case["effect"] != "withhold"), f"case {i}"
            assert (case["text"] is None) == (case["effect"] == "withhold"), f"case {i}"
            _request(case), _expected(case)  # every value exists
        keys = [
            tuple(_request(c).__getattribute__(f) for f in DecisionRequest.__slots__) for c in CASES
        ]
        assert len(keys) == len(set(keys)), "a case appears twice"

    def test_cases_cover_every_denial(self) -> None:
        reasons_in_policy = {
            row[8] for row in _rules((POLICY_DIR / POLICY_FILE).read_text()) if row[7] == "withhold"
        } | {NO_MATCH_REASON}
        withheld = [c for c in CASES if c["effect"] == "withhold"]
        assert reasons_in_policy <= {c["reason"] for c in withheld}
        assert {s.value for s in WarrantState} - {"APPROVED"} <= {c["state"] for c in withheld}
        assert any(c["window"] == "outside" for c in withheld)
        assert any(not c["named"] for c in withheld)
        assert any(c["relation"] == "unrelated" for c in withheld)
        for category in MESSAGE_CATEGORIES:
            assert any(
                c["relation"] == "group_peer" and c["category"] == category for c in withheld
            ), category
        assert {c["effect"] for c in CASES} == {e.value for e in Effect}


class TestFastPath:
    """The compiled table answers exactly what the Casbin Enforcer answers."""

    def test_every_request_agrees_with_enforcer(self, policy: ReleasePolicy) -> None:
        assert len(DOMAIN) == 4 * 6 * 3 * 5 * 2 * 2 * 5 == len(set(DOMAIN))
        differences = [
            (req, policy.decide(req), policy.decide_direct(req))
            for req in DOMAIN
            if policy.decide(req) != policy.decide_direct(req)
        ]
        assert differences == []

    def test_the_enforcer_answers_as_a_plain_casbin_enforcer(self, policy: ReleasePolicy) -> None:
        """The Enforcer that parses its matcher once answers what pycasbin's own does."""
        plain = casbin.Enforcer(str(POLICY_DIR / MODEL_FILE), str(POLICY_DIR / POLICY_FILE))
        ours = Enforcer(str(POLICY_DIR / MODEL_FILE), str(POLICY_DIR / POLICY_FILE))
        for req in DOMAIN[::7]:
            values = _casbin_values(*dataclasses.astuple(req))
            assert ours.enforce_ex(*values) == plain.enforce_ex(*values), req

    def test_decide_key_agrees_with_decide(self, policy: ReleasePolicy) -> None:
        for req in DOMAIN:
            assert policy.decide_key(
                req.relation,
                req.category,
                req.window,
                req.state,
                req.named,
                req.received_direct,
                req.tier,
            ) == policy.decide(req), req

    @settings(max_examples=300, deadline=None)
    @given(
        st.builds(
            DecisionRequest,
            st.sampled_from(Relation),
            st.sampled_from(Category),
            st.sampled_from(WindowPosition),
            st.sampled_from(WarrantState),
            st.booleans(),
            st.booleans(),
            st.sampled_from(Tier),
        )
    )
    def test_random_requests_agree_with_enforcer(
        self, policy: ReleasePolicy, req: DecisionRequest
    ) -> None:
        assert policy.decide(req) == policy.decide_direct(req)

    def test_plain_strings_decide_like_enums(self, policy: ReleasePolicy) -> None:
        assert policy.decide_key(
            "self", "logins", "inside", "APPROVED", True, False, "search_warrant"
        ) == Decision(Effect.RELEASE, None, TextMode.PSEUDONYMIZE)

    @pytest.mark.parametrize(
        "bad",
        [
            pytest.param(
                ("friend", "logins", "inside", "APPROVED", True, False, "search_warrant"),
                id="relation",
            ),
            pytest.param(
                ("self", "photos", "inside", "APPROVED", True, False, "search_warrant"),
                id="category",
            ),
            pytest.param(
                ("self", "logins", "inside", "approved", True, False, "search_warrant"),
                id="state",
            ),
            pytest.param(
                ("self", "logins", "inside", "APPROVED", "yes", False, "search_warrant"),
                id="named",
            ),
            pytest.param(
                ("self", "logins", "inside", "APPROVED", True, False, "subpoena"), id="tier"
            ),
        ],
    )
    def test_requests_outside_domain_raise(self, policy: ReleasePolicy, bad: tuple) -> None:
        with pytest.raises(ValueError, match="not a decision request"):
            policy.decide_key(*bad)
        with pytest.raises(ValueError, match="not a decision request"):
            policy.decide_direct(DecisionRequest(*bad))

    def test_compile_time_is_recorded(self, policy: ReleasePolicy) -> None:
        assert 0 < policy.compile_seconds < 30


@pytest.fixture(scope="module")
def answers(policy: ReleasePolicy) -> list[tuple[DecisionRequest, Decision]]:
    """Every request of the domain with the Enforcer's answer and the fast path's answer."""
    pairs = []
    for req in DOMAIN:
        pairs.append((req, policy.decide_direct(req)))
        pairs.append((req, policy.decide(req)))
    return pairs


class TestInvariants:
    """Over the whole domain, neither the Enforcer nor the fast path releases what is forbidden."""

    def test_peers_and_unrelated_never_released(self, answers: list) -> None:
        assert [
            r
            for r, d in answers
            if r.relation in (Relation.GROUP_PEER, Relation.UNRELATED) and d.effect in RELEASED
        ] == []

    def test_nothing_without_approved_warrant(self, answers: list) -> None:
        assert [
            r for r, d in answers if r.state is not WarrantState.APPROVED and d.effect in RELEASED
        ] == []

    def test_nothing_outside_window(self, answers: list) -> None:
        assert [
            r for r, d in answers if r.window is WindowPosition.OUTSIDE and d.effect in RELEASED
        ] == []

    def test_nothing_from_unnamed_categories(self, answers: list) -> None:
        assert [r for r, d in answers if not r.named and d.effect in RELEASED] == []

    def test_received_direct_only_when_asked(self, answers: list) -> None:
        assert [
            r
            for r, d in answers
            if r.relation is Relation.DIRECT_PEER and not r.received_direct and d.effect in RELEASED
        ] == []

    def test_only_target_only_records_in_clear(self, answers: list) -> None:
        in_clear = {(r.relation, r.category) for r, d in answers if d.effect is Effect.RELEASE}
        assert in_clear == {(Relation.SELF, Category.SUBSCRIBER), (Relation.SELF, Category.LOGINS)}

    def test_reason_exactly_when_withheld(self, answers: list) -> None:
        for req, decision in answers:
            assert (decision.reason is not None) == (decision.effect is Effect.WITHHOLD), req

    def test_no_tier_releases_beyond_its_ceiling(self, answers: list) -> None:
        """The law's table (guarantees.TIER_REACH), over every answer of both paths."""
        assert [
            r for r, d in answers if d.effect in RELEASED and r.category not in TIER_REACH[r.tier]
        ] == []

    def test_each_tier_reaches_what_the_rows_say(self, policy: ReleasePolicy) -> None:
        """reach(tier), what intake allows, is read from the compiled rows."""
        assert {t: {c.value for c in policy.reach(t)} for t in Tier} == {
            Tier.SUBSCRIBER: {"subscriber"},
            Tier.COMMUNICATION_RECORDS: {"subscriber", "logins", "message_metadata", "memberships"},
            Tier.SEARCH_WARRANT: {c.value for c in Category},
            Tier.EMERGENCY: {"subscriber", "logins", "message_metadata"},
            Tier.PRESERVATION: set(),
        }

    def test_every_tier_and_category_has_a_case(self) -> None:
        """policies/decision_cases.yaml pins every tier against every category."""
        pinned = {
            (c.get("tier", "search_warrant"), c["category"])
            for c in CASES
            if c["relation"] == "self" and c["state"] == "APPROVED" and c["named"]
        }
        assert pinned >= {(t.value, c.value) for t in Tier for c in Category}

    def test_release_happens_at_all(self, answers: list) -> None:
        counts = collections.Counter(d.effect for _, d in answers)
        assert counts[Effect.RELEASE] and counts[Effect.RELEASE_PSEUDONYMIZED]


class TestCasbinFirstMatch:
    """The first matching row in file order decides, as model.conf documents for pycasbin."""

    def test_real_policy_is_first_match(self, policy: ReleasePolicy) -> None:
        rows = _rules((POLICY_DIR / POLICY_FILE).read_text())
        assert [r for r in DOMAIN if policy.decide_direct(r) != _first_match(rows, r)] == []

    def test_order_of_overlapping_rows_decides(self, tmp_path: pathlib.Path) -> None:
        directory = _copy_policy(tmp_path)
        first = "p, self, *, *, *, *, *, search_warrant, withhold, first_row, -\n"
        second = (
            "p, self, logins, inside, APPROVED, yes, *, search_warrant, release, -, pseudonymize\n"
        )
        req = DecisionRequest(
            Relation.SELF,
            Category.LOGINS,
            WindowPosition.INSIDE,
            WarrantState.APPROVED,
            True,
            False,
        )
        (directory / POLICY_FILE).write_text(first + second)
        assert ReleasePolicy.load(directory).decide_direct(req) == Decision(
            Effect.WITHHOLD, "first_row"
        )
        (directory / POLICY_FILE).write_text(second + first)
        assert ReleasePolicy.load(directory).decide_direct(req) == Decision(
            Effect.RELEASE, None, TextMode.PSEUDONYMIZE
        )

    def test_later_row_decides_when_earlier_rows_miss(self, tmp_path: pathlib.Path) -> None:
        directory = _copy_policy(tmp_path)
        (directory / POLICY_FILE).write_text(
            "p, unrelated, *, *, *, *, *, search_warrant, withhold, one, -\n"
            "p, group_peer, *, *, *, *, *, search_warrant, withhold, two, -\n"
            "p, self, contacts, inside, APPROVED, yes, "
            "no, search_warrant, release_pseudonymized, -, pseudonymize\n"
        )
        policy = ReleasePolicy.load(directory)
        req = DecisionRequest(
            Relation.SELF,
            Category.CONTACTS,
            WindowPosition.INSIDE,
            WarrantState.APPROVED,
            True,
            False,
        )
        assert policy.decide_direct(req) == Decision(
            Effect.RELEASE_PSEUDONYMIZED, None, TextMode.PSEUDONYMIZE
        )
        other = DecisionRequest(
            Relation.SELF,
            Category.CONTACTS,
            WindowPosition.INSIDE,
            WarrantState.APPROVED,
            True,
            True,
        )
        assert policy.decide_direct(other) == Decision(Effect.WITHHOLD, NO_MATCH_REASON)
        assert policy.decide(other) == Decision(Effect.WITHHOLD, NO_MATCH_REASON)


class TestGuarantees:
    """Whatever the rules say (they can change at run time on PostgreSQL), a policy that would
    release what the guarantees 1 and 2 forbid is refused at load."""

    @pytest.mark.parametrize(
        "row, named",
        [
            (
                "p, group_peer, message_content, inside, APPROVED, yes, *, search_warrant,"
                " release_pseudonymized, -, pseudonymize",
                "guarantee 1",
            ),
            (
                "p, self, message_content, inside, APPROVED, yes, *, search_warrant,"
                " release_pseudonymized, -, clear",
                "free text in clear",
            ),
            (
                "p, self, logins, inside, APPROVED, yes, *, search_warrant, release, -, clear",
                "free text in clear",
            ),
            (
                "p, unrelated, *, *, APPROVED, yes, "
                "*, search_warrant, release_pseudonymized, -, pseudonymize",
                "guarantee 1",
            ),
            (
                "p, self, logins, outside, APPROVED, yes, "
                "*, search_warrant, release, -, pseudonymize",
                "outside the window",
            ),
            (
                "p, self, logins, inside, APPROVED, no, "
                "*, search_warrant, release, -, pseudonymize",
                "does not name",
            ),
            (
                "p, self, logins, inside, EXPIRED, yes, "
                "*, search_warrant, release, -, pseudonymize",
                "not APPROVED",
            ),
        ],
    )
    def test_a_policy_breaking_a_guarantee_is_refused(
        self, tmp_path: pathlib.Path, row: str, named: str
    ) -> None:
        directory = _copy_policy(tmp_path)
        (directory / POLICY_FILE).write_text(row + "\n" + (POLICY_DIR / POLICY_FILE).read_text())
        with pytest.raises(FailedPrecondition) as err:
            ReleasePolicy.load(directory)
        assert named in err.value.message and "refused" in err.value.message

    @pytest.mark.parametrize(
        "row",
        [
            "p, self, message_content, inside, APPROVED, yes, *, subscriber,"
            " release_pseudonymized, -, pseudonymize",
            "p, self, logins, inside, APPROVED, yes, *, subscriber, release, -, pseudonymize",
            "p, self, *, inside, APPROVED, yes, *, subscriber, release_pseudonymized, -, withhold",
            "p, self, message_content, inside, APPROVED, yes, *, communication_records,"
            " release_pseudonymized, -, withhold",
            "p, self, contacts, inside, APPROVED, yes, *, communication_records,"
            " release_pseudonymized, -, pseudonymize",
            "p, self, subscriber, timeless, APPROVED, yes, *, preservation, release, -, withhold",
            "p, self, *, inside, APPROVED, yes, *, *, release_pseudonymized, -, withhold",
        ],
    )
    def test_a_rule_giving_a_tier_more_than_the_law_is_refused(
        self, tmp_path: pathlib.Path, row: str
    ) -> None:
        """A tier's ceiling holds whatever the rules say: first in the file or not."""
        directory = _copy_policy(tmp_path)
        (directory / POLICY_FILE).write_text(row + "\n" + (POLICY_DIR / POLICY_FILE).read_text())
        with pytest.raises(FailedPrecondition) as err:
            ReleasePolicy.load(directory)
        assert "beyond what a" in err.value.message and "refused" in err.value.message

    def test_the_shipped_policy_keeps_every_guarantee(self) -> None:
        assert ReleasePolicy.load(POLICY_DIR).guarantee_breach() is None


GARBAGE_MODELS = {
    "not_a_model": "this is not a casbin model\nat all\n",
    "empty": "",
    "no_matchers": "[request_definition]\nr = relation, category, window, state, named, "
    "received_direct\n[policy_definition]\np = relation, category, window, state, "
    "named, received_direct, effect, reason\n[policy_effect]\n"
    "e = some(where (p.eft == allow))\n",
}


def _model_with(old: str, new: str) -> str:
    text = (POLICY_DIR / MODEL_FILE).read_text()
    assert old in text
    return text.replace(old, new)


class TestFailClosed:
    """A policy that cannot be read or understood is refused with one line naming the file."""

    def _assert_refused(self, directory: pathlib.Path, file_name: str, *words: str) -> None:
        with pytest.raises(FailedPrecondition) as caught:
            ReleasePolicy.load(directory)
        message = caught.value.message
        assert str(directory / file_name) in message
        assert "\n" not in message
        for word in words:
            assert word in message

    @pytest.mark.parametrize("name", [MODEL_FILE, POLICY_FILE])
    def test_missing_file(self, tmp_path: pathlib.Path, name: str) -> None:
        directory = _copy_policy(tmp_path)
        (directory / name).unlink()
        self._assert_refused(directory, name, "missing")

    def test_missing_directory(self, tmp_path: pathlib.Path) -> None:
        self._assert_refused(tmp_path / "nowhere", MODEL_FILE, "missing")

    def test_unreadable_file(self, tmp_path: pathlib.Path) -> None:
        directory = _copy_policy(tmp_path)
        (directory / POLICY_FILE).unlink()
        (directory / POLICY_FILE).mkdir()  # unreadable as a file, even for root
        self._assert_refused(directory, POLICY_FILE, "cannot be read")

    def test_policy_not_utf8(self, tmp_path: pathlib.Path) -> None:
        directory = _copy_policy(tmp_path)
        (directory / POLICY_FILE).write_bytes(
            b"p, self, \xff, *, *, *, *, search_warrant, release, -, pseudonymize\n"
        )
        self._assert_refused(directory, POLICY_FILE, "UTF-8")

    @pytest.mark.parametrize("name", sorted(GARBAGE_MODELS))
    def test_garbage_model(self, tmp_path: pathlib.Path, name: str) -> None:
        directory = _copy_policy(tmp_path)
        (directory / MODEL_FILE).write_text(GARBAGE_MODELS[name])
        self._assert_refused(directory, MODEL_FILE)

    @pytest.mark.parametrize(
        "old,new,words",
        [
            pytest.param(
                "r = relation, category, window, state, named, received_direct",
                "r = relation, category, window, state, named",
                ["request_definition"],
                id="request-fields",
            ),
            pytest.param(
                "tier, effect, reason",
                "tier, eft",
                ["policy_definition"],
                id="policy-fields",
            ),
            pytest.param(
                "e = some(where (p.eft == allow))",
                "e = !some(where (p.eft == deny))",
                ["policy_effect", "first match"],
                id="deny-override-effect",
            ),
            pytest.param(
                "e = some(where (p.eft == allow))",
                "e = whatever(p.eft)",
                ["policy_effect"],
                id="unknown-effect",
            ),
            pytest.param(
                '(p.relation == "*" || p.relation == r.relation)',
                '(p.relation == "*" || p.relation == r.nonexistent)',
                ["matcher"],
                id="matcher-unknown-name",
            ),
            pytest.param(
                '(p.relation == "*" || p.relation == r.relation)',
                '(p.relation == "*" || p.relation == ',
                ["matcher"],
                id="matcher-syntax",
            ),
        ],
    )
    def test_broken_model(
        self, tmp_path: pathlib.Path, old: str, new: str, words: list[str]
    ) -> None:
        directory = _copy_policy(tmp_path)
        (directory / MODEL_FILE).write_text(_model_with(old, new))
        self._assert_refused(directory, MODEL_FILE, *words)

    @pytest.mark.parametrize(
        "row,words",
        [
            pytest.param(
                "p, self, logins, inside, APPROVED, yes, *, search_warrant, allow, -, -",
                ["unknown effect"],
                id="unknown-effect",
            ),
            pytest.param(
                "p, self, logins, inside, APPROVED, yes, release, -, pseudonymize",
                ["fields"],
                id="too-few-fields",
            ),
            pytest.param(
                "p, self, logins, inside, APPROVED, yes, *, *, *, release, -, pseudonymize",
                ["fields"],
                id="too-many-fields",
            ),
            pytest.param(
                "p, friend, logins, inside, APPROVED, yes, "
                "*, search_warrant, release, -, pseudonymize",
                ["unknown relation"],
                id="unknown-relation",
            ),
            pytest.param(
                "p, self, photos, inside, APPROVED, yes, "
                "*, search_warrant, release, -, pseudonymize",
                ["unknown category"],
                id="unknown-category",
            ),
            pytest.param(
                "p, self, logins, during, APPROVED, yes, "
                "*, search_warrant, release, -, pseudonymize",
                ["unknown window"],
                id="unknown-window",
            ),
            pytest.param(
                "p, self, logins, inside, approved, yes, "
                "*, search_warrant, release, -, pseudonymize",
                ["unknown state"],
                id="unknown-state",
            ),
            pytest.param(
                "p, self, logins, inside, APPROVED, true, "
                "*, search_warrant, release, -, pseudonymize",
                ["unknown named"],
                id="unknown-named",
            ),
            pytest.param(
                "p, self, logins, inside, APPROVED, yes, *, search_warrant, withhold, -, -",
                ["reason"],
                id="withhold-without-reason",
            ),
            pytest.param(
                "p, self, logins, inside, APPROVED, yes, "
                "*, search_warrant, release, oops, pseudonymize",
                ["reason"],
                id="release-with-reason",
            ),
            pytest.param(
                "p, self, logins, inside, APPROVED, yes, *, search_warrant, release, -, -",
                ["how its text leaves"],
                id="release-without-text-mode",
            ),
            pytest.param(
                "p, self, logins, inside, APPROVED, yes, *, search_warrant, release, -, scramble",
                ["how its text leaves", "scramble"],
                id="unknown-text-mode",
            ),
            pytest.param(
                "p, self, logins, inside, APPROVED, yes, "
                "*, search_warrant, withhold, nope, pseudonymize",
                ["withhold rule takes text '-'"],
                id="withhold-with-text-mode",
            ),
            pytest.param("g, self, admin", ["rule type"], id="role-row"),
            pytest.param(
                "q, self, logins, inside, APPROVED, yes, *, release, -, pseudonymize",
                ["rule type"],
                id="unknown-rule-type",
            ),
        ],
    )
    def test_bad_rule(self, tmp_path: pathlib.Path, row: str, words: list[str]) -> None:
        directory = _copy_policy(tmp_path)
        text = (directory / POLICY_FILE).read_text()
        (directory / POLICY_FILE).write_text(text + row + "\n")
        line = len(text.splitlines()) + 1
        self._assert_refused(directory, POLICY_FILE, f"line {line}", *words)

    def test_empty_policy(self, tmp_path: pathlib.Path) -> None:
        directory = _copy_policy(tmp_path)
        (directory / POLICY_FILE).write_text("# nothing but a comment\n")
        self._assert_refused(directory, POLICY_FILE, "no rules")


class TestVersion:
    """The version names the exact bytes of model.conf and policy.csv."""

    def test_version_is_stable_sha256(self, policy: ReleasePolicy) -> None:
        assert len(policy.version) == 64 and int(policy.version, 16) >= 0
        assert ReleasePolicy.load(POLICY_DIR).version == policy.version

    @pytest.mark.parametrize("name", [MODEL_FILE, POLICY_FILE])
    def test_version_changes_with_either_file(
        self, tmp_path: pathlib.Path, policy: ReleasePolicy, name: str
    ) -> None:
        directory = _copy_policy(tmp_path)
        assert ReleasePolicy.load(directory).version == policy.version
        with (directory / name).open("a") as f:
            f.write("# a comment changes no decision but is a different policy\n")
        assert ReleasePolicy.load(directory).version != policy.version

    def test_version_changes_with_a_rule(
        self, tmp_path: pathlib.Path, policy: ReleasePolicy
    ) -> None:
        directory = _copy_policy(tmp_path)
        path = directory / POLICY_FILE
        path.write_text(
            path.read_text().replace(
                "p, self, logins, inside, APPROVED, yes, "
                "*, search_warrant, release, -, pseudonymize",
                "p, self, logins, inside, APPROVED, yes, "
                "*, search_warrant, release_pseudonymized, -, pseudonymize",
            )
        )
        changed = ReleasePolicy.load(directory)
        assert changed.version != policy.version
        req = DecisionRequest(
            Relation.SELF,
            Category.LOGINS,
            WindowPosition.INSIDE,
            WarrantState.APPROVED,
            True,
            False,
        )
        assert changed.decide(req).effect is Effect.RELEASE_PSEUDONYMIZED

    def test_moving_bytes_between_files_changes_version(self) -> None:
        assert policy_version(b"ab", b"c") != policy_version(b"a", b"bc")

    def test_version_matches_standard_tools(self, policy: ReleasePolicy) -> None:
        listing = "".join(
            f"{hashlib.sha256((POLICY_DIR / n).read_bytes()).hexdigest()}  {n}\n"
            for n in (MODEL_FILE, POLICY_FILE)
        )
        assert policy.version == hashlib.sha256(listing.encode()).hexdigest()
        if shutil.which("sha256sum") is None:
            return
        out = subprocess.run(
            f"sha256sum {MODEL_FILE} {POLICY_FILE} | sha256sum",
            shell=True,
            cwd=POLICY_DIR,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert out.split()[0] == policy.version
