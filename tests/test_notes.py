"""Signed notes and checkpoints: Go sumdb/note known answers, C2SP rejections, key files."""

from __future__ import annotations

import base64
import os
import pathlib
import stat

import pytest

from gateway.audit.notes import (
    Checkpoint,
    NoteError,
    NoteSigner,
    NoteVerifier,
    OpenedNote,
    open_checkpoint,
    open_note,
    sign_checkpoint,
)

# From golang.org/x/mod/sumdb/note (package doc in note.go, and note_test.go TestSign/TestOpen).
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "\u2014 PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "\u2014 EnochRoot "
    "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"
)
GO_NOTE = GO_TEXT + "\n" + PETER_SIG


def abcd(sig_line: str) -> str:
    """note_test.go's corruption: "ABCD" spliced in at byte 60 (name and key ID unchanged)."""
    raw = sig_line.encode("utf-8")
    return (raw[:60] + b"ABCD" + raw[60:]).decode("utf-8")


ORIGIN = "wsg.example/audit"
ROOT = bytes(range(32))


@pytest.fixture(scope="module")
def peter() -> NoteVerifier:
    return NoteVerifier.from_key(PETER_VKEY)


@pytest.fixture(scope="module")
def enoch() -> NoteVerifier:
    return NoteVerifier.from_key(ENOCH_VKEY)


@pytest.fixture(scope="module")
def signer() -> NoteSigner:
    return NoteSigner.generate(ORIGIN)


# --- round trip -----------------------------------------------------------------------------


def test_round_trip_note_and_checkpoint(signer: NoteSigner) -> None:
    verifier = NoteVerifier.from_key(signer.verifier_key)
    assert (verifier.name, verifier.key_id) == (ORIGIN, signer.key_id)
    opened = open_note(signer.sign("hello\nworld\n"), [verifier])
    assert opened == OpenedNote("hello\nworld\n", (ORIGIN,), ())

    cp = Checkpoint(ORIGIN, 12345, ROOT, ("ext one", "ext-two"))
    note = sign_checkpoint(signer, cp)
    assert note.startswith(cp.body() + "\n\u2014 " + ORIGIN + " ")
    assert open_checkpoint(note, [verifier], ORIGIN) == cp
    assert open_checkpoint(note.encode(), [verifier]) == cp
    with pytest.raises(NoteError, match="origin"):
        open_checkpoint(note, [verifier], "other.example/log")


def test_signer_key_round_trip_and_repr_hides_secret(signer: NoteSigner) -> None:
    again = NoteSigner.from_key(signer.signer_key)
    assert again.verifier_key == signer.verifier_key
    assert again.sign("x\n") == signer.sign("x\n")
    secret = signer.signer_key.split("+", 4)[4]  # base64 may itself contain "+"
    assert secret not in repr(signer)


def test_sign_refuses_bad_bodies(signer: NoteSigner) -> None:
    for body in ["no newline", "tab\there\n", "cr\r\n", "nul\x00\n"]:
        with pytest.raises(NoteError):
            signer.sign(body)


# --- Go interop (known answers) ---------------------------------------------------------------


def test_go_signer_key_gives_go_verifier_key() -> None:
    s = NoteSigner.from_key(PETER_SKEY)
    assert s.verifier_key == PETER_VKEY
    assert s.signer_key == PETER_SKEY
    assert (s.name, s.key_id) == ("PeterNeumann", 0xC74F20A3)


def test_go_note_opens(peter: NoteVerifier) -> None:
    assert (peter.name, peter.key_id) == ("PeterNeumann", 0xC74F20A3)
    opened = open_note(GO_NOTE, [peter])
    assert opened.body == GO_TEXT
    assert opened.verified == ("PeterNeumann",)
    assert open_note(GO_NOTE.encode("utf-8"), [peter]) == opened


def test_our_signature_equals_gos() -> None:
    assert NoteSigner.from_key(PETER_SKEY).sign(GO_TEXT) == GO_NOTE


def test_go_doubly_signed_note(peter: NoteVerifier, enoch: NoteVerifier) -> None:
    msg = GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG
    assert open_note(msg, [peter, enoch]).verified == ("PeterNeumann", "EnochRoot")
    # An extra signature from a key we do not know never makes a valid note fail.
    opened = open_note(msg, [peter])
    assert (opened.verified, opened.unverified) == (("PeterNeumann",), ("EnochRoot",))


