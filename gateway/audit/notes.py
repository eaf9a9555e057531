"""C2SP signed notes (Ed25519) and tlog-checkpoint bodies, byte-compatible with Go's tooling.

Why: auditors must be able to check our audit-log checkpoints with the standard tools of the
transparency-log ecosystem (golang.org/x/mod/sumdb/note, transparency-dev witnesses and
monitors) rather than with our own code. So this module follows the specs exactly:

- https://c2sp.org/signed-note: a note is UTF-8 text ending in "\\n", a blank line, then one or
  more lines ``— <key name> <base64(4-byte key ID || signature)>``. The Ed25519 key ID is the
  first 4 bytes (big-endian) of SHA-256(name || 0x0A || 0x01 || 32-byte public key).
- https://c2sp.org/tlog-checkpoint: the signed text is ``<origin>\\n<size>\\n<base64 root>\\n``
  followed by optional non-empty extension lines.

Key strings use Go's encodings: verifier ``<name>+<8 hex key ID>+<base64(0x01 || pubkey)>`` and
signer ``PRIVATE+KEY+<name>+<8 hex key ID>+<base64(0x01 || seed)>``. Opening mirrors Go's
``note.Open``: signatures from unknown keys are kept but ignored, a known key's signature must
verify, repeated signatures by one known key are skipped after the first, more than 100
signatures are refused, and a note no known key verified is refused.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import hashlib
import os
import pathlib
import re
import secrets
import stat
from collections.abc import Sequence

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "Checkpoint",
    "NoteError",
    "NoteSigner",
    "NoteVerifier",
    "OpenedNote",
    "open_checkpoint",
    "open_note",
    "sign_checkpoint",
]

ALG_ED25519 = 0x01
MAX_SIGNATURES = 100  # Go's note.Open limit
SIG_PREFIX = "\u2014 "  # em dash, space
_MAX_SIZE = 2**64 - 1  # tree sizes are uint64 in Go's parsers

# Go's unicode.IsSpace (Unicode White_Space); Python's str.isspace differs (it adds U+001C-U+001F).
_GO_SPACES = frozenset(
    "\t\n\v\f\r \u0085\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_HEX8 = re.compile(r"[0-9a-fA-F]{8}")  # Go: len 8 and strconv.ParseUint(s, 16, 32)
_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


class NoteError(ValueError):
    """A malformed, unverifiable or wrongly signed note, key or checkpoint."""


# ---------------------------------------------------------------------------------------------
# helpers


def _valid_name(name: str) -> bool:
    """Go's isValidName: non-empty UTF-8 with no Unicode spaces and no '+'."""
    if not name or "+" in name or any(c in _GO_SPACES for c in name):
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _b64decode(text: str) -> bytes:
    """Decode standard padded base64, rejecting anything else (raises NoteError)."""
    if not _BASE64.fullmatch(text):
        raise NoteError("not standard base64")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:  # pragma: no cover - the regex already checked
        raise NoteError(f"not standard base64: {exc}") from exc


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _key_id(name: str, key: bytes) -> int:
    """First 4 bytes (big-endian) of SHA-256(name || "\\n" || key); key includes the alg byte."""
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + key).digest()
    return int.from_bytes(digest[:4], "big")


def _check_text(text: str, what: str) -> None:
    """Refuse text that is not valid UTF-8 or holds ASCII control characters other than \\n."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise NoteError(f"{what} is not valid UTF-8") from exc
    for ch in text:
        if ch < " " and ch != "\n":
            raise NoteError(f"{what} contains control character {ch!r}")


def _public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes_raw()


# ---------------------------------------------------------------------------------------------
# keys


def _split_key(text: str, kind: str, material: str) -> tuple[str, str, bytes]:
    """``<name>+<8 hex id>+<base64(0x01 || key)>`` -> (name, id, key), checked as Go's note does."""
    name, _, rest = text.partition("+")
    id_hex, _, key64 = rest.partition("+")
    if not _valid_name(name):
        raise NoteError(f"malformed {kind} key: invalid key name {name!r}")
    if not _HEX8.fullmatch(id_hex):
        raise NoteError(f"malformed {kind} key: key ID {id_hex!r} is not 8 hex digits")
    try:
        key = _b64decode(key64)
    except NoteError as exc:
        raise NoteError(f"malformed {kind} key: key data is not standard base64") from exc
    if not key:
        raise NoteError(f"malformed {kind} key: empty key data")
    if key[0] != ALG_ED25519:
        raise NoteError(f"unknown {kind} algorithm {key[0]:#04x} (only 0x01 Ed25519)")
    if len(key) != 33:
        raise NoteError(f"malformed {kind} key: Ed25519 {material} is {len(key) - 1} bytes, not 32")
    return name, id_hex, key


