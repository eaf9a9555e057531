"""Casbin rules in PostgreSQL: the casbin_rule table, read as one snapshot, replaced whole.

Replicas share one rule set. The table has Casbin's usual layout (ptype, v0..v9) plus the policy
it belongs to ('release' or 'api') and a position (the release policy's first match wins, so
order matters). A trigger bumps policy_version and NOTIFYs channel wsg_policy on every change,
whether a replica made it (`wsg policy load`) or someone edited the table by hand. `PgRules` is
the RuleSource (gateway.policy.rules) of a PostgreSQL deployment; `PgPolicyWatcher` (a Casbin
Watcher) listens on the channel, and polls the version every few seconds in case a notification
was missed while its connection was down.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import pathlib
import threading
from collections.abc import Callable
from typing import Any

import psycopg
import structlog
from casbin.persist.watcher import Watcher

from gateway.audit.events import Event
from gateway.backends.postgres.audit_log import PgAuditLog
from gateway.db.postgres import Database, one_line
from gateway.errors import FailedPrecondition, GatewayError, Unavailable
from gateway.model import format_time, parse_time
from gateway.policy.proposals import Proposal, ProposalRows
from gateway.policy.rules import (
    MAX_FIELDS,
    POLICY_NAMES,
    RuleSnapshot,
    T,
    parse_rules,
    require_name,
    rules_text,
)

log = structlog.get_logger("wsg.policy")
CHANNEL = "wsg_policy"


def read_text(conn: psycopg.Connection[Any], policy: str) -> str:
    rows = conn.execute(
        "SELECT ptype, v0, v1, v2, v3, v4, v5, v6, v7, v8, v9 FROM casbin_rule WHERE policy = %s"
        " ORDER BY position",
        (policy,),
    ).fetchall()
    return rules_text(rows)


def write_rows(conn: psycopg.Connection[Any], policy: str, rows: list[list[str]]) -> None:
    """Replace one policy's rules, in the caller's transaction."""
    conn.execute("DELETE FROM casbin_rule WHERE policy = %s", (policy,))
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO casbin_rule (policy, position, ptype, v0, v1, v2, v3, v4, v5, v6, v7, v8,"
            " v9) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                (policy, i, row[0], *row[1:], *[None] * (MAX_FIELDS + 1 - len(row)))
                for i, row in enumerate(rows)
            ],
        )


def snapshot(database: Database) -> RuleSnapshot:
    """Version and both rule sets from one consistent snapshot."""
    with database.connection() as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        current = _version(conn)
        texts = {name: read_text(conn, name) for name in POLICY_NAMES}
    return RuleSnapshot(current, texts)


def version(database: Database) -> int:
    with database.connection() as conn:
        return _version(conn)


def _version(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT version FROM policy_version WHERE id = 1").fetchone()
    return int(row[0]) if row else 0


def seed_from_files(database: Database, policy_dir: pathlib.Path) -> list[str]:
    """On a new database, copy the rule files into the table (once, even if replicas start
    together); a policy already in the table is left alone. Returns the policies seeded."""
    seeded = []
    with database.connection() as conn:
        conn.execute("LOCK TABLE casbin_rule IN EXCLUSIVE MODE")
        for name, file in POLICY_NAMES.items():
            present = conn.execute(
                "SELECT 1 FROM casbin_rule WHERE policy = %s LIMIT 1", (name,)
            ).fetchone()
            path = policy_dir / file
            if present is None and path.is_file():
                write_rows(conn, name, parse_rules(path.read_text(), str(path)))
                seeded.append(name)
    return seeded


def replace(database: Database, policy: str, text: str, source: str) -> int:
    """Replace one policy's rules with `text` by hand (`wsg policy load --database`); returns
    the number of rules. Validate first."""
    require_name(policy)
    rows = parse_rules(text, source)
    with database.connection() as conn:
        write_rows(conn, policy, rows)
    return len(rows)


# Both select a proposal's columns in the order _proposal reads them.
_PROPOSAL_BY_ID = (
    "SELECT id, policy, rules, rules_sha256, base_sha256, reason, proposed_by, proposed_at,"
    " expires_at, approved_by FROM policy_proposals WHERE id = %s FOR UPDATE"
)
_PROPOSALS_PENDING = (
    "SELECT id, policy, rules, rules_sha256, base_sha256, reason, proposed_by, proposed_at,"
    " expires_at, approved_by FROM policy_proposals WHERE state = 'pending' ORDER BY seq"
)


def _proposal(row: tuple[Any, ...]) -> Proposal:
    return Proposal(
        id=row[0],
        policy=row[1],
        rules=row[2],
        rules_sha256=row[3],
        base_sha256=row[4],
        reason=row[5],
        proposed_by=row[6],
        proposed_at=parse_time(row[7]),
        expires_at=parse_time(row[8]),
        approved_by=row[9],
    )


class PgProposalRows:
    """ProposalRows (gateway.policy.proposals) inside one transaction of the audit log."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def get(self, proposal_id: str) -> Proposal | None:
        row = self._conn.execute(_PROPOSAL_BY_ID, (proposal_id,)).fetchone()
        return None if row is None else _proposal(row)

    def insert(self, proposal: Proposal) -> None:
        self._conn.execute(
            "INSERT INTO policy_proposals (id, policy, rules, rules_sha256, base_sha256, reason,"
            " proposed_by, proposed_at, expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                proposal.id,
                proposal.policy,
                proposal.rules,
                proposal.rules_sha256,
                proposal.base_sha256,
                proposal.reason,
                proposal.proposed_by,
                format_time(proposal.proposed_at),
                format_time(proposal.expires_at),
            ),
        )

    def mark_approved(self, proposal_id: str, by: str, at: dt.datetime) -> None:
        done = self._conn.execute(
            "UPDATE policy_proposals SET state = 'approved', approved_by = %s, approved_at = %s"
            " WHERE id = %s AND state = 'pending'",
            (by, format_time(at), proposal_id),
        )
        if done.rowcount != 1:
            raise FailedPrecondition(f"policy proposal {proposal_id} changed meanwhile")

    def rules(self, policy: str) -> str:
        return read_text(self._conn, policy)

    def replace_rules(self, policy: str, text: str) -> None:
        write_rows(self._conn, policy, parse_rules(text, "rules"))


