"""The embedded backend: SQLite files and an append-only log file in the data directory."""

from __future__ import annotations

import pathlib

from gateway.audit.checkpoints import CheckpointStore
from gateway.backends.embedded.audit_log import FileAuditLog
from gateway.backends.embedded.checkpoints import FileCheckpoints
from gateway.backends.embedded.rules import FileRules
from gateway.backends.embedded.warrants import SqliteWarrantTable
from gateway.datadir import DataDir, DataLock
from gateway.errors import FailedPrecondition
from gateway.policy.rules import RuleSource
from gateway.settings import Settings
from gateway.stores.base import Store
from gateway.warrants.table import WarrantTable


class EmbeddedBackend:
    description = "sqlite (embedded)"
    release_slots = None

    def __init__(self, data: DataDir, settings: Settings) -> None:
        self._data = data
        # First of all: one gateway per directory (before the log is opened, and maybe cut).
        self._lock = DataLock(data.lock, settings.listen)
        # Decided before anything is created: once state.db exists, this gateway has run.
        self.ran_before = f"{data.state_db} exists" if data.state_db.exists() else None
        try:
            self.audit = FileAuditLog(data.audit_log, settings.clock)
        except OSError as exc:
            self._lock.release()
            raise FailedPrecondition(
                f"audit log {data.audit_log} cannot be opened: {exc}"
            ) from None

    def serving_at(self, address: str) -> None:
        self._lock.serving_at(address)

    def warrant_table(self) -> WarrantTable:
        return SqliteWarrantTable(self._data.state_db, self.audit)

    def checkpoint_store(self) -> CheckpointStore:
        return FileCheckpoints(self._data.checkpoint)

    def rule_source(self, policy_dir: pathlib.Path) -> RuleSource:
        return FileRules(policy_dir)

    def reference_store(self) -> Store:
        from gateway.stores.reference.sqlite import ReferenceStore

        return ReferenceStore.open(self._data.store_db)

    def require_same_keys(self, keys: dict[str, bytes]) -> None:
        """One gateway per data directory: nobody else to agree with."""

    def close(self) -> None:
        self.audit.close()
        self._lock.release()
