"""Property test: on random stores and warrants, the release equals an independent oracle.

The oracle below restates the scope rules (docs/architecture.md) in the plainest way (loops over all
rows); the gateway's answer comes through the real server, store, policy and audit. Ids are drawn so
that some are prefixes of others (a1, a10, a100), windows start and end on record times, members
leave rooms, several targets share rooms.
"""

from __future__ import annotations

import datetime as dt
import json
import pathlib
import tempfile
from collections import Counter
from typing import Any

from fixtures_small import strings_in
from google.protobuf.json_format import MessageToDict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.api.client import Client
from gateway.api.package import write_package
from gateway.api.server import Gateway, ServerConfig
from gateway.testing import Clock, bind_test_roles, load_store, make_spec

BASE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
CATEGORIES = [
    "subscriber",
    "logins",
    "message_metadata",
    "message_content",
    "memberships",
    "contacts",
]
ACCOUNT_IDS = ["a1", "a10", "a100", "a2", "a20", "b1", "b11"]


def hour(n: int) -> dt.datetime:
    return BASE + dt.timedelta(hours=n)


def iso(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


@st.composite
def worlds(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(3, len(ACCOUNT_IDS)))
    accounts = ACCOUNT_IDS[:n]
    rooms: list[dict[str, Any]] = []
    members: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    for r in range(draw(st.integers(1, 5))):
        direct = draw(st.booleans())
        size = 2 if direct else draw(st.integers(2, n))
        who = draw(st.permutations(accounts))[:size]
        room = f"room{r}"
        rooms.append({"kind": "room", "id": room, "name": f"name{r}", "direct": direct})
        for a in who:
            joined = draw(st.integers(0, 20))
            left = draw(st.one_of(st.none(), st.integers(joined + 1, 60)))
            members.append(
                {
                    "kind": "membership",
                    "room": room,
                    "account": a,
                    "joined_at": iso(hour(joined)),
                    "left_at": iso(hour(left)) if left is not None else None,
                }
            )
        for _ in range(draw(st.integers(0, 8))):
            messages.append(
                {
                    "kind": "message",
                    "id": f"m{len(messages)}",
                    "room": room,
                    "sender": draw(st.sampled_from(who)),
                    "sent_at": iso(hour(draw(st.integers(0, 60)))),
                    "body": "words",
                }
            )
    logins = [
        {
            "kind": "login",
            "account": draw(st.sampled_from(accounts)),
            "at": iso(hour(draw(st.integers(0, 60)))),
            "ip": f"203.0.113.{i}",
            "device": "d",
        }
        for i in range(draw(st.integers(0, 4)))
    ]
    contacts = []
    for _i in range(draw(st.integers(0, 4))):
        owner, other = draw(st.permutations(accounts))[:2]
        contacts.append(
            {
                "kind": "contact",
                "owner": owner,
                "contact": other,
                "added_at": iso(hour(draw(st.integers(0, 60)))),
            }
        )
    targets = draw(st.lists(st.sampled_from(accounts), min_size=1, max_size=2, unique=True))
    start = draw(st.integers(0, 40))
    end = draw(st.integers(start + 1, 61))
    return {
        "accounts": [
            {
                "kind": "account",
                "id": a,
                "display_name": f"Name of {a}.",
                "phone": f"+8210555{i:04d}",
                "email": f"{a}@example.org",
                "created_at": iso(BASE),
            }
            for i, a in enumerate(accounts)
        ],
        "rows": rooms + members + messages + logins + contacts,
        "rooms": rooms,
        "members": members,
        "messages": messages,
        "logins": logins,
        "contacts": contacts,
        "targets": targets,
        "categories": draw(st.lists(st.sampled_from(CATEGORIES), min_size=1, unique=True)),
        "window": (hour(start), hour(end)),
        "received_direct": draw(st.booleans()),
    }


def member_at(world: dict[str, Any], room: str, account: str, at: dt.datetime) -> bool:
    for m in world["members"]:
        if m["room"] == room and m["account"] == account:
            joined = dt.datetime.fromisoformat(m["joined_at"])
            left = dt.datetime.fromisoformat(m["left_at"]) if m["left_at"] else None
            if joined <= at and (left is None or at < left):
                return True
    return False


def oracle(world: dict[str, Any]) -> Counter[tuple[str, str]]:
    """(category, natural key) of every record that should leave."""
    targets, cats = set(world["targets"]), set(world["categories"])
    start, end = world["window"]
    inside = lambda text: start <= dt.datetime.fromisoformat(text) < end  # noqa: E731
    direct = {r["id"]: r["direct"] for r in world["rooms"]}
    out: Counter[tuple[str, str]] = Counter()
    for t in targets:
        if "subscriber" in cats:
            out["subscriber", t] += 1
    for m in world["messages"]:
        if not inside(m["sent_at"]):
            continue
        sent = dt.datetime.fromisoformat(m["sent_at"])
        mine = m["sender"] in targets
        received = (
            direct[m["room"]]
            and world["received_direct"]
            and any(member_at(world, m["room"], t, sent) for t in targets)
        )
        if mine or received:
            for c in ("message_metadata", "message_content"):
                if c in cats:
                    out[c, m["id"]] += 1
    for login in world["logins"]:
        if "logins" in cats and login["account"] in targets and inside(login["at"]):
            out["logins", login["ip"]] += 1
    for c in world["contacts"]:
        if "contacts" in cats and c["owner"] in targets and inside(c["added_at"]):
            out["contacts", c["added_at"]] += 1
    for m in world["members"]:
        joined = dt.datetime.fromisoformat(m["joined_at"])
        left = dt.datetime.fromisoformat(m["left_at"]) if m["left_at"] else None
        if (
            "memberships" in cats
            and m["account"] in targets
            and joined < end
            and (left is None or left > start)
        ):
            # rooms leave as pseudonyms and join times clipped to the window
            out["memberships", f"{direct[m['room']]}@{iso(max(joined, start))}"] += 1
    return out


def key_of(record: dict[str, Any]) -> tuple[str, str]:
    category = record["category"]
    if category == "subscriber":
        return category, record["account"]
    if category.startswith("message_"):
        return category, record["id"].split(":", 1)[1]
    if category == "logins":
        return category, record["ip"]
    if category == "contacts":
        return category, record["added_at"]
    assert record["room"].startswith("pseud-room:")
    return category, f"{record['direct']}@{record['joined_at']}"


class TestScopeOracle:
    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(worlds())
    def test_release_equals_oracle_and_leaks_no_one(self, world: dict[str, Any]) -> None:
        """Released set == oracle set, and no non-target id appears anywhere in the output."""
        with tempfile.TemporaryDirectory() as tmp:
            root = pathlib.Path(tmp)
            load_store(root / "data", world["accounts"] + world["rows"])
            bind_test_roles(root / "data")
            clock = Clock(dt.datetime(2026, 6, 1, tzinfo=dt.UTC))
            gw = Gateway(
                ServerConfig(data=root / "data", listen="127.0.0.1:0", insecure=True, clock=clock)
            ).start()
            try:
                start, end = world["window"]
                spec = make_spec(
                    [f"account:{t}" for t in world["targets"]],
                    world["categories"],
                    start,
                    end,
                    clock.now + dt.timedelta(days=1),
                    world["received_direct"],
                )
                with Client(gw.address, "officer", insecure=True) as officer:
                    w = officer.submit(spec)
                    with Client(gw.address, "reviewer", insecure=True) as reviewer:
                        reviewer.approve(w.id)
                    w = officer.get(w.id)  # the approved warrant: the manifest shows it
                    stream = list(officer.release(w.id, batch_size=3))
                manifest = write_package(root / "out", w, iter(stream))
            finally:
                gw.stop(grace=None)
            records = [
                json.loads(x) for x in (root / "out" / "records.jsonl").read_text().splitlines()
            ]
            assert Counter(key_of(r) for r in records) == oracle(world)
            others = [a for a in world["accounts"] if a["id"] not in world["targets"]]
            found = strings_in(manifest) | set().union(*(strings_in(r) for r in records))
            for item in stream:
                found |= strings_in(MessageToDict(item))
            leaked = found & {a["id"] for a in others}
            assert not leaked, f"non-target ids in output: {leaked}"
            text = json.dumps(sorted(found))
            for a in others:
                for value in (a["phone"], a["email"], a["display_name"]):
                    assert value not in text, f"non-target {a['id']}'s {value!r} in output"
