"""A benchmark-sized reference store, built fast and cached.

Shape (what makes a release realistic): one target (`u0000000`) who wrote `target_messages` of the
messages, in a handful of groups and direct rooms; other members of those rooms wrote
`peer_messages` more there (examined, then withheld); everyone else's `other_messages` are spread
over heavy-tailed groups the target is not in. Growing `other_messages` tenfold leaves the
target's neighbourhood as it is: the 10x scale test.

Rows are written straight into the reference schema (no per-row validation: this is generated,
known-good data) with indexes built afterwards, so a million messages take seconds. Stores are
cached by their parameters under the work directory; nothing here is committed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import pathlib
import random
import sqlite3
import time

from gateway.stores.reference import SCHEMA, SCHEMA_VERSION, to_us

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
END = dt.datetime(2026, 7, 1, tzinfo=dt.UTC)
TARGET = "u0000000"
FORMAT = 2  # bump when the shape changes: cached stores of another format are rebuilt

_WORDS = ("coffee tomorrow train late meet dinner park plan ticket sorry thanks home soon call "
          "weekend music game work rain bike book city friend great idea later maybe morning "
          "night okay party quick ready send ship shop sleep start team today tonight").split()


@dataclasses.dataclass(frozen=True)
class Shape:
    target_messages: int
    peer_messages: int
    other_messages: int
    seed: int = 1

    @classmethod
    def for_messages(cls, messages: int, scale: int = 1) -> Shape:
        """A store of `messages` messages, ~10% the target's; `scale` multiplies the others."""
        target = max(1, messages // 10)
        peers = max(1, messages // 50)
        others = max(0, messages - target - peers)
        return cls(target, peers, others * scale)

    @property
    def messages(self) -> int:
        return self.target_messages + self.peer_messages + self.other_messages

    @property
    def name(self) -> str:
        return f"store-v{FORMAT}-t{self.target_messages}-p{self.peer_messages}-o{self.other_messages}-s{self.seed}.db"


def _heavy_tail(rng: random.Random, low: int, high: int, alpha: float = 1.3) -> int:
    return min(high, int(low * rng.paretovariate(alpha)))


def build(shape: Shape, workdir: pathlib.Path, log: callable = print) -> pathlib.Path:  # type: ignore[valid-type]
    """The store for `shape`, built unless a complete one is cached in `workdir`."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / shape.name
    if path.exists():
        return path
    started = time.perf_counter()
    tmp = path.with_suffix(".building")
    tmp.unlink(missing_ok=True)
    db = sqlite3.connect(tmp, isolation_level=None)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    tables = [s for s in SCHEMA.split(";") if "CREATE TABLE" in s]
    indexes = [s for s in SCHEMA.split(";") if "CREATE INDEX" in s]
    db.execute("BEGIN")
    for statement in tables:
        db.execute(statement)
    _fill(db, shape)
    db.execute("COMMIT")
    for statement in indexes:
        db.execute(statement)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    db.execute("ANALYZE")
    db.close()
    tmp.rename(path)
    log(f"built {path.name}: {shape.messages:,} messages in {time.perf_counter() - started:.1f} s")
    return path


def _fill(db: sqlite3.Connection, shape: Shape) -> None:
    rng = random.Random(shape.seed)
    span = to_us(END) - to_us(START)
    start = to_us(START)
    accounts = max(50, shape.messages // 100)
    ids = [f"u{i:07d}" for i in range(accounts)]
    db.executemany(
        "INSERT INTO accounts (id, display_name, phone, email, email_key, created_at)"
        " VALUES (?, ?, NULL, NULL, NULL, ?)",
        ((a, f"Person {a[1:]}", start) for a in ids),
    )
    bodies = [" ".join(rng.choices(_WORDS, k=rng.randint(3, 14))) for _ in range(4096)]

    rooms: list[tuple[str, str | None, int]] = []
    members: dict[str, list[str]] = {}
    # The target's neighbourhood: 6 groups of varied size, 24 direct rooms.
    others = ids[1:]
    for g in range(6):
        room = f"tg{g:03d}"
        rooms.append((room, f"group {g}", 0))
        members[room] = [TARGET, *rng.sample(others, min(len(others), _heavy_tail(rng, 3, 200)))]
    for d in range(24):
        room = f"td{d:03d}"
        rooms.append((room, None, 1))
        members[room] = [TARGET, others[d % len(others)]]
    target_rooms = list(members)
    # Everyone else: heavy-tailed groups without the target.
    group_count = max(1, accounts // 4)
    for g in range(group_count):
        room = f"g{g:07d}"
        rooms.append((room, f"group {g}", 0))
        members[room] = rng.sample(others, min(len(others), _heavy_tail(rng, 2, 400)))
    other_rooms = [r for r in members if r not in target_rooms]
    weights = [len(members[r]) ** 1.2 for r in other_rooms]

    db.executemany("INSERT INTO rooms (id, name, direct) VALUES (?, ?, ?)", rooms)
    db.executemany(
        "INSERT INTO memberships (room, account, joined_at, left_at) VALUES (?, ?, ?, NULL)",
        ((room, account, start) for room, people in members.items() for account in people),
    )

    def messages(count: int, pick_room: callable, pick_sender: callable, prefix: str):  # type: ignore[valid-type]
        for i in range(count):
            room = pick_room()
            yield (f"{prefix}{i:09d}", room, pick_sender(room), start + rng.randrange(span),
                   bodies[i & 4095])

    insert = "INSERT INTO messages (id, room, sender, sent_at, body) VALUES (?, ?, ?, ?, ?)"
    db.executemany(insert, messages(shape.target_messages, lambda: rng.choice(target_rooms),
                                    lambda room: TARGET, "t"))
    db.executemany(insert, messages(
        shape.peer_messages, lambda: rng.choice(target_rooms),
        lambda room: rng.choice(members[room][1:]), "p"))
    if other_rooms and shape.other_messages:
        picks = iter(rng.choices(other_rooms, weights, k=shape.other_messages))
        db.executemany(insert, messages(shape.other_messages, lambda: next(picks),
                                        lambda room: rng.choice(members[room]), "o"))
