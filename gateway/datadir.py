"""Where the gateway keeps its state inside a data directory (default ./wsg-data).

DIR/state.db          warrants (SQLite)
DIR/store.db          the reference store (SQLite)
DIR/audit.log         the audit log, one JSON entry per line
DIR/checkpoint        the latest signed checkpoint of the audit log (C2SP signed note)
DIR/audit.vkey        the verifier key for those checkpoints (public, note key format)
DIR/keys/             secrets, directory 0700, files 0600, never in the repository:
                      pseudonym.key, audit-signing.key
DIR/gateway.lock      held (flock) by the one gateway serving DIR with the embedded backend;
                      it names that gateway (pid, host, address) for the refusal of a second

Everything here is private to the gateway's user: DIR and every directory the gateway or the
CLI makes are 0700, every file 0600 (SQLite's -wal, -shm and -journal files take the mode of
their database), set explicitly so the umask does not decide. A DIR that other users can
read or enter is refused (`require_private`): the state holds who was investigated.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import pathlib
import secrets
import socket
from typing import BinaryIO

from gateway import faults
from gateway.errors import FailedPrecondition

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def private_dir(path: pathlib.Path) -> pathlib.Path:
    """`path` as a directory; made 0700 if it did not exist (an existing one is left as it
    is: `require_private` says whether it will do)."""
    try:
        path.mkdir(parents=True, mode=PRIVATE_DIR)
    except FileExistsError:
        return path
    os.chmod(path, PRIVATE_DIR)  # mkdir's mode passes through the umask; this does not
    return path


def require_private(path: pathlib.Path) -> None:
    """FailedPrecondition, with the fix, if users other than the owner may read, write or
    enter the directory `path`."""
    try:
        mode = path.stat().st_mode & 0o777
    except OSError as exc:
        raise FailedPrecondition(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if mode & 0o077:
        raise FailedPrecondition(
            f"{path} has mode {mode:04o}: other users can read or write the gateway's state "
            f"(who was investigated, what was released); make it private: chmod 700 {path}"
        )


def private_file(path: pathlib.Path) -> pathlib.Path:
    """Create `path` empty if missing and make it (and an SQLite database's side files) 0600,
    before SQLite or anything else opens it: SQLite gives its side files the database's mode."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE)
        try:
            os.fchmod(fd, PRIVATE_FILE)
        finally:
            os.close(fd)
        for side in SQLITE_SIDE_FILES:
            other = path.with_name(path.name + side)
            if other.exists():
                os.chmod(other, PRIVATE_FILE)
    except OSError as exc:
        raise FailedPrecondition(
            f"{path}: cannot make it private ({exc.strerror or exc})"
        ) from None
    return path


class DataLock:
    """DIR/gateway.lock, held with an exclusive flock while one gateway writes DIR's state:
    a second gateway on the same directory (another port, the same port, another process or
    the same one) is refused, in one line naming the holder, instead of forking the audit log.
    The kernel drops the lock when the holder exits, however it exits: no stale lock."""

    def __init__(self, path: pathlib.Path, listen: str) -> None:
        self.path = path
        try:
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
        except OSError as exc:
            raise FailedPrecondition(f"{path}: cannot be opened ({exc.strerror or exc})") from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = self._holder()
            os.close(self._fd)
            raise FailedPrecondition(
                f"{path.parent} is in use by another gateway ({holder}); one gateway per data "
                "directory: stop that one, or give this one its own --data"
            ) from None
        os.fchmod(self._fd, PRIVATE_FILE)
        self.serving_at(listen)

    def _holder(self) -> str:
        try:
            with open(self.path, encoding="utf-8") as handle:
                held = json.load(handle)
            return f"pid {held['pid']} on {held['host']}, serving {held['address']}"
        except (OSError, ValueError, KeyError, TypeError):
            return "it does not say who"

    def serving_at(self, address: str) -> None:
        """Name the holder: this process, this host, the address it serves."""
        text = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "address": address})
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, (text + "\n").encode(), 0)

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = -1


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
    def lock(self) -> pathlib.Path:
        return self.root / "gateway.lock"

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
        """The directory, made private if new; FailedPrecondition if others can read it."""
        private_dir(self.root)
        require_private(self.root)
        self.keys.mkdir(mode=PRIVATE_DIR, exist_ok=True)
        os.chmod(self.keys, PRIVATE_DIR)
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


def open_private(path: pathlib.Path) -> BinaryIO:
    """`path` opened for writing from its start (created or truncated), mode 0600."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)
    except OSError:
        os.close(fd)
        raise
    return os.fdopen(fd, "wb")


def write_private(path: pathlib.Path, data: bytes) -> None:
    """Write a private key file: mode 0600 from its first byte, fsynced, replaced atomically."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def write_durably(path: pathlib.Path, text: str, point: str = "checkpoint") -> None:
    """Replace `path` atomically with `text`, fsyncing the file and its directory."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)
        data = text.encode()
        faults.hit(f"{point}.write", torn=lambda: os.write(fd, data[: len(data) // 2]))
        os.write(fd, data)
        faults.hit(f"{point}.fsync")
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
