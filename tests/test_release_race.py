"""Revocations and expiries at random moments during many concurrent releases (guarantee 7).

Four releases run at once (one per officer, small batches) while another thread revokes
warrants and moves the clock past expiries at random moments. Afterwards: no release entry of
a warrant follows its revocation or expiry, every record a release handed out is named by its
batch's entry, which precedes any revocation of its warrant, and the log verifies.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import threading
import time
from typing import Any

from fixtures_small import FEB1, JAN1, many_messages

from gateway.audit.verify import verify_lines
from gateway.errors import GatewayError
from gateway.release.items import Batch
from gateway.testing import check_stops, make_spec

BOTH_BACKENDS = True  # every gateway test here also runs on the real PostgreSQL (conftest)

OFFICERS = ["alice", "carol", "officer", "a"]
ROUNDS = 3


def test_random_revocations_and_expiries_never_follow_a_release_entry(
    start_gateway: Any, clock: Any
) -> None:
    """Seeded, so a failure can be replayed; a few rounds of four concurrent releases."""
    rng = random.Random(1307)
    run = start_gateway(many_messages(400))
    gw = run.gateway
    expiries: dict[str, dt.datetime] = {}
    received: list[tuple[str, str, int]] = []  # (warrant, record id, audit index)
    lock = threading.Lock()
    for _ in range(ROUNDS):
        warrants = {}
        for officer in OFFICERS:
            expires = clock.now + dt.timedelta(hours=rng.randint(1, 6))
            with run.client(officer) as client:
                w = client.submit(
                    make_spec(["account:u1"], ["message_content", "logins"], JAN1, FEB1, expires)
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
                    time.sleep(rng.random() * 0.002)
            except GatewayError:
                pass

        threads = [threading.Thread(target=release, args=(o, w)) for o, w in warrants.items()]
        for thread in threads:
            thread.start()
        for warrant_id in rng.sample(list(warrants.values()), 2):
            time.sleep(rng.random() * 0.3)
            if rng.random() < 0.5:
                with contextlib.suppress(GatewayError):  # (expired already: nothing to revoke)
                    gw.book.revoke(warrant_id, "bob", "race")
            else:
                clock.advance(hours=rng.randint(1, 3))
        for thread in threads:
            thread.join(60)
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
    assert verify_lines([line for _, line in gw.audit.lines()]).ok
