"""What every backend provides to the gateway's wiring (gateway.api.server)."""

from __future__ import annotations

import pathlib
from typing import Protocol

from gateway.audit.checkpoints import CheckpointStore
from gateway.audit.log import AuditLog
from gateway.policy.rules import RuleSource
from gateway.stores.base import Store
from gateway.warrants.table import WarrantTable


class Backend(Protocol):
    @property
    def audit(self) -> AuditLog:
        """The deployment's one audit log, open for appends."""
        ...

    @property
    def description(self) -> str:
        """For the posture log line (the database URL redacted, or 'sqlite (embedded)')."""
        ...

    @property
    def ran_before(self) -> str | None:
        """Why this deployment has run before (then lost keys are lost state), or None."""
        ...

    @property
    def release_slots(self) -> int | None:
        """How many releases may stream at once on this replica (None: no backend limit)."""
        ...

    def warrant_table(self) -> WarrantTable: ...

    def checkpoint_store(self) -> CheckpointStore: ...

    def rule_source(self, policy_dir: pathlib.Path) -> RuleSource: ...

    def reference_store(self) -> Store:
        """The reference messenger store kept beside this backend's state."""
        ...

    def require_same_keys(self, keys: dict[str, bytes]) -> None:
        """FailedPrecondition if another replica of this deployment uses other keys."""
        ...

    def serving_at(self, address: str) -> None:
        """Where the gateway listens, once bound (the embedded data lock names it to a second
        gateway it refuses)."""
        ...

    def close(self) -> None: ...
