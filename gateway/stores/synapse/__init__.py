"""A Matrix Synapse homeserver's own database as a store, read-only (store; its SQL in sql)."""