class NoteVerifier:
    """An Ed25519 note verifier for one (name, key ID), built from a Go-format verifier key."""

    __slots__ = ("_key_id", "_name", "_public")

    def __init__(self, name: str, public_key: bytes) -> None:
        """Build from a key name and a raw 32-byte Ed25519 public key."""
        if not _valid_name(name):
            raise NoteError(f"invalid key name {name!r}: must be non-empty, no spaces, no '+'")
        if len(public_key) != 32:
            raise NoteError(f"Ed25519 public key must be 32 bytes, got {len(public_key)}")
        try:
            self._public = Ed25519PublicKey.from_public_bytes(public_key)
        except ValueError as exc:
            raise NoteError(f"invalid Ed25519 public key: {exc}") from exc
        self._name = name
        self._key_id = _key_id(name, bytes([ALG_ED25519]) + public_key)

    @classmethod
    def from_key(cls, verifier_key: str) -> NoteVerifier:
        """Parse ``<name>+<8 hex id>+<base64(0x01 || pubkey)>`` (as Go's note.NewVerifier)."""
        name, id_hex, key = _split_key(verifier_key, "verifier", "key")
        verifier = cls(name, key[1:])
        if verifier.key_id != int(id_hex, 16):
            raise NoteError(
                f"invalid verifier key: ID {id_hex} does not match name and key "
                f"(expected {verifier.key_id:08x})"
            )
        return verifier

    @property
    def name(self) -> str:
        """The key name."""
        return self._name

    @property
    def key_id(self) -> int:
        """The 32-bit key ID."""
        return self._key_id

    @property
    def verifier_key(self) -> str:
        """The Go-format verifier key string."""
        raw = bytes([ALG_ED25519]) + _public_bytes(self._public)
        return f"{self._name}+{self._key_id:08x}+{_b64encode(raw)}"

    def verify(self, body: bytes, signature: bytes) -> bool:
        """Whether ``signature`` (64 raw bytes, no key ID) is a valid Ed25519 signature of body."""
        if len(signature) != 64:
            return False
        try:
            self._public.verify(signature, body)
        except InvalidSignature:
            return False
        return True

    def __repr__(self) -> str:
        return f"NoteVerifier({self.verifier_key!r})"


