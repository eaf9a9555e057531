"""The embedded gateway's rules: the files policy.csv and api_policy.csv in the policy directory.

They are read once at start; changing them means editing the files and restarting (shared rules
that change at run time need PostgreSQL, gateway.backends.postgres.rules). The two-person rule
for a change of these files is the deployment's: they are kept under version control where a
second person reviews every change (docs/operations.md), and every release entry names the
version of the policy it was decided by.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable

from gateway.audit.events import Event
from gateway.errors import FailedPrecondition
from gateway.policy.proposals import Proposal, ProposalRows
from gateway.policy.rules import API_RULES_FILE, RELEASE_RULES_FILE, RuleSnapshot, T


class _NoWatch:
    def close(self) -> None:
        """Nothing runs: files are read at start only."""


class FileRules:
    """A RuleSource over the rule files; its version never moves while the gateway runs."""

    def __init__(self, policy_dir: pathlib.Path) -> None:
        self.policy_dir = policy_dir

    @property
    def description(self) -> str:
        return f"files in {self.policy_dir}"

    def snapshot(self) -> RuleSnapshot:
        """The files' exact text (so the policy version is the files' hash)."""
        return RuleSnapshot(
            None,
            {
                "release": self._read(RELEASE_RULES_FILE, "release"),
                "api": self._read(API_RULES_FILE, "API"),
            },
        )

    def _read(self, name: str, policy: str) -> str:
        path = self.policy_dir / name
        what = f"{policy} policy not loadable: {path}"
        try:
            return path.read_bytes().decode("utf-8")
        except FileNotFoundError:
            raise FailedPrecondition(f"{what}: file is missing") from None
        except OSError as exc:
            raise FailedPrecondition(f"{what}: cannot be read ({exc.strerror or exc})") from None
        except UnicodeDecodeError as exc:
            raise FailedPrecondition(f"{what}: not UTF-8 text (byte {exc.start})") from None

    def version(self) -> None:
        return None

    def changes(self, work: Callable[[ProposalRows], tuple[list[Event], T]]) -> T:
        self.require_writable()
        raise AssertionError("require_writable raises")

    def pending(self) -> list[Proposal]:
        return []

    def require_writable(self) -> None:
        raise FailedPrecondition(
            "this gateway runs on the embedded SQLite and reads its rules from "
            f"{self.policy_dir}: a change is made to the files, reviewed and approved where "
            "they are kept, and takes effect at the next start (changes through the gateway, "
            "proposed and approved by two policy administrators, need PostgreSQL)"
        )

    def watch(self, on_change: Callable[[], None], on_refused: Callable[[str], None]) -> _NoWatch:
        return _NoWatch()
