"""Unmasking under new process: the identity behind a released pseudonym, disclosed only under a
new, separately approved request that names it (`pseudonym:<warrant id>:<pseudonym>` as a target).

The account is found by recomputing the original warrant's pseudonyms over the people its release
could name (the release package does that: gateway.release.unmask). Until the new request is
approved the account appears nowhere: the request's target accounts show the pseudonym target,
and so do its submission entry and every reply; the approval writes the account in, and its entry
says which pseudonym of which warrant it unmasked. A pseudonym of another warrant, a forged one,
or one for an identifier no account has resolves to nothing, and the refusal says so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from gateway.errors import InvalidArgument, NotFound
from gateway.model import PSEUDONYM_TARGET, Warrant, WarrantState

PREFIX = "pseudonym:"
ACCOUNT_PSEUDONYM = "pseud:"

# (the original warrant, a pseudonym) -> the account it stands for under that warrant, or None.
Recompute = Callable[[Warrant, str], str | None]
# What an approval unmasks: the request's real target accounts, and per pseudonym target its
# warrant, pseudonym and account (the approval entry's `unmasked`).
Unmasked = tuple[tuple[str, ...], list[dict[str, str]]]


def is_pseudonym(target: str) -> bool:
    return target.startswith(PREFIX)


def shown(targets: Sequence[str], accounts: Sequence[str]) -> tuple[str, ...]:
    """The target accounts as a request shows them before approval: a pseudonym target stays
    the pseudonym (its account is not disclosed until the request is approved)."""
    return tuple(t if is_pseudonym(t) else a for t, a in zip(targets, accounts, strict=True))


def parts(target: str) -> tuple[str, str]:
    """(original warrant id, pseudonym) of a validated pseudonym target."""
    found = PSEUDONYM_TARGET.fullmatch(target[len(PREFIX) :])
    if found is None:  # validation let it through: never, but fail closed
        raise InvalidArgument(f"{target[:80]!r} is not pseudonym:WARRANT:PSEUDONYM")
    return found.group(1), found.group(2)


class Unmasker:
    """Resolves pseudonym targets for the warrant book."""

    def __init__(self, get: Callable[[str], Warrant], recompute: Recompute | None) -> None:
        self._get = get
        self._recompute = recompute

    def resolve(self, field: str, target: str) -> list[str]:
        """The one account `target` unmasks, or InvalidArgument saying why it names nobody."""
        original_id, pseudonym = parts(target)
        if self._recompute is None:
            raise InvalidArgument(f"{field}: this gateway cannot unmask pseudonyms")
        try:
            original = self._get(original_id)
        except NotFound:
            raise InvalidArgument(f"{field}: no warrant {original_id}") from None
        if original.state in (WarrantState.SUBMITTED, WarrantState.REJECTED):
            raise InvalidArgument(
                f"{field}: warrant {original_id} was never approved: nothing was released "
                "under it, so its pseudonyms name nobody"
            )
        if not pseudonym.startswith(ACCOUNT_PSEUDONYM):
            kind = pseudonym.split(":", 1)[0].removeprefix("pseud-")
            raise InvalidArgument(
                f"{field}: {pseudonym} stands for a {kind} that no account has; only an "
                "account's pseudonym (pseud:...) can be unmasked"
            )
        account = self._recompute(original, pseudonym)
        if account is None:
            raise InvalidArgument(
                f"{field}: {pseudonym} is not a pseudonym that warrant {original_id} could have "
                "released (of another warrant, or made up): it resolves to nothing"
            )
        return [account]
