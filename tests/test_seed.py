"""The seeded data set: deterministic, heavy-tailed, internally consistent, and free of identifiers
in message bodies."""

from __future__ import annotations

import collections
import ipaddress
import pathlib
import re
import sqlite3
import statistics

import pytest

from gateway.errors import FailedPrecondition, InvalidArgument
from gateway.stores.reference import interchange as ix
from gateway.stores.reference.seed import END, START, generate, seed
from gateway.stores.reference.sqlite import ReferenceStore

TABLES = ("accounts", "logins", "rooms", "memberships", "messages", "contacts")
DOC_NETS = [ipaddress.ip_network(n) for n in ("203.0.113.0/24", "198.51.100.0/24", "2001:db8::/32")]


def dump(path: pathlib.Path) -> dict[str, list[tuple]]:
    db = sqlite3.connect(path)
    try:
        return {t: db.execute(f"SELECT * FROM {t} ORDER BY 1, 2, 3").fetchall() for t in TABLES}
    finally:
        db.close()


def seeded(path: pathlib.Path, accounts: int, s: int) -> dict[str, int]:
    store = ReferenceStore.open(path)
    try:
        return seed(store, accounts, s)
    finally:
        store.close()


@pytest.fixture(scope="module")
def rows() -> list[ix.Row]:
    return generate(1000, 5)


def of(rows: list[ix.Row], kind: type) -> list:
    return [r for r in rows if isinstance(r, kind)]


class TestDeterminism:
    """The same seed gives the same rows, byte for byte; another seed gives others."""

    def test_same_seed_same_rows(self, tmp_path: pathlib.Path) -> None:
        a = seeded(tmp_path / "a.db", 200, 42)
        b = seeded(tmp_path / "b.db", 200, 42)
        assert a == b
        assert dump(tmp_path / "a.db") == dump(tmp_path / "b.db")

    def test_other_seed_other_rows(self, tmp_path: pathlib.Path) -> None:
        seeded(tmp_path / "a.db", 200, 42)
        seeded(tmp_path / "b.db", 200, 43)
        assert dump(tmp_path / "a.db")["messages"] != dump(tmp_path / "b.db")["messages"]

    def test_generate_is_pure(self) -> None:
        assert generate(150, 9) == generate(150, 9)


class TestVolumeAndSpeed:
    """200 accounts give a few thousand messages quickly; counts match the store."""

    def test_200_accounts(self, tmp_path: pathlib.Path) -> None:
        store = ReferenceStore.open(tmp_path / "s.db")
        counts = seed(store, 200, 1)
        assert counts == store.counts()
        store.close()
        assert counts["account"] == 200
        assert 1000 <= counts["message"] <= 20000
        assert min(counts.values()) > 0  # (its speed is bench's, not a timed test's)


class TestHeavyTails:
    """Most groups are small and most people quiet, with a few huge groups and loud people."""

    def test_group_sizes(self, rows: list[ix.Row]) -> None:
        direct = {r.id for r in of(rows, ix.Room) if r.direct}
        sizes = collections.Counter(m.room for m in of(rows, ix.Membership) if m.room not in direct)
        median = statistics.median(sizes.values())
        assert 3 <= median <= 10
        assert max(sizes.values()) >= 8 * median
        assert min(sizes.values()) >= 3

    def test_activity(self, rows: list[ix.Row]) -> None:
        per_sender = collections.Counter(m.sender for m in of(rows, ix.Message))
        assert max(per_sender.values()) >= 10 * statistics.median(per_sender.values())


class TestConsistency:
    """Generated rows are what the format and the relations logic expect."""

    def test_identifiers(self, rows: list[ix.Row]) -> None:
        accounts = of(rows, ix.Account)
        assert all(re.fullmatch(r"u\d{6}", a.id) for a in accounts)
        phones = [a.phone for a in accounts]
        assert len(set(phones)) == len(phones)
        assert all(p and re.fullmatch(r"\+8210\d{8}", p) for p in phones)
        emails = [a.email for a in accounts if a.email]
        assert all(re.fullmatch(r"user\d+@example\.org", e) for e in emails)
        assert len(set(emails)) == len(emails) and len(emails) < len(accounts)

    def test_times_in_fixed_range(self, rows: list[ix.Row]) -> None:
        for r in rows:
            for name in ("created_at", "at", "joined_at", "left_at", "sent_at", "added_at"):
                value = getattr(r, name, None)
                if value is not None:
                    assert START <= value < END, r

    def test_messages_sent_while_member(self, rows: list[ix.Row]) -> None:
        periods = collections.defaultdict(list)
        for m in of(rows, ix.Membership):
            periods[(m.room, m.account)].append((m.joined_at, m.left_at or END))
        for msg in of(rows, ix.Message):
            assert any(j <= msg.sent_at < e for j, e in periods[(msg.room, msg.sender)]), msg

    def test_rooms(self, rows: list[ix.Row]) -> None:
        members = collections.defaultdict(set)
        for m in of(rows, ix.Membership):
            members[m.room].add(m.account)
        for r in of(rows, ix.Room):
            if r.direct:
                assert len(members[r.id]) == 2 and r.name is None
        assert any(m.left_at for m in of(rows, ix.Membership))

    def test_logins_use_documentation_addresses(self, rows: list[ix.Row]) -> None:
        logins = of(rows, ix.Login)
        assert logins
        for login in logins:
            ip = ipaddress.ip_address(login.ip)
            assert any(ip in net for net in DOC_NETS if net.version == ip.version), login.ip
        assert {ipaddress.ip_address(x.ip).version for x in logins} == {4, 6}

    def test_contacts_unique_and_not_self(self, rows: list[ix.Row]) -> None:
        pairs = [(c.owner, c.contact) for c in of(rows, ix.Contact)]
        assert pairs and len(set(pairs)) == len(pairs)
        assert all(a != b for a, b in pairs)

    def test_bodies_name_nobody(self, rows: list[ix.Row]) -> None:
        identifiers = set()
        for a in of(rows, ix.Account):
            identifiers.update(x for x in (a.id, a.phone, a.email) if x)
        for msg in of(rows, ix.Message):
            # letters and spaces only: no digit, '+' or '@', so no id, phone or e-mail fits
            assert re.fullmatch(r"[a-z]+( [a-z]+)*", msg.body), msg.body
            assert not identifiers & set(msg.body.split()), msg.body


class TestRefusals:
    """Seeding never mixes into existing data and refuses nonsense sizes."""

    def test_non_empty_store(self, tmp_path: pathlib.Path) -> None:
        store = ReferenceStore.open(tmp_path / "s.db")
        seed(store, 20, 1)
        before = store.counts()
        with pytest.raises(FailedPrecondition, match="already holds data"):
            seed(store, 20, 2)
        assert store.counts() == before
        store.close()

    @pytest.mark.parametrize("n", [0, 1, -5, 1_000_000])
    def test_bad_sizes(self, n: int) -> None:
        with pytest.raises(InvalidArgument, match="accounts"):
            generate(n, 1)
