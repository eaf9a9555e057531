"""Per-warrant pseudonyms for third parties: stable inside one warrant, unlinkable across them.

The per-warrant key is HKDF-SHA256(gateway secret, info = warrant id); a pseudonym is
HMAC-SHA256(that key, account id), shortened. Without the gateway secret a pseudonym cannot be
reversed by trying account ids, and the same person gets different pseudonyms under two warrants.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = "pseud:"
# Identifiers that name no account of the store get a pseudonym of their kind, e.g.
# `pseud-phone:...` for a phone number no directory knows, `pseud-room:...` for a room id.
KIND_PREFIX = "pseud-{}:"


def warrant_key(secret: bytes, warrant_id: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"wsg-pseudonym-v1",
        info=warrant_id.encode(),
    ).derive(secret)


class Pseudonymizer:
    """Maps account ids to pseudonyms for one warrant and counts the distinct parties seen."""

    def __init__(self, secret: bytes, warrant_id: str) -> None:
        self._key = warrant_key(secret, warrant_id)
        self._cache: dict[str, str] = {}
        self._kinds: dict[tuple[str, str], str] = {}
        self._rooms: dict[str, str] = {}  # of_kind("room", ...), without a key tuple per call

    def __call__(self, account_id: str) -> str:
        found = self._cache.get(account_id)
        if found is None:
            digest = hmac.new(self._key, account_id.encode(), hashlib.sha256).digest()
            found = PREFIX + base64.b32encode(digest[:15]).decode().lower()
            self._cache[account_id] = found
        return found

    def of_kind(self, kind: str, value: str) -> str:
        """The pseudonym of an identifier of `kind` that is no account (a phone number nobody
        in the store has, a room id): keyed like an account's, apart from them by its kind."""
        key = (kind, value)
        found = self._kinds.get(key)
        if found is None:
            digest = hmac.new(self._key, f"{kind}\0{value}".encode(), hashlib.sha256).digest()
            found = KIND_PREFIX.format(kind) + base64.b32encode(digest[:15]).decode().lower()
            self._kinds[key] = found
        return found

    def of_room(self, room: str) -> str:
        """of_kind("room", room): every released message names its room."""
        found = self._rooms.get(room)
        if found is None:
            found = self._rooms[room] = self.of_kind("room", room)
        return found

    @property
    def parties(self) -> int:
        """Distinct third parties pseudonymized so far."""
        return len(self._cache)
