"""The PostgreSQL backend: shared state, one linear audit log through its sequencer."""

from __future__ import annotations

import pathlib

from gateway.audit.checkpoints import CheckpointStore
from gateway.backends.postgres import keys
from gateway.backends.postgres.audit_log import PgAuditLog
from gateway.backends.postgres.checkpoints import PgCheckpoints
from gateway.backends.postgres.rules import PgRules
from gateway.backends.postgres.warrants import PgWarrantTable
from gateway.db import migrate
from gateway.db.postgres import Database, redact
from gateway.errors import GatewayError
from gateway.policy.rules import RuleSource
from gateway.settings import Settings
from gateway.stores.base import Store
from gateway.warrants.table import WarrantTable


class PostgresBackend:
    def __init__(self, url: str, settings: Settings) -> None:
        self._url = url
        self._poll = settings.policy_poll_seconds
        migrate.upgrade(url)
        self.database = Database(url, settings.pool_size)
        try:
            self.audit = PgAuditLog(self.database, settings.clock)
        except GatewayError:
            self.database.close()
            raise
        size = self.audit.size
        self.ran_before = f"the database's audit log has {size} entries" if size else None
        # A release holds one pooled connection for its stream and needs another, briefly, for
        # each audit entry: at most half the pool streams at once.
        self.release_slots = max(1, settings.pool_size // 2)

    @property
    def description(self) -> str:
        return redact(self._url)

    def warrant_table(self) -> WarrantTable:
        return PgWarrantTable(self.database, self.audit)

    def checkpoint_store(self) -> CheckpointStore:
        return PgCheckpoints(self.database)

    def rule_source(self, policy_dir: pathlib.Path) -> RuleSource:
        return PgRules(self.database, self.audit, policy_dir, self._url, self._poll)

    def reference_store(self) -> Store:
        from gateway.stores.reference.postgres import PgReferenceStore

        return PgReferenceStore(self.database)

    def require_same_keys(self, secrets: dict[str, bytes]) -> None:
        keys.require_same(self.database, secrets)

    def serving_at(self, address: str) -> None:
        """Replicas share the database, not a data directory lock: nothing to record."""

    def close(self) -> None:
        self.audit.close()
        self.database.close()
