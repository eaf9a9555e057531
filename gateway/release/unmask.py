"""The account behind a pseudonym a release could have made: the warrant's pseudonyms recomputed
over everyone its release could name (the store's directory for its scope, or the frozen one of
the preservation it released from), never a search over all accounts of the store."""

from __future__ import annotations

from gateway.model import Warrant
from gateway.release.pipeline import scope_of
from gateway.release.pseudonyms import Pseudonymizer
from gateway.stores.base import Store


def account_behind(secret: bytes, original: Warrant, store: Store, pseudonym: str) -> str | None:
    """The one account of `original`'s directory whose pseudonym under it is `pseudonym`."""
    scope = scope_of(original)
    names = Pseudonymizer(secret, original.id)
    for person in store.directory(scope):
        if person.account not in scope.targets and names(person.account) == pseudonym:
            return person.account
    return None
