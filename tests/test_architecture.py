"""The structure the code relies on: the audit log's schema, the RPC list, the package layers."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import json
import pathlib
import pkgutil
import re
import shutil
import subprocess
import sys

import pytest

import gateway
from gateway.api.rpcs import RPCS, SERVICES
from gateway.audit import events
from gateway.audit.entries import GENESIS, render
from gateway.policy.api import ApiPolicy
from gateway.policy.rules import API_RULES_FILE
from gateway.settings import DEFAULT_POLICY_DIR

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "gateway"
ABSTRACT_EVENTS = {"Event", "WarrantDecision", "WarrantRefusal"}


def _sources() -> list[tuple[pathlib.Path, ast.Module]]:
    return [
        (p, ast.parse(p.read_text()))
        for p in sorted(PACKAGE.rglob("*.py"))
        if "api/v1" not in p.as_posix()
    ]


def _all_event_classes() -> set[type[events.Event]]:
    """Every subclass of Event, at any depth, once every module of the package is imported."""
    for module in pkgutil.walk_packages(gateway.__path__, "gateway."):
        if not module.name.endswith("__main__"):  # that one runs the command line
            importlib.import_module(module.name)
    found: set[type[events.Event]] = set()
    todo = [events.Event]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in found:
                found.add(sub)
                todo.append(sub)
    # dataclass(slots=True) replaces each class it makes; the one a module holds is the class.
    return {c for c in found if getattr(sys.modules[c.__module__], c.__qualname__, None) is c}


class TestAuditEventRegistry:
    def test_every_event_subclass_anywhere_is_registered(self) -> None:
        """Whatever its base (a kind extending a kind included), every Event subclass the
        package defines is the registry's class for its kind, or one of the abstract bases."""
        strays = {
            f"{cls.__module__}.{cls.__qualname__}"
            for cls in _all_event_classes()
            if cls.__name__ not in ABSTRACT_EVENTS and events.REGISTRY.get(cls.KIND) is not cls
        }
        assert strays == set()

    def test_every_event_class_is_registered(self) -> None:
        """Every concrete subclass of Event in the package is in the registry under its kind."""
        registered = {cls.__name__ for cls in events.REGISTRY.values()}
        defined = {
            node.name
            for _, tree in _sources()
            for node in ast.walk(tree)
            if isinstance(node, ast.ClassDef)
            and any(isinstance(b, ast.Name) and b.id in ABSTRACT_EVENTS for b in node.bases)
        }
        assert defined - ABSTRACT_EVENTS - registered == set()
        assert len(events.REGISTRY) >= 19

    def test_nothing_appends_a_kind_by_name(self) -> None:
        """No call site passes an event kind as a string (the old, unchecked way): an append
        takes an Event, so the kind is registered by construction."""
        offenders = []
        for path, tree in _sources():
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("append", "append_many")
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)
                    and "." in node.args[0].value
                ):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
        assert offenders == []

    def test_an_unregistered_event_is_refused_at_write(self) -> None:
        """The builder refuses an Event subclass that is not in the registry."""

        @dataclasses.dataclass(frozen=True, kw_only=True)
        class Sneaky(events.Event):
            why: str

        with pytest.raises(TypeError, match="not a registered"):
            render([Sneaky(why="x")], 0, GENESIS, "2026-01-01T00:00:00Z")

    @pytest.mark.parametrize("field", sorted(events.RESERVED))
    def test_a_kind_cannot_declare_a_chain_field(self, field: str) -> None:
        """index, prev, ts and event belong to the log; a kind declaring one is refused."""
        cls = dataclasses.make_dataclass(
            "Bad", [(field, str)], bases=(events.Event,), frozen=True, kw_only=True
        )
        with pytest.raises(ValueError, match="chain fields"):
            events.kind("test.bad", events.Readers.AUDITORS)(cls)
        assert "test.bad" not in events.REGISTRY

    def test_chain_fields_are_applied_last(self) -> None:
        """The rendered entry carries the log's index, prev and ts whatever the event holds."""
        (line,) = render(
            [events.PolicyRefused(why="x")], 7, "ab" * 32, "2026-01-01T00:00:00Z"
        ).lines
        entry = json.loads(line)
        assert (entry["event"], entry["index"], entry["prev"]) == ("policy.refused", 7, "ab" * 32)
        assert events.check_entry(entry) == []

    def test_an_event_that_tries_cannot_set_the_chain_fields(self) -> None:
        """Even a kind whose fields() returns event, index, prev and ts gets the log's own."""

        @dataclasses.dataclass(frozen=True, kw_only=True)
        class Forger(events.Event):
            why: str

            def fields(self) -> dict[str, object]:
                forged = {"event": "x", "index": 0, "prev": "0" * 64, "ts": "1970"}
                return {**super().fields(), **forged}

        events.kind("test.forger", events.Readers.AUDITORS)(Forger)
        try:
            (line,) = render([Forger(why="x")], 7, "ab" * 32, "2026-01-01T00:00:00Z").lines
        finally:
            del events.REGISTRY["test.forger"]
        entry = json.loads(line)
        assert (entry["event"], entry["index"], entry["prev"], entry["ts"]) == (
            "test.forger",
            7,
            "ab" * 32,
            "2026-01-01T00:00:00Z",
        )

    def test_check_entry_names_wrong_and_unknown_fields(self) -> None:
        entry = {
            "event": "warrant.approved",
            "index": 0,
            "prev": GENESIS,
            "ts": "t",
            "warrant": "w-1",
            "principal": 3,
            "reason": None,
            "extra": 1,
        }
        problems = events.check_entry(entry)
        assert any("principal" in p for p in problems) and any("extra" in p for p in problems)
        assert events.check_entry({"event": "made.up"}) == ["unregistered event kind 'made.up'"]

    @pytest.mark.parametrize(
        "name, reader, allowed",
        [
            ("gateway.start_refused", "alice", False),
            ("warrant.approved", "bob", True),  # the actor
            ("warrant.approved", "alice", True),  # the warrant's owner
            ("warrant.approved", "mallory", False),
            ("policy.changed", "bob", True),
            ("policy.changed", "alice", False),  # no warrant owner for a policy change
        ],
    )
    def test_who_reads_follows_the_kind(self, name: str, reader: str, allowed: bool) -> None:
        entry = {"event": name, "principal": "bob", "warrant": "w-1"}
        owner = {"w-1": "alice"}.get
        assert events.readable_by(entry, reader, False, owner) is allowed
        assert events.readable_by(entry, reader, True, owner) is True


