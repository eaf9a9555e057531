"""A benchmark-sized reference store, built fast and cached.

Shape (what makes a release realistic): one target (`u0000000`) who wrote `target_messages` of the
messages, in a handful of groups and direct rooms; other members of those rooms wrote
`peer_messages` more there (examined, then withheld); everyone else's `other_messages` are spread
over heavy-tailed groups the target is not in. Growing `other_messages` tenfold leaves the
target's neighbourhood as it is: the 10x scale test.

The schema is the store's own (its migrations, applied first, so a gateway opening the store
has nothing left to migrate); rows are then written straight into it (no per-row validation:
this is generated, known-good data) with the indexes dropped and built again afterwards, so a
million messages take seconds. Stores are cached by their parameters under the work directory;
nothing here is committed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import pathlib
import random
import sqlite3
import time

from gateway.db import migrate
from gateway.stores.reference.sqlite import to_us

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
END = dt.datetime(2026, 7, 1, tzinfo=dt.UTC)
TARGET = "u0000000"
FORMAT = 5  # bump when the shape changes: cached stores of another format are rebuilt
IDENTIFIER_SHARE = 0.10  # of bodies that name someone (a name, phone, e-mail or id)
_SURNAMES = "김이박최정강조윤장임한오서신권"
_SYLLABLES = "민수지서연훈진현우예린도윤하은준호유성다태소재원비승나동채가시혜건보람영미상"
_FIRST = [
    "Aaron",
    "Bianca",
    "Carlos",
    "Dmitri",
    "Elena",
    "Farah",
    "Goran",
    "Hiroshi",
    "Ingrid",
    "Javier",
    "Keiko",
    "Lars",
]
_LAST = [
    "Novak",
    "Okafor",
    "Petrov",
    "Quinn",
    "Rossi",
    "Sato",
    "Tanaka",
    "Ueda",
    "Varga",
    "Weber",
    "Xu",
    "Zielinski",
]

_WORDS = [
    "coffee",
    "tomorrow",
    "train",
    "late",
    "meet",
    "dinner",
    "park",
    "plan",
    "ticket",
    "sorry",
    "thanks",
    "home",
    "soon",
    "call",
    "weekend",
    "music",
    "game",
    "work",
    "rain",
    "bike",
    "book",
    "city",
    "friend",
    "great",
    "idea",
    "later",
    "maybe",
    "morning",
    "night",
    "okay",
    "party",
    "quick",
    "ready",
    "send",
    "ship",
    "shop",
    "sleep",
    "start",
    "team",
    "today",
    "tonight",
]


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
        return (
            f"store-v{FORMAT}-t{self.target_messages}-p{self.peer_messages}"
            f"-o{self.other_messages}-s{self.seed}.db"
        )


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
    migrate.upgrade_sqlite(tmp, migrate.SQLITE_STORE)  # the store's schema: its migrations
    db = sqlite3.connect(tmp, isolation_level=None)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    indexes = db.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    ).fetchall()
    for name, _ in indexes:  # built again after the bulk load: much faster than kept up
        db.execute(f'DROP INDEX "{name}"')
    db.execute("BEGIN")
    _fill(db, shape)
    db.execute("COMMIT")
    for _, statement in indexes:
        db.execute(statement)
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
    names = [
        rng.choice(_SURNAMES) + rng.choice(_SYLLABLES) + rng.choice(_SYLLABLES)
        if i % 2
        else f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
        for i in range(accounts)
    ]
    phones = [f"+8210{rng.randrange(10**8):08d}" for _ in ids]
    db.executemany(
        "INSERT INTO accounts (id, display_name, phone, email, email_key, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (
            (a, names[i], phones[i], f"{a}@example.org", f"{a}@example.org", start)
            for i, a in enumerate(ids)
        ),
    )
    neighbours = list(range(1, min(accounts, 400)))  # people the target's rooms hold (below)

    def body() -> str:
        words = rng.choices(_WORDS, k=rng.randint(3, 14))
        if rng.random() < IDENTIFIER_SHARE:
            i = rng.choice(neighbours)
            mention = rng.choice(
                [
                    names[i][1:] + "랑" if i % 2 else names[i],
                    "0" + phones[i][3:6] + "-" + phones[i][6:10] + "-" + phones[i][10:],
                    f"{ids[i]}@example.org",
                    f"@{ids[i]}",
                    f"010-{rng.randrange(10**4):04d}-{rng.randrange(10**4):04d}",  # a stranger
                ]
            )
            words.insert(rng.randrange(len(words) + 1), mention)
        return " ".join(words)

    bodies = [body() for _ in range(4096)]

    rooms: list[tuple[str, str | None, int]] = []
    members: dict[str, list[str]] = {}
    # The target's neighbourhood: 6 groups of varied size, 24 direct rooms.
    others = ids[1:]
    for g in range(6):
        room = f"tg{g:03d}"
        rooms.append((room, f"group {g}", 0))
        pool = others[: len(neighbours)]
        members[room] = [TARGET, *rng.sample(pool, min(len(pool), _heavy_tail(rng, 3, 200)))]
    for d in range(24):
        room = f"td{d:03d}"
        rooms.append((room, None, 1))
        members[room] = [TARGET, others[d % len(neighbours)]]
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
            yield (
                f"{prefix}{i:09d}",
                room,
                pick_sender(room),
                start + rng.randrange(span),
                bodies[i & 4095],
            )

    insert = "INSERT INTO messages (id, room, sender, sent_at, body) VALUES (?, ?, ?, ?, ?)"
    db.executemany(
        insert,
        messages(shape.target_messages, lambda: rng.choice(target_rooms), lambda room: TARGET, "t"),
    )
    db.executemany(
        insert,
        messages(
            shape.peer_messages,
            lambda: rng.choice(target_rooms),
            lambda room: rng.choice(members[room][1:]),
            "p",
        ),
    )
    if other_rooms and shape.other_messages:
        picks = iter(rng.choices(other_rooms, weights, k=shape.other_messages))
        db.executemany(
            insert,
            messages(
                shape.other_messages,
                lambda: next(picks),
                lambda room: rng.choice(members[room]),
                "o",
            ),
        )
