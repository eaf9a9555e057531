"""A bounded load test on loopback: dozens of concurrent clients for a few seconds, zero
unexpected errors, and exactly one audit entry per action performed."""

from __future__ import annotations

import collections
import datetime as dt
import threading
import time
from typing import Any

from fixtures_small import FEB1, JAN1, ROWS

from gateway.audit.files import read_entries
from gateway.audit.notes import NoteVerifier
from gateway.audit.verify import verify_log
from gateway.testing import make_spec

CLIENTS = 24
SECONDS = 3.0


def test_concurrent_clients_for_a_few_seconds(start_gateway: Any, clock: Any) -> None:
    # Six clients per principal release at once: room for all of them (the defaults, two per
    # principal and eight in all, are the production guard and are tested on their own).
    run = start_gateway(
        ROWS, max_workers=CLIENTS + 8, max_releases=CLIENTS, max_releases_per_principal=CLIENTS
    )
    done: collections.Counter[str] = collections.Counter()
    errors: list[BaseException] = []
    lock = threading.Lock()
    deadline = time.monotonic() + SECONDS
    spec = make_spec(
        ["account:u1"], ["message_content"], JAN1, FEB1, clock.now + dt.timedelta(days=3)
    )

    def officer(name: str) -> None:
        try:
            with run.client(name) as me, run.client("bob" if name != "bob" else "carol") as other:
                while time.monotonic() < deadline:
                    w = me.submit(spec)
                    other.approve(w.id)
                    assert me.get(w.id).id == w.id
                    released = [
                        r
                        for item in me.release(w.id, batch_size=2)
                        if item.WhichOneof("item") == "batch"
                        for r in item.batch.records
                    ]
                    assert released
                    me.checkpoint()
                    with lock:
                        done.update(["submitted", "approved", "released"])
        except BaseException as exc:  # noqa: BLE001 - collected and reported
            with lock:
                errors.append(exc)

    names = ["alice", "carol", "a", "officer"]
    threads = [
        threading.Thread(target=officer, args=(names[i % len(names)],)) for i in range(CLIENTS)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors[:3]
    assert done["submitted"] >= CLIENTS  # every client got through at least once
    events = collections.Counter(e["event"] for e in read_entries(run.gateway.audit.path))
    assert events["warrant.submitted"] == done["submitted"]
    assert events["warrant.approved"] == done["approved"]
    assert events["release.started"] == events["release.completed"] == done["released"]
    assert not {e for e in events if e.endswith(("_refused", ".denied", ".failed"))}
    key = run.gateway.data.verifier_key.read_text().strip()
    report = verify_log(
        run.gateway.audit.path,
        [NoteVerifier.from_key(key)],
        [("latest", run.gateway.data.checkpoint.read_text())],
    )
    assert report.ok, report.faults[:3]