def test_each_sql_statement_is_written_once() -> None:
    """No statement is spelled twice, in one module or per dialect (placeholders aside): each
    is written once and rendered for its dialect (stores/reference/queries.py, warrant_rows)."""
    spelled: dict[str, list[str]] = {}
    for path, tree in _sources():
        pieces = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if id(node) in pieces:  # part of an f-string (warrant_rows' per-dialect text)
                    continue
                text = " ".join(node.value.split())
                if re.match(r"(SELECT|INSERT|UPDATE|DELETE) .+ (FROM|INTO|SET) ", text):
                    text = re.sub(r"%\((\w+)\)s", r":\1", text.replace("%s", "?"))
                    spelled.setdefault(text, []).append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert len(spelled) > 20  # the check sees the statements
    assert {s: at for s, at in spelled.items() if len(at) > 1} == {}


class TestRpcs:
    def test_rpcs_come_from_the_service_descriptors(self) -> None:
        assert "wsg.v1.WarrantService" in SERVICES and {"Submit", "Release", "SetPolicy"} <= set(
            RPCS
        )

    def test_every_rpc_has_an_api_policy_rule(self) -> None:
        """An RPC no rule allows would be silently denied to everyone."""
        assert ApiPolicy.load(DEFAULT_POLICY_DIR, RPCS).unreachable() == []

    def test_a_missing_rule_is_found(self, tmp_path: pathlib.Path) -> None:
        """The check above can fail: drop every rule of one RPC and it is named."""
        shutil.copytree(DEFAULT_POLICY_DIR, tmp_path / "p")
        rules = tmp_path / "p" / API_RULES_FILE
        rules.write_text(
            "".join(
                line
                for line in rules.read_text().splitlines(keepends=True)
                if ", Reject," not in line
            )
        )
        assert ApiPolicy.load(tmp_path / "p", RPCS).unreachable() == ["Reject"]


def test_package_layers_hold() -> None:
    """cli and api above the domain, the domain above its vocabulary: no upward import, no
    cycle (import-linter contract in pyproject.toml)."""
    linter = pathlib.Path(sys.executable).parent / "lint-imports"
    assert linter.exists(), "import-linter is missing: install the test extras (make test does)"
    proc = subprocess.run(
        [str(linter), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
