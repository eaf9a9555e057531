"""The release through store parts equals the release decided record by record by Casbin.

The fast path reads the reference store in parts decided whole (stores.base.Part): a part the
policy withholds for all its categories is counted from an index, never read, and a part it
releases is read as Values. The reference is the same release with the store's parts hidden
(each record read as a StoreRecord) and every question answered by the Casbin Enforcer itself
(`decide_direct`). Over generated scopes and generated policies, on a world with direct and
group rooms, members leaving and rejoining, replies, forwards and text naming people, both must
give the same bytes: every record, every batch entry, every count by reason, the summary.
The store's parts are also held to their contract on every example.
"""

from __future__ import annotations

import datetime as dt
import pathlib
import random
import shutil
import tempfile
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gateway.errors import FailedPrecondition
from gateway.model import (
    Category,
    Scope,
    StoreRecord,
    Warrant,
    WarrantSpec,
    WarrantState,
    Window,
)
from gateway.policy.release import DecisionRequest, ReleasePolicy
from gateway.release.items import Batch, Summary
from gateway.release.pipeline import ReleaseRun
from gateway.settings import DEFAULT_POLICY_DIR
from gateway.stores.reference.sqlite import ReferenceStore

BOTH_BACKENDS = True  # every test here runs on SQLite and on the real PostgreSQL (conftest)

BASE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
ACCOUNTS = ["a1", "a10", "a2", "b1", "b11", "c3"]
NAMES = {
    "a1": "김민수",
    "a10": "Alice Walker",
    "a2": "박지우",
    "b1": "Brian Lopez",
    "b11": "최서연",
}


def hour(n: int) -> str:
    return (BASE + dt.timedelta(hours=n)).strftime("%Y-%m-%dT%H:%M:%SZ")


def world(seed: int = 7) -> list[dict[str, Any]]:
    """A fixed world, rich in what the release must tell apart."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = [
        {
            "kind": "account",
            "id": a,
            "display_name": NAMES.get(a, f"Person {a}"),
            "phone": f"+8210555{i:04d}",
            "email": f"{a}@example.org",
            "created_at": hour(0),
        }
        for i, a in enumerate(ACCOUNTS)
    ]
    rooms = {"g0": False, "g1": False, "g2": False, "d0": True, "d1": True, "d2": True}
    members = {
        "g0": ["a1", "a10", "a2", "b1"],
        "g1": ["a1", "b11", "c3"],
        "g2": ["a10", "b1", "c3"],
        "d0": ["a1", "a2"],
        "d1": ["a1", "b1"],
        "d2": ["a10", "b11"],
    }
    for room, direct in rooms.items():
        rows.append({"kind": "room", "id": room, "name": f"room {room}", "direct": direct})
    for room, who in members.items():
        for account in who:
            joined = rng.randint(0, 15)
            left = rng.choice([None, None, rng.randint(joined + 5, 40)])
            rows.append(_membership(room, account, joined, left))
            if left is not None and rng.random() < 0.5:  # rejoined later
                rows.append(_membership(room, account, left + 3, None))
    sent: list[str] = []
    for i in range(70):
        room = rng.choice(list(rooms))
        sender = rng.choice(members[room])
        other = rng.choice(ACCOUNTS)
        body = rng.choice(
            [
                "see you soon",
                f"ask {NAMES.get(other, other)} about it",
                f"call 010-555-{ACCOUNTS.index(other):04d} or 010-9999-{i:04d}",
                f"mail {other}@example.org",
                f"@{other} look",
            ]
        )
        message: dict[str, Any] = {
            "kind": "message",
            "id": f"m{i}",
            "room": room,
            "sender": sender,
            "sent_at": hour(rng.randint(0, 50)),
            "body": body,
        }
        if sent and rng.random() < 0.2:
            message["reply_to"] = rng.choice(sent)
            message["quote"] = "what they said"
        elif rng.random() < 0.1:
            message["forwarded_from"] = other
        if rng.random() < 0.1:
            message["attachment"] = f"{NAMES.get(other, other)}.jpg"
        rows.append(message)
        sent.append(message["id"])
    for i in range(8):
        rows.append(
            {
                "kind": "login",
                "account": rng.choice(ACCOUNTS),
                "at": hour(rng.randint(0, 50)),
                "ip": f"203.0.113.{i}",
                "device": "phone",
            }
        )
    for _ in range(8):
        owner, contact = rng.sample(ACCOUNTS, 2)
        rows.append(
            {
                "kind": "contact",
                "owner": owner,
                "contact": contact,
                "added_at": hour(rng.randint(0, 50)),
                "label": rng.choice([None, "my friend", NAMES.get(contact, "Someone")]),
            }
        )
    return rows


def _membership(room: str, account: str, joined: int, left: int | None) -> dict[str, Any]:
    return {
        "kind": "membership",
        "room": room,
        "account": account,
        "joined_at": hour(joined),
        "left_at": None if left is None else hour(left),
    }


# --- policies -------------------------------------------------------------------------------

STAR = "*"
REASONS = ["rule_a", "rule_b", "rule_c"]


def _withhold_row(rng: random.Random) -> str:
    fields = [
        rng.choice([STAR, "self", "direct_peer", "group_peer"]),
        rng.choice([STAR, *(c.value for c in Category)]),
        rng.choice([STAR, "inside", "timeless"]),
        STAR,
        rng.choice([STAR, "yes"]),
        rng.choice([STAR, "yes", "no"]),
    ]
    return f"p, {', '.join(fields)}, *, withhold, {rng.choice(REASONS)}, -"


def _release_row(rng: random.Random) -> str:
    relation = rng.choice(["self", "direct_peer"])
    category = rng.choice([STAR, *(c.value for c in Category)])
    window = rng.choice(["inside", "timeless"])
    received = rng.choice([STAR, "yes", "no"])
    effect = rng.choice(["release", "release_pseudonymized"])
    text = rng.choice(["pseudonymize", "withhold_unresolved", "withhold"])
    tier = rng.choice(["search_warrant", "communication_records"])
    if category in (STAR, "message_content", "contacts"):
        tier = "search_warrant"
    return (
        f"p, {relation}, {category}, {window}, APPROVED, yes, {received}, {tier}, {effect}, -, "
        f"{text}"
    )


# Rows put before the shipped rules (first match wins): none (the shipped policy), some chosen
# to reach each path (peers released, text withheld, a release in clear that names third
# parties, metadata only), and some drawn at random. Compiled once each (7200 questions).
VARIANTS: list[list[str]] = [
    [],
    [
        "p, direct_peer, *, inside, APPROVED, yes, "
        "*, search_warrant, release_pseudonymized, -, withhold"
    ],
    ["p, self, *, inside, APPROVED, yes, *, search_warrant, release, -, withhold_unresolved"],
    ["p, *, message_content, *, *, *, *, search_warrant, withhold, rule_a, -"],
    ["p, self, *, *, *, *, *, search_warrant, withhold, rule_b, -"],
    [
        "p, direct_peer, message_content, inside, APPROVED, yes, "
        "*, search_warrant, release, -, pseudonymize",
        "p, direct_peer, message_metadata, *, *, *, *, search_warrant, withhold, rule_c, -",
    ],
]
_rng = random.Random(11)
VARIANTS += [
    [
        (_withhold_row if _rng.random() < 0.6 else _release_row)(_rng)
        for _ in range(_rng.randint(1, 4))
    ]
    for _ in range(8)
]
SHIPPED = (DEFAULT_POLICY_DIR / "policy.csv").read_text()
_COMPILED: dict[int, ReleasePolicy | None] = {}


def policy_variant(n: int) -> ReleasePolicy | None:
    """Variant n's rows first, then the shipped rules; None if the load refuses them."""
    if n not in _COMPILED:
        with tempfile.TemporaryDirectory() as tmp:
            directory = pathlib.Path(tmp)
            shutil.copyfile(DEFAULT_POLICY_DIR / "model.conf", directory / "model.conf")
            (directory / "policy.csv").write_text("\n".join(VARIANTS[n]) + "\n" + SHIPPED)
            try:
                _COMPILED[n] = ReleasePolicy.load(directory)
            except FailedPrecondition:  # it would break a guarantee: refused at load
                _COMPILED[n] = None
    return _COMPILED[n]


