"""The policies in force, swapped whole when the rules change (on any replica).

`Policies` holds one compiled (release, API) pair; readers take `current()` once and use that
object for a whole decision batch, so a release batch never mixes two policy versions (the
batch's audit entry names the version it used). The rules come from a RuleSource
(gateway.policy.rules): files on the embedded gateway, a table on PostgreSQL, whose watcher calls
`reload` when the table changes. New rules are loaded, validated and compiled before they are
swapped in; rules that do not validate are refused and the last good policy stays.
"""

from __future__ import annotations

import dataclasses
import pathlib
import threading
from collections.abc import Sequence

import structlog

from gateway.errors import FailedPrecondition, InvalidArgument
from gateway.policy.api import ApiPolicy
from gateway.policy.release import ReleasePolicy
from gateway.policy.rules import RuleSnapshot, RuleSource, canonical, require_name

log = structlog.get_logger("wsg.policy")


@dataclasses.dataclass(frozen=True)
class PolicySet:
    release: ReleasePolicy
    api: ApiPolicy
    table_version: int | None = None  # the source's version counter it was read at


class Policies:
    """The current PolicySet; replaced atomically (one reference assignment)."""

    def __init__(self, source: RuleSource, policy_dir: pathlib.Path, rpcs: Sequence[str]) -> None:
        """Compile the source's rules now; FailedPrecondition if they do not load (fail closed
        at start)."""
        self.source = source
        self._policy_dir = policy_dir
        self._rpcs = tuple(rpcs)
        self._reload_lock = threading.Lock()
        self._current = self._compile(source.snapshot())

    def current(self) -> PolicySet:
        return self._current

    def reload(self) -> bool:
        """Re-read the rules if their version moved; True if a new policy is now in force."""
        with self._reload_lock:
            if (
                self._current.table_version is None
                or self.source.version() == self._current.table_version
            ):
                return False
            new = self._compile(self.source.snapshot())
            old = self._current
            self._current = new
        log.info(
            "policy reloaded",
            release_version=new.release.version[:12],
            previous=old.release.version[:12],
            table_version=new.table_version,
        )
        return True

    def _compile(self, snap: RuleSnapshot) -> PolicySet:
        where = self.source.description
        release = ReleasePolicy.load(self._policy_dir, snap.texts["release"], f"{where} (release)")
        api = ApiPolicy.load(self._policy_dir, self._rpcs, snap.texts["api"], f"{where} (api)")
        return PolicySet(release, api, snap.version)

    def check(self, name: str, text: str, source: str) -> str:
        """The canonical text of `text` if it would load as policy `name` (as a replica would
        load it: Casbin parses it, the table compiles, the guarantees hold); else
        InvalidArgument."""
        return check_rules(name, text, self._policy_dir, self._rpcs, source)


def check_rules(
    name: str, text: str, policy_dir: pathlib.Path, rpcs: Sequence[str], source: str
) -> str:
    """The canonical text of `text` if it would load as policy `name`; else InvalidArgument."""
    require_name(name)
    rules = canonical(text, source)
    try:
        if name == "release":
            ReleasePolicy.load(policy_dir, rules, source)
        else:
            ApiPolicy.load(policy_dir, rpcs, rules, source)
    except FailedPrecondition as exc:
        raise InvalidArgument(f"rules: {exc.message}") from None
    return rules