class NoteSigner:
    """An Ed25519 note signer; its key string is Go's note.NewSigner format."""

    __slots__ = ("_name", "_private", "_verifier")

    def __init__(self, name: str, seed: bytes) -> None:
        """Build from a key name and a raw 32-byte Ed25519 seed (private key)."""
        if not _valid_name(name):
            raise NoteError(f"invalid key name {name!r}: must be non-empty, no spaces, no '+'")
        if len(seed) != 32:
            raise NoteError(f"Ed25519 seed must be 32 bytes, got {len(seed)}")
        self._name = name
        self._private = Ed25519PrivateKey.from_private_bytes(seed)
        self._verifier = NoteVerifier(name, _public_bytes(self._private.public_key()))

    @classmethod
    def generate(cls, name: str) -> NoteSigner:
        """A new random key for ``name``."""
        if not _valid_name(name):
            raise NoteError(f"invalid key name {name!r}: must be non-empty, no spaces, no '+'")
        return cls(name, Ed25519PrivateKey.generate().private_bytes_raw())

    @classmethod
    def from_key(cls, signer_key: str) -> NoteSigner:
        """Parse ``PRIVATE+KEY+<name>+<8 hex id>+<base64(0x01 || seed)>`` (Go's NewSigner)."""
        priv1, _, rest = signer_key.partition("+")
        priv2, _, rest = rest.partition("+")
        if priv1 != "PRIVATE" or priv2 != "KEY":
            raise NoteError("malformed signer key: must start with PRIVATE+KEY+")
        name, id_hex, key = _split_key(rest, "signer", "seed")
        signer = cls(name, key[1:])
        if signer.key_id != int(id_hex, 16):
            raise NoteError("invalid signer key: key ID does not match name and derived public key")
        return signer

    @classmethod
    def load_or_create(cls, path: pathlib.Path, name: str) -> NoteSigner:
        """Load the signer key at ``path``, or create it (mode 0600, atomically) for ``name``.

        Refuses a file readable or writable by group/other (PermissionError) and a file whose key
        name is not ``name`` (NoteError).
        """
        path = pathlib.Path(path)
        try:
            st = path.stat()
        except FileNotFoundError:
            return cls._create(path, name)
        if st.st_mode & 0o077:
            raise PermissionError(
                f"signing key {path} is accessible by group/other "
                f"(mode {stat.S_IMODE(st.st_mode):04o}); run: chmod 600 {path}"
            )
        try:
            signer = cls.from_key(path.read_text(encoding="utf-8").strip())
        except UnicodeDecodeError as exc:
            raise NoteError(f"signing key {path} is not a text signer key") from exc
        except NoteError as exc:
            raise NoteError(f"signing key {path}: {exc}") from exc
        if signer.name != name:
            raise NoteError(
                f"signing key {path} is for {signer.name!r}, not {name!r}; "
                "the key name is fixed once the key exists"
            )
        return signer

    @classmethod
    def _create(cls, path: pathlib.Path, name: str) -> NoteSigner:
        signer = cls.generate(name)
        parent = path.parent
        if not parent.exists():
            parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = parent / f".{path.name}.{secrets.token_hex(8)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            try:
                os.write(fd, (signer.signer_key + "\n").encode("ascii"))
                os.fsync(fd)
            finally:
                os.close(fd)
            os.link(tmp, path)  # unlike a rename, never replaces a key another process just made
        except FileExistsError:
            return cls.load_or_create(path, name)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        with contextlib.suppress(OSError):  # make the rename durable where supported
            dfd = os.open(parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        return signer

    @property
    def name(self) -> str:
        """The key name."""
        return self._name

    @property
    def key_id(self) -> int:
        """The 32-bit key ID."""
        return self._verifier.key_id

    @property
    def signer_key(self) -> str:
        """The secret Go-format signer key string."""
        raw = bytes([ALG_ED25519]) + self._private.private_bytes_raw()
        return f"PRIVATE+KEY+{self._name}+{self.key_id:08x}+{_b64encode(raw)}"

    @property
    def verifier_key(self) -> str:
        """The public Go-format verifier key string."""
        return self._verifier.verifier_key

    def sign(self, body: str) -> str:
        """The signed note: ``body``, a blank line, and this key's signature line."""
        _check_text(body, "note text")
        if not body.endswith("\n"):
            raise NoteError("note text must end with a newline")
        signature = self._private.sign(body.encode("utf-8"))
        blob = self.key_id.to_bytes(4, "big") + signature
        return f"{body}\n{SIG_PREFIX}{self._name} {_b64encode(blob)}\n"

    def __repr__(self) -> str:  # never show the private key
        return f"NoteSigner(name={self._name!r}, key_id={self.key_id:08x})"


# ---------------------------------------------------------------------------------------------
# notes


@dataclasses.dataclass(frozen=True)
class OpenedNote:
    """A note whose signatures were checked: its text and who signed it."""

    body: str
    verified: tuple[str, ...]  # names of known keys whose signatures verified
    unverified: tuple[str, ...]  # names on signatures from unknown keys (ignored)


def open_note(text: str | bytes, verifiers: Sequence[NoteVerifier]) -> OpenedNote:
    """Parse a signed note and check its signatures against ``verifiers``, as Go's note.Open."""
    if isinstance(text, str):
        try:
            raw = text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise NoteError("malformed note: not valid UTF-8") from exc
        msg = text
    else:
        raw = bytes(text)
        try:
            msg = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise NoteError("malformed note: not valid UTF-8") from exc
    for ch in msg:
        if ch < " " and ch != "\n":
            raise NoteError(f"malformed note: contains control character {ch!r}")

    split = msg.rfind("\n\n")
    if split < 0:
        raise NoteError("malformed note: no blank line before the signatures")
    body, sigs = msg[: split + 1], msg[split + 2 :]
    if not sigs or not sigs.endswith("\n"):
        raise NoteError("malformed note: signature block is empty or does not end in a newline")
    body_bytes = body.encode("utf-8")

    known: dict[tuple[str, int], list[NoteVerifier]] = {}
    for v in verifiers:
        known.setdefault((v.name, v.key_id), []).append(v)

    verified: list[str] = []
    unverified: list[str] = []
    seen: set[tuple[str, int]] = set()
    seen_unverified: set[str] = set()
    for number, line in enumerate(sigs[:-1].split("\n"), start=1):
        if not line.startswith(SIG_PREFIX):
            raise NoteError(f"malformed note: signature line {number} does not start with '— '")
        name, _, b64 = line[len(SIG_PREFIX) :].partition(" ")
        if not _valid_name(name):
            raise NoteError(f"malformed note: signature line {number} has invalid key name")
        try:
            blob = _b64decode(b64)
        except NoteError as exc:
            raise NoteError(f"malformed note: signature line {number} is not base64") from exc
        if len(blob) < 5:
            raise NoteError(f"malformed note: signature line {number} is too short")
        if number > MAX_SIGNATURES:
            raise NoteError(f"malformed note: more than {MAX_SIGNATURES} signatures")
        key_id = int.from_bytes(blob[:4], "big")
        candidates = known.get((name, key_id))
        if candidates is None:  # unknown key: record, never fail on it
            if line not in seen_unverified:
                seen_unverified.add(line)
                unverified.append(name)
            continue
        if len(candidates) > 1:
            raise NoteError(f"ambiguous key {name}+{key_id:08x}: given more than once")
        if (name, key_id) in seen:  # Go: repeated signatures by one key are dropped unchecked
            continue
        seen.add((name, key_id))
        if not candidates[0].verify(body_bytes, blob[4:]):
            raise NoteError(f"invalid signature for key {name}+{key_id:08x}")
        verified.append(name)

    if not verified:
        signers = ", ".join(unverified) or "none"
        raise NoteError(f"unverified note: no signature from a known key (signed by: {signers})")
    return OpenedNote(body, tuple(verified), tuple(unverified))


# ---------------------------------------------------------------------------------------------
# checkpoints


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """A C2SP tlog-checkpoint body: origin, tree size, RFC 6962 root hash, extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.origin, str) or not self.origin:
            raise NoteError("checkpoint origin must be a non-empty string")
        if "\n" in self.origin:
            raise NoteError("checkpoint origin must be a single line")
        _check_text(self.origin, "checkpoint origin")
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise NoteError("checkpoint size must be an int")
        if not 0 <= self.size <= _MAX_SIZE:
            raise NoteError(f"checkpoint size {self.size} out of range 0..2^64-1")
        if not isinstance(self.root, bytes | bytearray) or len(self.root) != 32:
            raise NoteError("checkpoint root hash must be 32 bytes")
        object.__setattr__(self, "root", bytes(self.root))
        object.__setattr__(self, "extensions", tuple(self.extensions))
        for ext in self.extensions:
            if not isinstance(ext, str) or not ext or "\n" in ext:
                raise NoteError("checkpoint extension lines must be non-empty single lines")
            _check_text(ext, "checkpoint extension line")

    def body(self) -> str:
        """The note text: origin, size, base64 root and extension lines, each ending in \\n."""
        lines = [self.origin, str(self.size), _b64encode(self.root), *self.extensions]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def from_note(cls, note: str) -> Checkpoint:
        """The checkpoint a signed note carries, its signatures NOT checked: for binding checks
        whose caller verifies the signature elsewhere (open_checkpoint does both)."""
        body, sep, _ = note.rpartition("\n\n")
        if not sep:
            raise NoteError("malformed note: no blank line before the signatures")
        return cls.parse(body + "\n")

    @classmethod
    def parse(cls, body: str) -> Checkpoint:
        """Parse a checkpoint note text strictly (raises NoteError)."""
        if not body.endswith("\n"):
            raise NoteError("malformed checkpoint: text must end with a newline")
        lines = body[:-1].split("\n")
        if len(lines) < 3:
            raise NoteError("malformed checkpoint: needs origin, size and root hash lines")
        origin, size_text, root_text, *extensions = lines
        if not origin:
            raise NoteError("malformed checkpoint: empty origin line")
        if not _DECIMAL.fullmatch(size_text):
            raise NoteError(
                f"malformed checkpoint: tree size {size_text!r} is not a decimal without "
                "leading zeros"
            )
        size = int(size_text)
        if size > _MAX_SIZE:
            raise NoteError("malformed checkpoint: tree size exceeds 2^64-1")
        try:
            root = _b64decode(root_text)
        except NoteError as exc:
            raise NoteError("malformed checkpoint: root hash is not standard base64") from exc
        if len(root) != 32:
            raise NoteError(f"malformed checkpoint: root hash is {len(root)} bytes, not 32")
        if any(not ext for ext in extensions):
            raise NoteError("malformed checkpoint: empty extension line")
        return cls(origin, size, root, tuple(extensions))


def sign_checkpoint(signer: NoteSigner, checkpoint: Checkpoint) -> str:
    """The signed note for ``checkpoint``."""
    return signer.sign(checkpoint.body())


def open_checkpoint(
    text: str | bytes, verifiers: Sequence[NoteVerifier], origin: str | None = None
) -> Checkpoint:
    """Open a signed checkpoint note, parse its body, and check its origin if given."""
    checkpoint = Checkpoint.parse(open_note(text, verifiers).body)
    if origin is not None and checkpoint.origin != origin:
        raise NoteError(f"checkpoint origin {checkpoint.origin!r} is not the expected {origin!r}")
    return checkpoint
