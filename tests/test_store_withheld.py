"""A store's own veto (StoreRecord.withheld, e.g. a redacted message) through the real pipeline.

The store below is the real reference store with one message marked as its author took it back,
as the Synapse store marks redacted events. The policy decides first; a record it would release
is withheld under the store's reason instead, counted and audited like any other withhold. A
store can only narrow what leaves: a record the policy withholds keeps the policy's reason.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import pathlib
from collections.abc import Iterator
from typing import Any

from fixtures_small import FEB1, JAN1, ROWS

from gateway.api.package import write_package
from gateway.audit.files import read_entries
from gateway.model import Scope, StoreRecord
from gateway.testing import make_spec

OFFICER, REVIEWER = "alice", "bob"
REDACTED = {"message_content:m4", "message_content:m2"}  # m4: u1's own; m2: a group peer's


class RedactingStore:
    """The reference store, with the messages in REDACTED marked as redacted."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def resolve(self, kind: str, value: str) -> list[str]:
        return self._inner.resolve(kind, value)

    def count(self, scope: Scope) -> int:
        return self._inner.count(scope)

    def records(self, scope: Scope) -> Iterator[StoreRecord]:
        for record in self._inner.records(scope):
            if record.id in REDACTED:
                record = dataclasses.replace(record, withheld="redacted")
            yield record

    def shapes(self) -> Any:
        return self._inner.shapes()

    def directory(self, scope: Scope) -> Any:
        return self._inner.directory(scope)

    def everyone(self) -> Any:
        return self._inner.everyone()

    def close(self) -> None:
        self._inner.close()


def test_store_withheld_records_are_counted_and_audited_never_released(
    start_gateway: Any, clock: Any, tmp_path: pathlib.Path
) -> None:
    run = start_gateway(ROWS)
    run.gateway.store = RedactingStore(run.gateway.store)
    with run.client(OFFICER) as officer:
        w = officer.submit(
            make_spec(
                ["account:u1"], ["message_content"], JAN1, FEB1, clock.now + dt.timedelta(days=30)
            )
        )
    with run.client(REVIEWER) as reviewer:
        w = reviewer.approve(w.id)
    with run.client(OFFICER) as officer:
        manifest = write_package(tmp_path / "out", w, officer.release(w.id, 0))
    ids = sorted(
        json.loads(line)["id"]
        for line in (tmp_path / "out" / "records.jsonl").read_text().splitlines()
    )
    # Without the veto m1, m4, m7 leave (test_release_e2e); m4 is now withheld as redacted,
    # while m2 stays a group_peer withhold: the policy's reason comes first.
    assert ids == ["message_content:m1", "message_content:m7"]
    assert manifest["withheld"] == {"group_peer": 1, "direct_peer_not_requested": 1, "redacted": 1}
    entries = list(read_entries(run.gateway.data.audit_log))
    batch = [e for e in entries if e["event"] == "release.batch"]
    assert sum(e["counts"]["withheld"].get("redacted", 0) for e in batch) == 1
    done = next(e for e in entries if e["event"] == "release.completed")
    assert done["withheld"]["redacted"] == 1
