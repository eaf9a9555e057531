"""What both Casbin policies share: the exact rule text handed to Casbin, and one load at a time.

This and the two policies (gateway.policy.release, gateway.policy.api) are the only modules that
import casbin.
"""

from __future__ import annotations

import threading
from typing import Any

import casbin
from casbin.model import Model
from casbin.persist import Adapter, load_policy_line

# Casbin parses matchers with Python's ast module, which on CPython 3.11 is not safe to run from
# two threads at once ("AST constructor recursion depth mismatch"): policies load one at a time
# (two replicas in one test process, or a live reload beside a start).
CASBIN_LOCK = threading.Lock()


class Enforcer(casbin.Enforcer):  # type: ignore[misc]  # pycasbin ships no type hints: Any
    """casbin.Enforcer, parsing its matcher once instead of once per question.

    pycasbin 2.8.0's enforce_ex turns the matcher text into an evaluator (an `ast.parse` and a
    `compile`) on every call: 40 % of compiling the release policy's 7200 decisions. The text
    and the functions are the same on every call here (no role definitions, no eval()), so the
    evaluator is kept per matcher text; it is used only under the caller's lock (the policies
    ask their Enforcer one question at a time). The answers are Casbin's own, unchanged:
    tests/test_policy.py compares them with a plain casbin.Enforcer's."""

    def _get_expression(self, expr: str, functions: Any = None) -> Any:
        cache: dict[str, Any] = self.__dict__.setdefault("_wsg_expressions", {})
        found = cache.get(expr)
        if found is None:
            found = cache[expr] = casbin.Enforcer._get_expression(expr, functions)
        return found


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
