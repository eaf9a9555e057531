"""Revocations, expiries and policy changes at random moments during many concurrent releases
(guarantee 7).

Four releases run at once (one per officer, small batches) while another thread revokes
warrants, moves the clock past expiries and, on PostgreSQL (where rules change while the
gateway runs), changes the release policy between the shipped rules and rules that withhold
every message body, as a proposal a second administrator approves.
Afterwards: no release entry of a warrant follows its revocation or expiry, every record a
release handed out is named by its batch's entry, which precedes any revocation of its warrant,
no message body left in a batch decided by the withholding rules, and the log verifies.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import threading
import time
from typing import Any

import pytest
from fixtures_small import FEB1, JAN1, many_messages

from gateway.audit.verify import verify_lines
from gateway.errors import GatewayError
from gateway.policy.changes import PolicyChanges
from gateway.release import lane, pipeline
from gateway.release.items import Batch
from gateway.settings import DEFAULT_POLICY_DIR
from gateway.testing import check_stops, make_spec

BOTH_BACKENDS = True  # every gateway test here also runs on the real PostgreSQL (conftest)

OFFICERS = ["alice", "carol", "officer", "a"]
ROUNDS = 3
# The first rule wins: prepended, it withholds every message body whatever else the rules say.
WITHHOLD_CONTENT = "p, *, message_content, *, *, *, *, *, withhold, race_test, -\n"


class PolicyFlipper:
    """Changes the release rules in force as two policy administrators do (PostgreSQL; the
    embedded gateway's rules are files read at start, changed by a restart), and remembers
    which versions withhold message bodies."""

    def __init__(self, gw: Any) -> None:
        self._gw = gw
        self.live = bool(gw.config.database)  # the embedded gateway reads its files at start
        self._shipped = (DEFAULT_POLICY_DIR / "policy.csv").read_text()
        self._changes = PolicyChanges(gw.policies, gw.audit, gw.config.clock)
        self.strict_versions: set[str] = set()
        self._strict = False

    def flip(self) -> None:
        self._strict = not self._strict
        rules = (WITHHOLD_CONTENT if self._strict else "") + self._shipped
        proposal = self._changes.propose("pa1", "release", rules, "race test")
        self._changes.approve("pa2", proposal.id)
        self._gw._policy_changed()  # what the backend's watcher calls
        if self._strict:
            self.strict_versions.add(self._gw.policy.version)


def test_random_revocations_expiries_and_policy_changes_hold_every_guarantee(
    start_gateway: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seeded, so a failure can be replayed; a few rounds of four concurrent releases. Half of
    the warrants ask for message content alone, which the release's fast lane makes
    (gateway.release.lane); the others ask for several categories (the general path)."""
    lanes: list[int] = []

    class CountedLane(lane.MessageLane):
        def __init__(self, *args: Any) -> None:
            lanes.append(1)
            super().__init__(*args)

    monkeypatch.setattr(pipeline, "MessageLane", CountedLane)
    rng = random.Random(1307)
    run = start_gateway(many_messages(400))
    gw = run.gateway
    policies = PolicyFlipper(gw)
    expiries: dict[str, dt.datetime] = {}
    received: list[tuple[str, str, int]] = []  # (warrant, record id, audit index)
    lock = threading.Lock()
    for _ in range(ROUNDS):
        warrants = {}
        for n, officer in enumerate(OFFICERS):
            expires = clock.now + dt.timedelta(hours=rng.randint(1, 6))
            categories = ["message_content", "message_metadata", "logins"][: 1 if n % 2 else 3]
            with run.client(officer) as client:
                w = client.submit(
                    make_spec(
                        ["account:u1"],
                        categories,
                        JAN1,
                        FEB1,
                        expires,
                    )
                )
            with run.client("bob") as reviewer:
                reviewer.approve(w.id)
            warrants[officer] = w.id
            expiries[w.id] = expires

        def release(officer: str, warrant_id: str) -> None:
            try:
                for item in gw.release_run(gw.book.get(warrant_id), officer, 5):
                    if isinstance(item, Batch):
                        with lock:
                            received.extend(
                                (warrant_id, r.id, item.audit_index) for r in item.records
                            )
                    time.sleep(rng.random() * 0.02)  # a policy change compiles in about 0.7 s
            except GatewayError:
                pass

        threads = [threading.Thread(target=release, args=(o, w)) for o, w in warrants.items()]
        for thread in threads:
            thread.start()
        if policies.live:  # the rules turn strict at a random moment of each round ...
            time.sleep(rng.random() * 0.05)
            policies.flip()
        for warrant_id in rng.sample(list(warrants.values()), 2):
            time.sleep(rng.random() * 0.3)
            if rng.random() < 0.5:
                with contextlib.suppress(GatewayError):  # (expired already: nothing to revoke)
                    gw.book.revoke(warrant_id, "bob", "race")
            else:
                clock.advance(hours=rng.randint(1, 3))
        for thread in threads:
            thread.join(60)
        if policies.live:  # ... and back (intake refuses content the rules cannot reach)
            policies.flip()
        clock.advance(hours=7)  # every warrant of this round expired before the next
    entries = run.entries()
    assert check_stops(entries, expiries) == []
    by_index = {e["index"]: e for e in entries}
    revoked_at = {e["warrant"]: e["index"] for e in entries if e["event"] == "warrant.revoked"}
    for warrant_id, record_id, index in received:
        entry = by_index[index]
        assert entry["event"] == "release.batch" and entry["warrant"] == warrant_id
        assert record_id in [r[0] for r in entry["records"]]
        assert index < revoked_at.get(warrant_id, len(entries))
    assert received  # the releases did hand records out
    assert lanes  # the fast lane raced too
    strict_batches = [
        e
        for e in entries
        if e["event"] == "release.batch" and e["policy"] in policies.strict_versions
    ]
    for batch in strict_batches:
        assert not [r for r, _ in batch["records"] if r.startswith("message_content:")], batch
    if policies.live:
        assert strict_batches, "no batch ran under the withholding rules: the race did not race"
    assert verify_lines([line for _, line in gw.audit.lines()]).ok
