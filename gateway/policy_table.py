"""Casbin rules in PostgreSQL: the casbin_rule table, read as one snapshot, replaced whole.

Replicas share one rule set. The table has Casbin's usual layout (ptype, v0..v7) plus the policy
it belongs to ('release' or 'api') and a position (the release policy's first match wins, so
order matters). A trigger bumps policy_version and NOTIFYs channel wsg_policy on every change,
whether a replica made it (`wsg policy load`) or someone edited the table by hand. A snapshot's
text is handed to Casbin through gateway.policy.TextAdapter, exactly as the rule files are.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any

import psycopg

from gateway.api_policy import API_POLICY_FILE
from gateway.db import Database
from gateway.errors import InvalidArgument
from gateway.policy import POLICY_FILE

POLICY_NAMES = {"release": POLICY_FILE, "api": API_POLICY_FILE}
MAX_FIELDS = 8  # v0..v7
CHANNEL = "wsg_policy"


@dataclasses.dataclass(frozen=True)
class RuleSnapshot:
    """Both policies' rules as one transaction saw them, with the table's version counter."""

    version: int
    texts: dict[str, str]  # policy name -> canonical CSV ("p, a, b, ..." per line)


def require_name(name: str) -> None:
    if name not in POLICY_NAMES:
        raise InvalidArgument(f"name: unknown policy {name[:40]!r} (known: "
                              f"{', '.join(POLICY_NAMES)})")


def parse_rules(text: str, source: str) -> list[list[str]]:
    """CSV rule lines (comments and blanks skipped) as [ptype, v0, ...] rows."""
    rows = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) - 1 > MAX_FIELDS:
            raise InvalidArgument(f"{source} line {number}: more than {MAX_FIELDS} fields after "
                                  f"{fields[0]!r}")
        rows.append(fields)
    return rows


def rules_text(rows: list) -> str:  # type: ignore[type-arg]
    """Rows back to CSV lines: the canonical text a policy's version is computed from."""
    return "".join(", ".join(v for v in row if v is not None) + "\n" for row in rows)


def read_text(conn: psycopg.Connection, policy: str) -> str:
    rows = conn.execute(
        "SELECT ptype, v0, v1, v2, v3, v4, v5, v6, v7 FROM casbin_rule WHERE policy = %s"
        " ORDER BY position", (policy,)).fetchall()
    return rules_text(rows)


def write_rows(conn: psycopg.Connection, policy: str, rows: list[list[str]]) -> None:
    """Replace one policy's rules, in the caller's transaction."""
    conn.execute("DELETE FROM casbin_rule WHERE policy = %s", (policy,))
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO casbin_rule (policy, position, ptype, v0, v1, v2, v3, v4, v5, v6, v7)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [(policy, i, row[0], *(row[1:] + [None] * (MAX_FIELDS + 1 - len(row))))
             for i, row in enumerate(rows)])


def snapshot(database: Database) -> RuleSnapshot:
    """Version and both rule sets from one consistent snapshot."""
    with database.connection() as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        version = conn.execute("SELECT version FROM policy_version WHERE id = 1").fetchone()[0]
        texts = {name: read_text(conn, name) for name in POLICY_NAMES}
    return RuleSnapshot(version, texts)


def version(database: Database) -> int:
    with database.connection() as conn:
        return conn.execute("SELECT version FROM policy_version WHERE id = 1").fetchone()[0]


def seed_from_files(database: Database, policy_dir: pathlib.Path) -> list[str]:
    """On a new database, copy the rule files into the table (once, even if replicas start
    together); a policy already in the table is left alone. Returns the policies seeded."""
    seeded = []
    with database.connection() as conn:
        conn.execute("LOCK TABLE casbin_rule IN EXCLUSIVE MODE")
        for name, file in POLICY_NAMES.items():
            present = conn.execute("SELECT 1 FROM casbin_rule WHERE policy = %s LIMIT 1",
                                   (name,)).fetchone()
            path = policy_dir / file
            if present is None and path.is_file():
                write_rows(conn, name, parse_rules(path.read_text(), str(path)))
                seeded.append(name)
    return seeded


def replace_audited(audit: Any, policy: str, text: str, entry: tuple[str, dict[str, Any]]) -> int:
    """Replace one policy's rules and write `entry` to the audit log in the same transaction
    (a change through a replica: who and why are in the log). `audit` is the PostgreSQL log
    (gateway.pg_audit), whose database holds the rules. Validate first."""
    rows = parse_rules(text, "rules")

    def change(conn: psycopg.Connection) -> tuple[list[tuple[str, dict[str, Any]]], int]:
        write_rows(conn, policy, rows)
        return [entry], len(rows)

    return audit.run_audited(change)[1]


def replace(database: Database, policy: str, text: str, source: str) -> int:
    """Replace one policy's rules with `text`; returns the number of rules. Validate first."""
    require_name(policy)
    rows = parse_rules(text, source)
    with database.connection() as conn:
        write_rows(conn, policy, rows)
    return len(rows)
