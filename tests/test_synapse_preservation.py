"""Preservation on a real Synapse homeserver (issue 15): a preservation request is approved, then
the target redacts her messages and the bystander she wrote about is deactivated and erased; a
later warrant naming the preservation still releases her messages from the frozen copy, with
the bystander's name and id replaced, while a warrant reading the homeserver gets none of them.
On Synapse's SQLite and PostgreSQL databases."""

from __future__ import annotations

import datetime as dt
import json
import pathlib
import secrets
import time
import urllib.parse
from typing import Any

import pytest

from gateway.api.package import write_package
from gateway.testing import make_spec

pytestmark = pytest.mark.slow

OFFICER, REVIEWER = "alice", "bob"  # the gateway's principals
GAP = 0.03


def warrant(
    run: Any, clock: Any, target: str, window: tuple[dt.datetime, dt.datetime], **fields: str
) -> str:
    spec = make_spec(
        [f"matrix:{target}"],
        ["message_content", "memberships"],
        *window,
        clock.now + dt.timedelta(days=200),
    )
    for name, value in fields.items():
        setattr(spec, name, value)
    with run.client(OFFICER) as officer:
        w = officer.submit(spec)
    with run.client(REVIEWER) as reviewer:
        return str(reviewer.approve(w.id).id)


def package(run: Any, warrant_id: str, out: pathlib.Path) -> tuple[dict[str, Any], list[Any]]:
    with run.client(OFFICER) as officer:
        w = officer.get(warrant_id)
        manifest = write_package(out, w, officer.release(warrant_id, 0))
    lines = (out / "records.jsonl").read_text().splitlines()
    return manifest, [json.loads(line) for line in lines]


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_a_redacted_and_erased_story_still_releases_from_the_frozen_copy(
    homeserver: Any, start_gateway: Any, clock: Any, tmp_path: pathlib.Path, dialect: str
) -> None:
    hs = homeserver(dialect)
    tag = secrets.token_hex(3)  # the homeserver is shared: users of this test alone
    admin = hs.register(f"pres_admin_{tag}", admin=True)
    target, bystander = hs.register(f"pres_t_{tag}"), hs.register(f"pres_b_{tag}")
    bystander.set_displayname(f"Quinn Bystander {tag}")
    room = target.create_room("hold", invite=[bystander])
    bystander.join(room)
    time.sleep(GAP)
    start = dt.datetime.now(dt.UTC)
    time.sleep(GAP)
    said = {
        target.send(room, f"meet Quinn Bystander {tag} at noon"): "meet",
        target.send(room, f"ask {bystander.user_id} for the keys"): "ask",
    }
    bystander.send(room, "the bystander's own words")
    time.sleep(GAP)
    end = dt.datetime.now(dt.UTC)

    run = start_gateway(store=hs.store_url, data=tmp_path / "data")
    held = warrant(run, clock, target.user_id, (start, end), instrument="preservation")

    for event in said:  # the target deletes what she said ...
        target.redact(room, event)
    hs.call(  # ... and the bystander's account is closed and erased
        "POST",
        f"/_synapse/admin/v1/deactivate/{urllib.parse.quote(bystander.user_id)}",
        admin.token,
        {"erase": True},
    )

    live = warrant(run, clock, target.user_id, (start, end))
    _, from_store = package(run, live, tmp_path / "store")
    assert not [r for r in from_store if r["category"] == "message_content"]

    later = warrant(run, clock, target.user_id, (start, end), preserved_by=held)
    manifest, records = package(run, later, tmp_path / "copy")
    content = {r["id"].split(":", 1)[1]: r for r in records if r["category"] == "message_content"}
    assert set(content) == set(said)  # her two messages, not the bystander's
    text = json.dumps(records, ensure_ascii=False) + json.dumps(manifest, ensure_ascii=False)
    assert "at noon" in text and "for the keys" in text
    for leaked in (f"Quinn Bystander {tag}", bystander.user_id, "the bystander's own words"):
        assert leaked not in text, leaked
    entries = run.entries()
    frozen = next(e for e in entries if e["event"] == "warrant.approved" and e["warrant"] == held)
    completed = next(
        e for e in entries if e["event"] == "release.completed" and e["warrant"] == later
    )
    assert completed["frozen_copy"] == {
        "warrant": held,
        "content_sha256": frozen["frozen"]["content_sha256"],
    }
