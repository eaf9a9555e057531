"""`wsg init --keys`: the two secret keys made ahead, so that several replicas can share them."""

from __future__ import annotations

import pathlib
import stat

from click.testing import CliRunner

from gateway.audit.notes import NoteSigner
from gateway.cli import main
from gateway.datadir import DataDir, load_or_create_secret

ORIGIN = "wsg.example/audit"


def init(data: pathlib.Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["init", "--data", str(data), *args])
    return result.exit_code, result.stderr


def test_keys_are_made_private_and_never_replaced(tmp_path: pathlib.Path) -> None:
    data = DataDir(tmp_path / "secrets")
    assert init(data.root, "--principal", "alice:officer", "--keys", "--origin", ORIGIN)[0] == 0
    for path in (data.pseudonym_secret, data.audit_signing_key):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(data.keys.stat().st_mode) == 0o700
    secret, signer = data.pseudonym_secret.read_bytes(), data.audit_signing_key.read_bytes()
    # What the gateway does on start: load them, for the same origin.
    assert load_or_create_secret(data.pseudonym_secret) == secret
    assert NoteSigner.load_or_create(data.audit_signing_key, ORIGIN).name == ORIGIN

    assert init(data.root, "--keys", "--origin", ORIGIN)[0] == 0
    assert (data.pseudonym_secret.read_bytes(), data.audit_signing_key.read_bytes()) == (
        secret,
        signer,
    )
    code, err = init(data.root, "--keys", "--origin", "another/origin")
    assert code == 2 and "the key name is fixed" in err and err.count("\n") == 1
    assert data.audit_signing_key.read_bytes() == signer


def test_without_keys_flag_no_keys(tmp_path: pathlib.Path) -> None:
    data = DataDir(tmp_path / "d")
    assert init(data.root, "--principal", "alice:officer")[0] == 0
    assert not data.pseudonym_secret.exists() and not data.audit_signing_key.exists()


def test_a_keys_directory_others_could_read_is_made_private(tmp_path: pathlib.Path) -> None:
    data = DataDir(tmp_path / "secrets")
    data.root.mkdir(mode=0o700)
    data.keys.mkdir(mode=0o755)
    data.keys.chmod(0o755)
    assert init(data.root, "--keys", "--origin", ORIGIN)[0] == 0
    assert stat.S_IMODE(data.keys.stat().st_mode) == 0o700


def test_a_data_directory_others_could_read_is_refused(tmp_path: pathlib.Path) -> None:
    """The directory holding the keys is not tightened behind the owner's back: refused."""
    data = DataDir(tmp_path / "secrets")
    data.root.mkdir(mode=0o700)
    data.root.chmod(0o755)
    assert init(data.root, "--keys", "--origin", ORIGIN)[0] == 2
    assert not data.pseudonym_secret.exists()
