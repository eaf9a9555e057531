"""Stores the gateway can front. `base.Store` is the one interface the release pipeline sees.

`open_store` is the one place a store is chosen from the configuration; the release pipeline,
policy and audit never know which implementation runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from gateway.errors import FailedPrecondition

if TYPE_CHECKING:
    from gateway.stores.base import Store


def open_store(store: str | None, reference: Callable[[], Store]) -> Store:
    """The store named by the `store` setting: None = the reference store beside the gateway's
    state (`reference()`: DATA/store.db, or the PostgreSQL database); `synapse:<database URL>` =
    a Matrix Synapse homeserver's database, read-only (gateway.stores.synapse)."""
    if store is None:
        return reference()
    kind, sep, url = store.partition(":")
    if kind == "synapse" and sep:
        from gateway.stores.synapse.store import SynapseStore

        return SynapseStore.open(url)
    raise FailedPrecondition(
        f"store {store[:80]!r}: unknown kind of store (known: the reference "
        "store, which is the default; synapse:sqlite:///PATH, "
        "synapse:postgresql://USER@HOST:PORT/DB)"
    )
