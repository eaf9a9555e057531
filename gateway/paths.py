"""Where the gateway keeps its state inside a data directory (default ./wsg-data).

    DIR/state.db          warrants (SQLite)
    DIR/store.db          the reference store (SQLite)
    DIR/audit.log         the audit log, one JSON entry per line
    DIR/checkpoint        the latest signed checkpoint of the audit log (C2SP signed note)
    DIR/audit.vkey        the verifier key for those checkpoints (public, note key format)
    DIR/keys/             secrets, directory 0700, files 0600, never in the repository:
                          pseudonym.key, audit-signing.key
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import secrets


@dataclasses.dataclass(frozen=True)
class DataDir:
    root: pathlib.Path

    @property
    def state_db(self) -> pathlib.Path:
        return self.root / "state.db"

    @property
    def store_db(self) -> pathlib.Path:
        return self.root / "store.db"

    @property
    def audit_log(self) -> pathlib.Path:
        return self.root / "audit.log"

    @property
    def checkpoint(self) -> pathlib.Path:
        return self.root / "checkpoint"

    @property
    def verifier_key(self) -> pathlib.Path:
        return self.root / "audit.vkey"

    @property
    def audit_signing_key(self) -> pathlib.Path:
        return self.keys / "audit-signing.key"

    @property
    def keys(self) -> pathlib.Path:
        return self.root / "keys"

    @property
    def pseudonym_secret(self) -> pathlib.Path:
        return self.keys / "pseudonym.key"

    def create(self) -> DataDir:
        self.root.mkdir(parents=True, exist_ok=True)
        self.keys.mkdir(mode=0o700, exist_ok=True)
        os.chmod(self.keys, 0o700)
        return self


def load_or_create_secret(path: pathlib.Path, size: int = 32) -> bytes:
    """Read a secret key file, creating it (mode 0600, atomically) on first start.

    A key file readable by others is refused rather than used: a leaked pseudonym secret would
    let anyone link pseudonyms back to accounts.
    """
    if path.exists():
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise PermissionError(f"{path} has mode {mode:o}; it must be 0600 (chmod 600 {path})")
        data = path.read_bytes()
        if len(data) < size:
            raise ValueError(f"{path} is too short to be a key ({len(data)} bytes)")
        return data
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    data = secrets.token_bytes(size)
    write_private(path, data)
    return data


def write_private(path: pathlib.Path, data: bytes) -> None:
    """Write a private key file: mode 0600 from its first byte, fsynced, replaced atomically."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