class PgRules:
    """The RuleSource of a PostgreSQL deployment: seeded from the files once, then the table."""

    description = "postgresql table casbin_rule"

    def __init__(
        self,
        database: Database,
        audit: PgAuditLog,
        policy_dir: pathlib.Path,
        url: str,
        poll_seconds: float,
    ) -> None:
        self._db = database
        self._audit = audit
        self._url = url
        self._poll = poll_seconds
        seed_from_files(database, policy_dir)

    def snapshot(self) -> RuleSnapshot:
        return snapshot(self._db)

    def version(self) -> int:
        return version(self._db)

    def require_writable(self) -> None:
        """Always: any replica may change the shared rules."""

    def changes(self, work: Callable[[ProposalRows], tuple[list[Event], T]]) -> T:
        """`work` over the proposals and rules in the audit log's transaction: the rules, the
        proposal's state and the entries commit together (and the trigger notifies replicas)."""

        def audited(conn: psycopg.Connection[Any]) -> tuple[list[Event], T]:
            return work(PgProposalRows(conn))

        _, result = self._audit.run_audited(audited)
        return result

    def pending(self) -> list[Proposal]:
        with self._db.connection() as conn:
            rows = conn.execute(_PROPOSALS_PENDING).fetchall()
        return [_proposal(row) for row in rows]

    def watch(
        self, on_change: Callable[[], None], on_refused: Callable[[str], None]
    ) -> PgPolicyWatcher:
        watcher = PgPolicyWatcher(self._url, self._poll, on_refused)
        watcher.set_update_callback(on_change)
        return watcher.start()


class PgPolicyWatcher(Watcher):  # type: ignore[misc]  # pycasbin ships no hints: Watcher is Any
    """LISTEN wsg_policy on a dedicated connection, poll as a fallback, call back on change."""

    def __init__(self, url: str, poll_seconds: float, on_refused: Any = None) -> None:
        self._url = url
        self._poll = poll_seconds
        self._callback: Any = None
        self._on_refused = on_refused  # called with the reason when new rules do not load
        self._stop = threading.Event()
        self._conn: psycopg.Connection | None = None
        self._thread = threading.Thread(target=self._run, name="wsg-policy-watch", daemon=True)

    def set_update_callback(self, func: Any) -> None:
        self._callback = func

    def update(self) -> None:
        """Changes notify through the table's trigger; nothing to send from here."""

    def start(self) -> PgPolicyWatcher:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        conn = self._conn
        if conn is not None:
            # Closing interrupts the listener; whatever the broken connection says is moot.
            with contextlib.suppress(Exception):
                conn.close()
        self._thread.join(timeout=5)

    def _changed(self) -> None:
        if self._callback is None:
            return
        try:
            self._callback()
        except Unavailable:
            raise  # the database, not the rules: _run retries
        except GatewayError as exc:
            log.error("new policy refused; deciding with the last good one", why=exc.message)
            if self._on_refused is not None:
                self._on_refused(exc.message)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True, connect_timeout=5) as conn:
                    self._conn = conn
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._changed()  # anything missed while not listening
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=self._poll, stop_after=1):
                            pass
                        self._changed()  # a notification, or the poll interval passed
            except psycopg.Error as exc:
                if self._stop.is_set():
                    return
                log.warning("policy watcher lost its connection; retrying", why=one_line(exc))
            except GatewayError as exc:
                log.warning("policy watcher cannot read the policy; retrying", why=exc.message)
            finally:
                self._conn = None
            self._stop.wait(min(self._poll, 2.0))
