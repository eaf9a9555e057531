"""Matrix user ids as warrant targets: `@user:server` or `matrix:@user:server`.

Parsing only; which account a Matrix id names is the store's business (the Synapse store finds
it, the reference store finds none).
"""

from __future__ import annotations

import datetime as dt
import pathlib

import pytest

from gateway.errors import InvalidArgument
from gateway.model import Category, Window
from gateway.stores.reference.sqlite import ReferenceStore
from gateway.warrants.book import WarrantSpec, validate_spec

NOW = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def spec(*targets: str) -> WarrantSpec:
    return WarrantSpec(
        case_number="2026-M-1",
        authority="Court",
        legal_basis="test",
        targets=targets,
        window=Window(
            dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
        ),
        categories=(Category.MESSAGE_CONTENT,),
        expires_at=NOW + dt.timedelta(days=1),
    )


@pytest.mark.parametrize(
    "given, stored",
    [
        ("@alice:localhost", "matrix:@alice:localhost"),
        ("matrix:@alice:localhost", "matrix:@alice:localhost"),
        ("@bob.smith=1/x:matrix.example.org:8448", "matrix:@bob.smith=1/x:matrix.example.org:8448"),
        ("@carol:[::1]:8448", "matrix:@carol:[::1]:8448"),
        ("account:@alice:localhost", "account:@alice:localhost"),  # an account id that is one
    ],
)
def test_matrix_user_ids_are_targets(given: str, stored: str) -> None:
    assert validate_spec(spec(given), NOW).targets == (stored,)


@pytest.mark.parametrize(
    "bad",
    [
        "@alice",  # no server
        "@:localhost",  # no localpart
        "matrix:alice:localhost",  # no @
        "matrix:@al ice:localhost",  # a space
        "@alice:local host",
        "@alice:",
        "matrix:@" + "a" * 250 + ":localhost",  # longer than 255
        "matrix:@аlice:localhost",  # Cyrillic а: not in the Matrix grammar
    ],
)
def test_malformed_matrix_ids_are_refused_naming_the_target(bad: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        validate_spec(spec("account:u1", bad), NOW)
    assert "spec.targets[1]" in err.value.message


def test_reference_store_finds_no_matrix_account(tmp_path: pathlib.Path) -> None:
    store = ReferenceStore.open(tmp_path / "store.db")
    try:
        assert store.resolve("matrix", "@alice:localhost") == []
        with pytest.raises(InvalidArgument):
            store.resolve("skype", "alice")
    finally:
        store.close()
