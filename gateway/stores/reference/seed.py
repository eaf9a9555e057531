"""A deterministic, realistic data set for the reference store (`wsg store seed`, `wsg demo`).

Realistic where it matters to the gateway: group sizes and activity are heavy-tailed (most groups
are small, a few are huge; most people write little, a few write a lot), so a warrant for one
person touches many bystanders. Everything comes from one random.Random(seed) and a fixed time
range, so the same seed always gives the same rows. Rows go through the import path
(the store's load), so generated data passes the same validation as imported data.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections.abc import Iterable
from typing import Protocol

from gateway.errors import FailedPrecondition, InvalidArgument
from gateway.stores.reference import interchange as ix

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
END = dt.datetime(2026, 7, 1, tzinfo=dt.UTC)
MAX_ACCOUNTS = 999_999

# Lower-case words only: a body can never contain an account id, phone number or e-mail address.
WORDS = (
    "about",
    "after",
    "again",
    "agree",
    "almost",
    "along",
    "already",
    "also",
    "always",
    "answer",
    "any",
    "around",
    "ask",
    "away",
    "back",
    "bake",
    "because",
    "before",
    "begin",
    "behind",
    "best",
    "better",
    "between",
    "big",
    "bike",
    "book",
    "both",
    "bread",
    "bring",
    "busy",
    "call",
    "came",
    "can",
    "car",
    "care",
    "carry",
    "change",
    "cheap",
    "city",
    "clean",
    "close",
    "coffee",
    "cold",
    "come",
    "cook",
    "could",
    "dinner",
    "door",
    "down",
    "dream",
    "drive",
    "early",
    "easy",
    "eat",
    "else",
    "enough",
    "even",
    "evening",
    "every",
    "fast",
    "fine",
    "first",
    "food",
    "forget",
    "free",
    "friend",
    "from",
    "fun",
    "game",
    "garden",
    "give",
    "good",
    "great",
    "green",
    "happy",
    "hard",
    "have",
    "hear",
    "help",
    "here",
    "home",
    "hope",
    "hot",
    "hour",
    "house",
    "idea",
    "just",
    "keep",
    "kind",
    "know",
    "late",
    "later",
    "laugh",
    "learn",
    "leave",
    "left",
    "light",
    "like",
    "little",
    "long",
    "look",
    "lost",
    "lot",
    "love",
    "lunch",
    "make",
    "many",
    "maybe",
    "meet",
    "minute",
    "money",
    "more",
    "morning",
    "move",
    "much",
    "music",
    "near",
    "need",
    "never",
    "new",
    "next",
    "nice",
    "night",
    "nothing",
    "now",
    "often",
    "okay",
    "open",
    "other",
    "over",
    "park",
    "party",
    "pay",
    "people",
    "phone",
    "picture",
    "place",
    "plan",
    "play",
    "please",
    "quick",
    "quiet",
    "rain",
    "ready",
    "really",
    "rest",
    "right",
    "road",
    "room",
    "run",
    "same",
    "school",
    "see",
    "send",
    "ship",
    "shop",
    "show",
    "sleep",
    "slow",
    "small",
    "snow",
    "some",
    "soon",
    "sorry",
    "start",
    "stay",
    "still",
    "stop",
    "store",
    "sun",
    "sure",
    "table",
    "take",
    "talk",
    "tea",
    "team",
    "thank",
    "then",
    "there",
    "thing",
    "think",
    "ticket",
    "time",
    "today",
    "together",
    "tomorrow",
    "tonight",
    "train",
    "travel",
    "tree",
    "true",
    "try",
    "turn",
    "under",
    "until",
    "visit",
    "wait",
    "walk",
    "want",
    "warm",
    "watch",
    "water",
    "way",
    "week",
    "weekend",
    "well",
    "when",
    "where",
    "while",
    "why",
    "win",
    "window",
    "with",
    "work",
    "world",
    "write",
    "yes",
    "yet",
    "young",
)
FIRST = (
    "Ana",
    "Bo",
    "Chen",
    "Dae",
    "Eun",
    "Farah",
    "Gil",
    "Hana",
    "Ivo",
    "Jae",
    "Kim",
    "Lea",
    "Min",
    "Noa",
    "Oli",
    "Park",
    "Quinn",
    "Ravi",
    "Seo",
    "Tae",
    "Uma",
    "Vic",
    "Won",
    "Yuna",
)
LAST = (
    "Ahn",
    "Baek",
    "Cho",
    "Choi",
    "Han",
    "Jang",
    "Jung",
    "Kang",
    "Kwon",
    "Lee",
    "Lim",
    "Moon",
    "Nam",
    "Oh",
    "Ryu",
    "Shin",
    "Song",
    "Yang",
    "Yoon",
)
ROOM_WORDS = (
    "crew",
    "family",
    "climbing",
    "book club",
    "office",
    "study",
    "band",
    "neighbours",
    "football",
    "alumni",
    "trip",
    "parents",
    "gaming",
    "choir",
    "startup",
    "market",
)
DEVICES = (
    "android",
    "iphone",
    "ipad",
    "desktop-mac",
    "desktop-windows",
    "web-firefox",
    "web-chrome",
    "linux",
)

# How an owner saves a contact: the contact's first name, dressed up.
LABELS = ("{}", "{} (work)", "{} from the gym", "my {}", "{} 2")

_SECOND = dt.timedelta(seconds=1)


class _Gen:
    def __init__(self, accounts: int, seed: int) -> None:
        self.n = accounts
        self.rng = random.Random(seed)

    def time(self, low: dt.datetime, high: dt.datetime) -> dt.datetime:
        """A whole second in [low, high) (low itself if the range is empty)."""
        span = int((high - low) / _SECOND)
        return low + self.rng.randrange(span) * _SECOND if span > 0 else low

    def heavy(self, alpha: float, scale: float, cap: int) -> int:
        """A Pareto draw: mostly near `scale`, occasionally far above it (up to cap)."""
        return min(cap, int(scale * self.rng.paretovariate(alpha)))

    def ip(self) -> str:
        r = self.rng.randrange(3)
        if r == 0:
            return f"203.0.113.{self.rng.randrange(1, 255)}"
        if r == 1:
            return f"198.51.100.{self.rng.randrange(1, 255)}"
        return f"2001:db8::{self.rng.randrange(1, 0xFFFF):x}"

    def rows(self) -> list[ix.Row]:
        rng, n = self.rng, self.n
        ids = [f"u{i:06d}" for i in range(1, n + 1)]
        phones = rng.sample(range(10**8), n)
        accounts = [
            ix.Account(
                id=ids[i],
                display_name=f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                phone=f"+8210{phones[i]:08d}",
                email=None if rng.random() < 0.1 else f"user{i + 1}@example.org",
                created_at=self.time(START, START + dt.timedelta(days=14)),
            )
            for i in range(n)
        ]
        created = [a.created_at for a in accounts]

        rooms: list[ix.Room] = []
        memberships: list[ix.Membership] = []
        mine: list[list[ix.Membership]] = [[] for _ in range(n)]  # by account index

        def join(room: str, i: int, low: dt.datetime, leave_p: float) -> None:
            joined = self.time(max(low, created[i]), max(low, created[i]) + dt.timedelta(days=30))
            left = None
            if rng.random() < leave_p:
                left = self.time(joined + dt.timedelta(days=1), joined + dt.timedelta(days=90))
                if left >= END:
                    left = None
            m = ix.Membership(room=room, account=ids[i], joined_at=joined, left_at=left)
            memberships.append(m)
            mine[i].append(m)

        for g in range(1, max(1, n // 5) + 1):
            size = max(3, self.heavy(1.16, 3.0, n))
            room = f"g{g:06d}"
            rooms.append(ix.Room(id=room, name=f"{rng.choice(ROOM_WORDS)} {g}", direct=False))
            opened = self.time(START, START + dt.timedelta(days=60))
            for i in sorted(rng.sample(range(n), min(size, n))):
                join(room, i, opened, 0.15)

        pairs: dict[tuple[int, int], None] = {}
        for _ in range(n * 3 // 2):
            a, b = rng.sample(range(n), 2)
            pairs.setdefault((min(a, b), max(a, b)), None)
        for d, (a, b) in enumerate(pairs, start=1):
            room = f"d{d:06d}"
            rooms.append(ix.Room(id=room, name=None, direct=True))
            opened = self.time(max(created[a], created[b]), START + dt.timedelta(days=90))
            join(room, a, opened, 0.05)
            join(room, b, opened, 0.05)

        drafts: list[tuple[dt.datetime, str, str]] = []
        for i in range(n):
            if not mine[i]:
                continue
            for _ in range(self.heavy(1.3, 6.0, 1500)):
                m = rng.choice(mine[i])
                drafts.append((self.time(m.joined_at, m.left_at or END), m.room, ids[i]))
        drafts.sort()
        messages = [
            ix.Message(
                id=f"m{k:07d}",
                room=room,
                sender=sender,
                sent_at=sent,
                body=" ".join(rng.choices(WORDS, k=rng.randint(3, 14))),
            )
            for k, (sent, room, sender) in enumerate(drafts, start=1)
        ]

        logins = [
            ix.Login(
                account=ids[i],
                at=self.time(created[i], END),
                ip=self.ip(),
                device=rng.choice(DEVICES),
            )
            for i in range(n)
            for _ in range(max(1, self.heavy(1.5, 3.0, 200)))
        ]

        members_of: dict[str, list[int]] = {}
        for m in memberships:
            members_of.setdefault(m.room, []).append(int(m.account[1:]) - 1)
        contacts: list[ix.Contact] = []
        for i in range(n):
            chosen: dict[int, None] = {}
            for _ in range(self.heavy(1.5, 4.0, n - 1)):
                if mine[i] and rng.random() < 0.7:
                    j = rng.choice(members_of[rng.choice(mine[i]).room])
                else:
                    j = rng.randrange(n)
                if j != i:
                    chosen.setdefault(j, None)
            for j in chosen:
                contacts.append(
                    ix.Contact(
                        owner=ids[i],
                        contact=ids[j],
                        added_at=self.time(max(created[i], created[j]), END),
                    )
                )
        extra = random.Random(self.rng.random())  # new features draw apart: old rows unchanged
        rooms = [
            dataclasses.replace(r, topic=" ".join(extra.choices(WORDS, k=4)))
            if not r.direct and extra.random() < 0.3
            else r
            for r in rooms
        ]
        messages = self.quotes_and_forwards(extra, messages, ids)
        names = {a.id: (a.display_name or "").split(" ")[0] for a in accounts}
        contacts = [
            dataclasses.replace(c, label=extra.choice(LABELS).format(names[c.contact]))
            if extra.random() < 0.5
            else c
            for c in contacts
        ]
        return [*accounts, *rooms, *memberships, *messages, *logins, *contacts]

    @staticmethod
    def quotes_and_forwards(
        rng: random.Random, messages: list[ix.Message], ids: list[str]
    ) -> list[ix.Message]:
        """Some messages reply to an earlier one in their room (quoting its first words), some
        forward another account's message, some carry a file: the other people's words the
        release must withhold, and file names it must minimize."""
        last_in_room: dict[str, ix.Message] = {}
        out = []
        for m in messages:
            draw = rng.random()
            earlier = last_in_room.get(m.room)
            if draw < 0.08 and earlier is not None and earlier.sender != m.sender:
                m = dataclasses.replace(
                    m, reply_to=earlier.id, quote=" ".join(earlier.body.split()[:6])
                )
            elif draw < 0.10:
                other = rng.choice(ids)
                if other != m.sender:
                    m = dataclasses.replace(m, forwarded_from=other)
            elif draw < 0.13:
                m = dataclasses.replace(
                    m, attachment=f"{rng.choice(WORDS)}-{rng.randrange(100)}.jpg"
                )
            last_in_room[m.room] = m
            out.append(m)
        return out


def generate(accounts: int, seed: int) -> list[ix.Row]:
    """The interchange rows of a data set with `accounts` accounts (same seed, same rows)."""
    if not 2 <= accounts <= MAX_ACCOUNTS:
        raise InvalidArgument(f"accounts: must be between 2 and {MAX_ACCOUNTS}, not {accounts}")
    return _Gen(accounts, seed).rows()


class Loadable(Protocol):
    """What seeding needs of a store: ReferenceStore and PgReferenceStore both have it."""

    def counts(self) -> dict[str, int]: ...

    def load(self, rows: Iterable[ix.Row]) -> dict[str, int]: ...


def seed(store: Loadable, accounts: int, seed: int) -> dict[str, int]:
    """Fill an empty store with a generated data set; returns counts per kind."""
    rows = generate(accounts, seed)
    if any(store.counts().values()):
        raise FailedPrecondition(
            "the store already holds data; seed an empty one (a fresh --data directory or database)"
        )
    return store.load(rows)
