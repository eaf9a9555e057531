"""What both Casbin policies share: the exact rule text handed to Casbin, and one load at a time.

This and the two policies (gateway.policy.release, gateway.policy.api) are the only modules that
import casbin.
"""

from __future__ import annotations

import threading

from casbin.model import Model
from casbin.persist import Adapter, load_policy_line

# Casbin parses matchers with Python's ast module, which on CPython 3.11 is not safe to run from
# two threads at once ("AST constructor recursion depth mismatch"): policies load one at a time
# (two replicas in one test process, or a live reload beside a start).
CASBIN_LOCK = threading.Lock()


class TextAdapter(Adapter):  # type: ignore[misc]  # pycasbin ships no type hints: Adapter is Any
    """Feeds Casbin the exact policy text that was hashed (no second read of a file or table)."""

    def __init__(self, text: str) -> None:
        self._text = text

    def load_policy(self, model: Model) -> None:
        for line in self._text.splitlines():
            load_policy_line(line.strip(), model)


def one_line(exc: BaseException) -> str:
    """An exception Casbin raised, as one short line for an error message."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
