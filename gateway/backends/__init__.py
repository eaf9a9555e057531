"""Where a gateway keeps its own state, behind the interfaces the domain declares.

    interface                        embedded (SQLite, files)       postgres (replicas)
    gateway.audit.log.AuditLog       DIR/audit.log                  table audit_log
    gateway.warrants.table           DIR/state.db                   table warrants
    gateway.audit.checkpoints        DIR/checkpoint                 table checkpoints
      .CheckpointStore
    gateway.policy.rules.RuleSource  policy.csv, api_policy.csv     table casbin_rule (+ NOTIFY)

`open_backend` is the one place that chooses, from the settings; nothing above it branches on
the backend. A third backend is a new folder with the same five pieces.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.datadir import DataDir
from gateway.settings import Settings

if TYPE_CHECKING:
    from gateway.backends.base import Backend


def open_backend(settings: Settings, data: DataDir) -> Backend:
    """The backend the settings name, with its audit log open (FailedPrecondition or
    Unavailable, in one line, if it cannot be)."""
    if settings.database is None:
        from gateway.backends.embedded import EmbeddedBackend

        return EmbeddedBackend(data, settings)
    from gateway.backends.postgres import PostgresBackend

    return PostgresBackend(settings.database, settings)
