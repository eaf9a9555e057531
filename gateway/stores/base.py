"""The store interface: resolve identities, count and stream a target's records with relation.

Implementations: the reference messenger schema on SQLite (`reference.ReferenceStore`) and on
PostgreSQL (`reference_pg.PgReferenceStore`), and `synapse.SynapseStore` (a Matrix Synapse
homeserver's own database, read-only). The release pipeline, policy and audit know only this
protocol.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from gateway.model import Scope, StoreRecord


class Store(Protocol):
    def resolve(self, kind: str, value: str) -> list[str]:
        """Account ids matching a target given as kind 'account', 'phone', 'email' or 'matrix'
        (a Matrix user id, @user:server); a store without such accounts finds none."""
        ...

    def count(self, scope: Scope) -> int:
        """How many records `records(scope)` will yield (for progress); may be approximate."""
        ...

    def records(self, scope: Scope) -> Iterator[StoreRecord]:
        """Every record in scope, each with its relation to scope.targets.

        Reads only what concerns the targets (indexed), never the whole store. Yields the
        targets' own records and the messages others wrote in rooms a target is in.
        """
        ...

    def close(self) -> None: ...
