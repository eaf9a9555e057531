"""Replicas must share their secrets; a replica with a different key is refused at start.

Two replicas with different pseudonym keys would give one third party two pseudonyms, and one
with another signing key would sign checkpoints auditors cannot verify. The first replica records
a fingerprint of each key in deployment_keys; every later start compares. A fingerprint is a
keyed hash under a fixed label, which says nothing about the key itself.
"""

from __future__ import annotations

import hashlib
import hmac

from gateway.db.postgres import Database
from gateway.errors import FailedPrecondition

_LABEL = b"wsg deployment key fingerprint v1"


def fingerprint(secret: bytes) -> str:
    return hmac.new(secret, _LABEL, hashlib.sha256).hexdigest()


def require_same(database: Database, secrets: dict[str, bytes]) -> None:
    """Record each key's fingerprint on first use; FailedPrecondition if one differs."""
    with database.connection() as conn:
        for name, secret in secrets.items():
            mine = fingerprint(secret)
            conn.execute(
                "INSERT INTO deployment_keys (name, fingerprint) VALUES (%s, %s)"
                " ON CONFLICT (name) DO NOTHING",
                (name, mine),
            )
            row = conn.execute(
                "SELECT fingerprint FROM deployment_keys WHERE name = %s", (name,)
            ).fetchone()
            kept = str(row[0]) if row is not None else "(none)"
            if kept != mine:
                raise FailedPrecondition(
                    f"this replica's {name} key differs from the one the deployment already uses "
                    f"(fingerprint {mine[:12]}… vs {kept[:12]}…): every replica must mount the "
                    "same keys (see deploy/README.md)"
                )
