"""Every checkpoint any replica signed, in the PostgreSQL checkpoints table."""

from __future__ import annotations

from gateway.db.postgres import Database


class PgCheckpoints:
    """All replicas sign with the deployment's one key; the table keeps every checkpoint."""

    shared = True  # other replicas sign too: the latest may be theirs

    def __init__(self, database: Database) -> None:
        self._db = database

    def latest(self) -> str | None:
        with self._db.connection() as conn:
            row = conn.execute("SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1").fetchone()
        return None if row is None else str(row[0])

    def save(self, size: int, note: str) -> None:
        # Ed25519 signatures are deterministic: two replicas signing the same size sign the same
        # root with the same key and write the same note, so the second insert changes nothing.
        with self._db.connection() as conn:
            conn.execute(
                "INSERT INTO checkpoints (size, note) VALUES (%s, %s) "
                "ON CONFLICT (size) DO NOTHING",
                (size, note),
            )

    def all(self) -> list[str]:
        with self._db.connection() as conn:
            return [str(r[0]) for r in conn.execute("SELECT note FROM checkpoints ORDER BY size")]

    def __str__(self) -> str:
        return "postgresql table checkpoints"