class CasbinEachTime:
    """The policy as the reference asks it: every question to the Casbin Enforcer."""

    def __init__(self, policy: ReleasePolicy) -> None:
        self._policy = policy
        self.version = policy.version

    def decide_key(self, *key: Any) -> Any:
        return self._policy.decide_direct(DecisionRequest(*key))


class Unparted:
    """The store with its parts hidden: one part, each record decided on its own."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        if name == "parts":
            raise AttributeError(name)
        return getattr(self._inner, name)


# --- the releases ---------------------------------------------------------------------------


def release(
    run: Any, warrant: Warrant, store: Any, policy: Any, batch: int, use_lane: bool = True
) -> list[Any]:
    """The whole release; `use_lane=False`: every part the general way (test_release_lane)."""
    gw = run.gateway
    return list(
        ReleaseRun(
            warrant,
            "alice",
            store,
            policy,
            gw.audit,
            gw.checkpoints,
            gw.secret,
            lambda: WarrantState.APPROVED,
            batch_size=batch,
            use_lane=use_lane,
        )
    )


def outcome(run: Any, items: list[Any]) -> dict[str, Any]:
    """What a release gave: records, batch entries (without the log's own fields), summary."""
    lines = {e["index"]: e for e in run.entries()}
    batches = [i for i in items if isinstance(i, Batch)]
    summary = items[-1]
    assert isinstance(summary, Summary)
    keep = ("batch", "counts", "records", "policy")
    return {
        "records": [
            (r.id, r.category, r.effect, r.payload, r.sha256) for b in batches for r in b.records
        ],
        "examined": [b.examined for b in batches],
        "entries": [{k: lines[b.audit_index][k] for k in keep} for b in batches],
        "summary": {
            k: getattr(summary, k)
            for k in (
                "released",
                "released_by_effect",
                "released_by_category",
                "withheld",
                "pseudonymized_parties",
                "batches",
                "records_sha256",
                "identifiers_replaced",
                "quotes_withheld",
                "texts_withheld",
            )
        },
        "started": items[0],
    }


def warrant_of(
    targets: list[str], categories: list[Category], start: int, end: int, rd: bool
) -> Warrant:
    spec = WarrantSpec(
        case_number="P-1",
        authority="court",
        legal_basis="test",
        targets=tuple(f"account:{t}" for t in targets),
        window=Window(BASE + dt.timedelta(hours=start), BASE + dt.timedelta(hours=end)),
        categories=tuple(categories),
        expires_at=BASE + dt.timedelta(days=365),
        include_received_direct=rd,
    )
    return Warrant(
        "w-parts",
        spec,
        WarrantState.APPROVED,
        tuple(targets),
        "alice",
        BASE,
    )


def check_parts(store: Any, scope: Scope) -> None:
    """Every part keeps its contract: exact count, fixed relation and window position, no
    veto, the same records as Values."""
    with store.parts(scope) as parts:
        for part in parts:
            records: list[StoreRecord] = list(part.records())
            assert part.count() == len(records), part.name
            assert part.whole
            for r in records:
                assert (r.category in part.categories, r.relation, r.withheld) == (
                    True,
                    part.relation,
                    None,
                ), (part.name, r)
                assert r.window_position(scope.window) is part.position, (part.name, r)
            assert part.values is not None
            assert list(part.values()) == [
                (r.id, r.category, {**r.fields, **r.people}) for r in records
            ], part.name


SCOPES = st.tuples(
    st.lists(st.sampled_from(ACCOUNTS), min_size=1, max_size=2, unique=True),
    st.lists(st.sampled_from(list(Category)), min_size=1, unique=True),
    st.integers(0, 45),
    st.integers(1, 30),
    st.booleans(),
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    scope=SCOPES,
    variant=st.integers(0, len(VARIANTS) - 1),
    batch=st.sampled_from([1, 3, 500]),
)
def test_parts_release_equals_casbin_record_by_record(
    start_gateway: Any, scope: tuple[Any, ...], variant: int, batch: int
) -> None:
    """Same records, same bytes, same batch entries, same withheld counts by reason."""
    run = _world_gateway(start_gateway)
    targets, categories, start, length, rd = scope
    policy = policy_variant(variant)
    assume(policy is not None)
    assert policy is not None
    warrant = warrant_of(targets, categories, start, start + length, rd)
    store = run.gateway.store
    check_parts(
        store,
        Scope(
            frozenset(targets),
            frozenset(categories),
            warrant.spec.window,
            rd,
        ),
    )
    fast = outcome(run, release(run, warrant, store, policy, batch))
    reference = outcome(run, release(run, warrant, Unparted(store), CasbinEachTime(policy), batch))
    assert fast == reference


_RUN: list[tuple[Any, Any]] = []  # (the test's start_gateway, the gateway it started)


def _world_gateway(start_gateway: Any) -> Any:
    """One gateway on the world per test (hypothesis calls the test many times). Kept with
    the factory itself, not its id(): a later test's factory may reuse a freed one's id, and
    would get a gateway already stopped."""
    if not _RUN or _RUN[0][0] is not start_gateway:
        _RUN[:] = [(start_gateway, start_gateway(world()))]
    return _RUN[0][1]


@pytest.mark.sqlite_only  # statements are traced on the SQLite store
def test_a_part_withheld_whole_is_counted_never_read(start_gateway: Any) -> None:
    """Other members' messages, withheld by the shipped policy: their count is asked, their
    rows are never read; the summary still counts them by reason."""
    run = start_gateway(world())
    store = run.gateway.store

    ran: list[str] = []
    traced = ReferenceStore.open(store.path, trace=ran.append)
    try:
        warrant = warrant_of(["a1"], [Category.MESSAGE_CONTENT], 0, 60, False)
        items = release(run, warrant, traced, run.gateway.policy, 500)
    finally:
        traced.close()
    summary = items[-1]
    assert summary.withheld["group_peer"] > 0 and summary.withheld["direct_peer_not_requested"] > 0
    selects = [s for s in ran if s.lstrip().upper().startswith("SELECT")]
    peer_reads = [s for s in selects if "NOT EXISTS" in s and "COUNT(*)" not in s]
    peer_counts = [s for s in selects if "NOT EXISTS" in s and "COUNT(*)" in s]
    assert peer_counts and not peer_reads


def test_the_writer_gives_back_the_interpreters_switch_interval(start_gateway: Any) -> None:
    """A release shortens the GIL's switch interval while its entry writer runs (so the writer
    gets the GIL back after each wait) and restores it when the release ends."""
    import sys

    before = sys.getswitchinterval()
    run = start_gateway(world())
    warrant = warrant_of(["a1"], list(Category), 0, 60, True)
    items = release(run, warrant, run.gateway.store, run.gateway.policy, 3)
    assert sum(isinstance(i, Batch) for i in items) > 1
    assert sys.getswitchinterval() == before
