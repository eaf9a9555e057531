"""The embedded gateway's checkpoint store: the latest signed checkpoint in DIR/checkpoint."""

from __future__ import annotations

import pathlib

from gateway.datadir import write_durably


class FileCheckpoints:
    """The latest signed checkpoint in one file, replaced atomically (write, fsync, rename)."""

    shared = False  # only this gateway signs

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path

    def latest(self) -> str | None:
        return self.path.read_text() if self.path.exists() else None

    def save(self, size: int, note: str) -> None:
        write_durably(self.path, note)

    def all(self) -> list[str]:
        """Only the latest is kept: earlier ones live with auditors and witnesses."""
        latest = self.latest()
        return [] if latest is None else [latest]

    def __str__(self) -> str:
        return str(self.path)