def test_go_key_manglings_rejected() -> None:
    # From note_test.go TestNewVerifier: wrong length / unknown algorithm, each with a fixed-up ID.
    with pytest.raises(NoteError, match="32"):
        NoteVerifier.from_key(
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
        )
    with pytest.raises(NoteError, match="algorithm"):
        NoteVerifier.from_key("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
    with pytest.raises(NoteError, match="does not match"):
        NoteVerifier.from_key(PETER_VKEY.replace("c74f20a3", "c74f20a4"))
    for bad in [
        "",
        "PeterNeumann",
        "PeterNeumann+c74f20a3",
        "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T!",
    ]:
        with pytest.raises(NoteError):
            NoteVerifier.from_key(bad)
    # Every single-byte change to either Go key string is refused (as in note_test.go).
    for key, parse in [(PETER_VKEY, NoteVerifier.from_key), (PETER_SKEY, NoteSigner.from_key)]:
        for i in range(len(key)):
            mangled = key[:i] + chr(ord(key[i]) + 1) + key[i + 1 :]
            with pytest.raises(NoteError):
                parse(mangled)


# --- rejections --------------------------------------------------------------------------------


def test_same_name_other_key_is_unknown(peter: NoteVerifier) -> None:
    impostor = NoteVerifier.from_key(NoteSigner.generate("PeterNeumann").verifier_key)
    assert impostor.key_id != peter.key_id
    with pytest.raises(NoteError, match="unverified note"):
        open_note(GO_NOTE, [impostor])


def test_known_key_bad_signature_rejected(peter: NoteVerifier, enoch: NoteVerifier) -> None:
    # note_test.go: "ABCD" spliced into the base64 keeps name and key ID but breaks the signature.
    bad = GO_TEXT + "\n" + abcd(PETER_SIG)
    with pytest.raises(NoteError, match=r"invalid signature for key PeterNeumann\+c74f20a3"):
        open_note(bad, [peter])
    # ...even when another known key's signature verifies.
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(GO_TEXT + "\n" + ENOCH_SIG + abcd(PETER_SIG), [peter, enoch])


def test_body_changed_by_one_byte_rejected(peter: NoteVerifier) -> None:
    tampered = GO_NOTE.replace("cryptography", "cryptographY", 1)
    with pytest.raises(NoteError, match="invalid signature for key PeterNeumann"):
        open_note(tampered, [peter])


def test_short_signature_from_known_key_rejected(peter: NoteVerifier) -> None:
    blob = (0xC74F20A3).to_bytes(4, "big") + b"\x00" * 10
    line = "\u2014 PeterNeumann " + base64.b64encode(blob).decode() + "\n"
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(GO_TEXT + "\n" + line, [peter])


@pytest.mark.parametrize(
    "msg",
    [
        GO_TEXT,  # no signatures, no blank line
        GO_TEXT + "\n",  # blank line but no signatures
        GO_TEXT + PETER_SIG,  # signature without the blank line
        GO_TEXT + "\n" + PETER_SIG[:-1],  # last line without newline
        "\x01" + GO_NOTE,  # control character
        GO_NOTE.replace("\n", "\r\n"),  # CR is a control character
        GO_NOTE.replace("\u2014 ", "- "),  # hyphen, not em dash
        GO_NOTE.replace("\u2014 ", "\u2014"),  # em dash without space
        GO_NOTE.replace("x08go/", "x08go!"),  # bad base64
        GO_NOTE.replace("JnAM=", "JnAM"),  # bad base64 padding
        GO_TEXT + "\n\u2014 PeterNeumann x08g\n",  # 3 bytes: too short for key ID + signature
        GO_TEXT + "\n\u2014 PeterNeumann x08goQ==\n",  # 4 bytes: key ID only
        GO_TEXT + "\n\u2014 PeterNeumann\n",  # no signature at all
        GO_TEXT + "\n\u2014 Bad Name " + PETER_SIG.split(" ")[2],  # name with a space
        GO_NOTE + "Unexpected line.\n",
    ],
)
def test_malformed_notes_rejected(peter: NoteVerifier, msg: str) -> None:
    with pytest.raises(NoteError, match="malformed note"):
        open_note(msg, [peter])


def test_invalid_utf8_rejected(peter: NoteVerifier) -> None:
    with pytest.raises(NoteError, match="UTF-8"):
        open_note(b"\xff" + GO_NOTE.encode(), [peter])


def test_only_unknown_signers_rejected(enoch: NoteVerifier) -> None:
    with pytest.raises(NoteError, match=r"unverified note.*PeterNeumann"):
        open_note(GO_NOTE, [enoch])
    with pytest.raises(NoteError, match="unverified note"):
        open_note(GO_NOTE, [])


def test_too_many_signatures(peter: NoteVerifier) -> None:
    assert open_note(GO_TEXT + "\n" + PETER_SIG * 100, [peter]).verified == ("PeterNeumann",)
    for known in ([peter], []):
        with pytest.raises(NoteError, match="more than 100"):
            open_note(GO_TEXT + "\n" + PETER_SIG * 101, known)


def test_duplicate_signatures_handled_as_go(peter: NoteVerifier, enoch: NoteVerifier) -> None:
    enoch_abcd = abcd(ENOCH_SIG)
    # note_test.go: repeated known signatures count once; identical unknown lines are merged.
    opened = open_note(GO_TEXT + "\n" + PETER_SIG * 2 + ENOCH_SIG * 2 + enoch_abcd, [peter])
    assert opened.verified == ("PeterNeumann",)
    assert opened.unverified == ("EnochRoot", "EnochRoot")
    # Go checks only the first signature by a known key; later ones by that key are skipped.
    peter_abcd = abcd(PETER_SIG)
    assert open_note(GO_TEXT + "\n" + PETER_SIG + peter_abcd, [peter]).verified == ("PeterNeumann",)
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(GO_TEXT + "\n" + peter_abcd + PETER_SIG, [peter])
    # The same key given twice is ambiguous only if a signature needs it (Go's VerifierList).
    with pytest.raises(NoteError, match="ambiguous key EnochRoot"):
        open_note(GO_TEXT + "\n" + ENOCH_SIG, [enoch, peter, enoch])
    assert open_note(GO_NOTE, [enoch, peter, enoch]).verified == ("PeterNeumann",)


def test_body_may_contain_blank_lines(signer: NoteSigner) -> None:
    verifier = NoteVerifier.from_key(signer.verifier_key)
    body = "para one\n\npara two\n\n"
    assert open_note(signer.sign(body), [verifier]).body == body


# --- checkpoint bodies -------------------------------------------------------------------------

ROOT_B64 = base64.b64encode(ROOT).decode()
URLSAFE_ROOT = base64.urlsafe_b64encode(bytes([0xFF] * 32)).decode()


def test_checkpoint_body_format() -> None:
    assert Checkpoint(ORIGIN, 0, ROOT).body() == f"{ORIGIN}\n0\n{ROOT_B64}\n"
    # The C2SP tlog-checkpoint example body.
    example = (
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    )
    cp = Checkpoint.parse(example)
    assert (cp.origin, cp.size, len(cp.root), cp.extensions) == (
        "example.com/behind-the-sofa",
        20852163,
        32,
        (),
    )
    assert cp.body() == example


def test_checkpoint_parse_with_extensions() -> None:
    body = f"{ORIGIN}\n7\n{ROOT_B64}\nfirst ext\nsecond\n"
    cp = Checkpoint.parse(body)
    assert cp == Checkpoint(ORIGIN, 7, ROOT, ("first ext", "second"))
    assert cp.body() == body


@pytest.mark.parametrize(
    "body",
    [
        "",
        f"{ORIGIN}\n7\n",  # missing root line
        f"{ORIGIN}\n7\n{ROOT_B64}",  # no final newline
        f"\n7\n{ROOT_B64}\n",  # empty origin
        f"{ORIGIN}\n\n{ROOT_B64}\n",  # empty size
        f"{ORIGIN}\n07\n{ROOT_B64}\n",  # leading zero
        f"{ORIGIN}\n00\n{ROOT_B64}\n",
        f"{ORIGIN}\n-1\n{ROOT_B64}\n",
        f"{ORIGIN}\n+7\n{ROOT_B64}\n",
        f"{ORIGIN}\n 7\n{ROOT_B64}\n",
        f"{ORIGIN}\n0x7\n{ROOT_B64}\n",
        f"{ORIGIN}\n\u0667\n{ROOT_B64}\n",  # Arabic-Indic digit seven
        f"{ORIGIN}\n{2**64}\n{ROOT_B64}\n",  # beyond uint64
        f"{ORIGIN}\n7\n{base64.b64encode(ROOT[:31]).decode()}\n",  # 31-byte root
        f"{ORIGIN}\n7\n{base64.b64encode(ROOT + b'x').decode()}\n",  # 33-byte root
        f"{ORIGIN}\n7\n{ROOT_B64.rstrip('=')}\n",  # unpadded base64
        f"{ORIGIN}\n7\n{URLSAFE_ROOT}\n",  # URL-safe alphabet
        f"{ORIGIN}\n7\n\n",  # empty root
        f"{ORIGIN}\n7\n{ROOT_B64}\n\n",  # empty extension line
        f"{ORIGIN}\n7\n{ROOT_B64}\next\n\nmore\n",
    ],
)
def test_checkpoint_parse_rejects(body: str) -> None:
    with pytest.raises(NoteError, match="checkpoint"):
        Checkpoint.parse(body)


def test_checkpoint_constructor_rejects() -> None:
    for args in [
        ("", 1, ROOT),
        ("a\nb", 1, ROOT),
        (ORIGIN, -1, ROOT),
        (ORIGIN, 2**64, ROOT),
        (ORIGIN, 1, ROOT[:31]),
        (ORIGIN, 1, ROOT, ("",)),
        (ORIGIN, 1, ROOT, ("a\nb",)),
    ]:
        with pytest.raises(NoteError):
            Checkpoint(*args)  # type: ignore[arg-type]


def test_open_checkpoint_rejects_signed_non_checkpoint(signer: NoteSigner) -> None:
    verifier = NoteVerifier.from_key(signer.verifier_key)
    with pytest.raises(NoteError, match="checkpoint"):
        open_checkpoint(signer.sign(f"{ORIGIN}\n7\n"), [verifier])


# --- key files ---------------------------------------------------------------------------------


def test_key_file_created_private(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "keys" / "nested" / "audit.key"
    created = NoteSigner.load_or_create(path, ORIGIN)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.read_text() == created.signer_key + "\n"
    assert [p.name for p in path.parent.iterdir()] == ["audit.key"]  # no temp file left
    again = NoteSigner.load_or_create(path, ORIGIN)
    assert again.verifier_key == created.verifier_key


def test_key_file_world_readable_refused(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "audit.key"
    NoteSigner.load_or_create(path, ORIGIN)
    os.chmod(path, 0o644)
    with pytest.raises(PermissionError, match="chmod 600"):
        NoteSigner.load_or_create(path, ORIGIN)
    os.chmod(path, 0o640)
    with pytest.raises(PermissionError, match="chmod 600"):
        NoteSigner.load_or_create(path, ORIGIN)


def test_key_file_name_mismatch_refused(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "audit.key"
    NoteSigner.load_or_create(path, ORIGIN)
    with pytest.raises(NoteError, match=r"not 'other\.example/log'"):
        NoteSigner.load_or_create(path, "other.example/log")


def test_key_file_go_key_loads(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "go.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, (PETER_SKEY + "\n").encode())
    os.close(fd)
    assert NoteSigner.load_or_create(path, "PeterNeumann").verifier_key == PETER_VKEY


def test_key_file_garbage_refused(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "bad.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"not a key\n")
    os.close(fd)
    with pytest.raises(NoteError, match=r"bad.key"):
        NoteSigner.load_or_create(path, ORIGIN)


def test_concurrent_first_starts_agree_on_one_key(tmp_path: pathlib.Path) -> None:
    """Two processes starting at once must not each sign with a key of their own."""
    from concurrent.futures import ThreadPoolExecutor

    path = tmp_path / "keys" / "audit-signing.key"
    with ThreadPoolExecutor(8) as pool:
        keys = list(
            pool.map(lambda _: NoteSigner.load_or_create(path, ORIGIN).verifier_key, range(32))
        )
    assert set(keys) == {
        path.read_text().strip() and NoteSigner.load_or_create(path, ORIGIN).verifier_key
    }
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary files left
