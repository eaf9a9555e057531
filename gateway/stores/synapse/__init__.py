"""A Matrix Synapse homeserver's own database as a store, read-only (store; its SQL in sql).

The connector (gateway.stores): `synapse:<database URL>` in the store setting.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.stores.base import Store

URL_FORMS = ("synapse:sqlite:///PATH/homeserver.db", "synapse:postgresql://USER@HOST:PORT/DB")


def connect(url: str) -> Store:
    """The homeserver's database at `url`, checked now (fail closed)."""
    # Imported here, not above: `wsg --help` lists URL_FORMS without loading the SQL layer.
    from gateway.stores.synapse.store import SynapseStore

    return SynapseStore.open(url)
