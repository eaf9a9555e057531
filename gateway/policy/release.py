"""The release policy: Casbin decides every record's effect (docs/architecture.md, guarantee 3).

Casbin is imported only here, in gateway.policy.api and gateway.policy.enforcer. The model
(policies/model.conf) and the rules
(policies/policy.csv) are files; the rules are ordered and the first matching row wins, like a
firewall (model.conf explains how pycasbin's enforce_ex gives exactly that). The effect *and* the
withhold reason are read from the row Casbin returns; no row → withhold "no_matching_rule".

Fast path: the request domain is finite (4 relations × 6 categories × 3 window positions × 5 states
× named × received_direct × 5 tiers = 7200), so `load` asks the Enforcer once for every request
and keeps the answers in a dict; `decide` / `decide_key` are one dict lookup. `decide_direct`
still asks the Enforcer, and tests/test_policy.py proves the two agree on the whole domain.
Compiling asks the Enforcer 7200 times (its matcher parsed once, gateway.policy.enforcer): about
0.5 s on the development machine (38 rules), once per load; `ReleasePolicy.compile_seconds` and
the INFO log line give the real figure; a policy loaded again in the same process (same bytes,
same version) reuses its table. A lookup then takes well under a microsecond, against
~0.15 ms for asking the Enforcer.

Fail closed: `load` raises FailedPrecondition with one line naming the file and what is wrong, and
never returns a half-loaded policy.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import pathlib
import re
import threading
import time
from collections.abc import Iterable, Sequence

import casbin
import structlog
from casbin.util.log import disabled_logging

from gateway.errors import FailedPrecondition
from gateway.model import Category, Effect, Relation, TextMode, Tier, WarrantState, WindowPosition
from gateway.policy import guarantees
from gateway.policy.enforcer import CASBIN_LOCK, Enforcer, TextAdapter, one_line

log = structlog.get_logger("wsg.policy")

MODEL_FILE = "model.conf"
POLICY_FILE = "policy.csv"
NO_MATCH_REASON = "no_matching_rule"
WILDCARD = "*"
NO_REASON = "-"

REQUEST_FIELDS = ("relation", "category", "window", "state", "named", "received_direct", "tier")
POLICY_FIELDS = (*REQUEST_FIELDS, "effect", "reason", "text")
NO_TEXT = "-"
# First-match-wins depends on this effect (see model.conf); any other effect is refused.
FIRST_MATCH_EFFECT = "some(where (p_eft == allow))"

_YES_NO = {True: "yes", False: "no"}
_DOMAINS: dict[str, tuple[object, ...]] = {
    "relation": tuple(Relation),
    "category": tuple(Category),
    "window": tuple(WindowPosition),
    "state": tuple(WarrantState),
    "named": (True, False),
    "received_direct": (True, False),
    "tier": tuple(Tier),
}
_PATTERNS: dict[str, frozenset[str]] = {
    name: frozenset(_YES_NO[v] if isinstance(v, bool) else str(v) for v in values) | {WILDCARD}
    for name, values in _DOMAINS.items()
}
_EFFECTS = frozenset(e.value for e in Effect)
_TEXT_MODES = frozenset(m.value for m in TextMode)
_REASON_RE = re.compile(r"[a-z][a-z0-9_]*\Z")


@dataclasses.dataclass(frozen=True, slots=True)
class DecisionRequest:
    relation: Relation
    category: Category
    window: WindowPosition  # inside | outside | timeless
    state: WarrantState  # the warrant's live state at decision time
    named: bool  # the category is named in the warrant
    received_direct: bool  # the warrant asks for direct messages the target received
    tier: Tier = Tier.SEARCH_WARRANT  # the instrument's tier (gateway.policy.instruments)


@dataclasses.dataclass(frozen=True, slots=True)
class Decision:
    effect: Effect
    reason: str | None  # why withheld (e.g. "group_peer"); None unless withhold
    text: TextMode | None = None  # how a released record's free text leaves; None if withheld


NO_MATCH = Decision(Effect.WITHHOLD, NO_MATCH_REASON)

# Compiled tables by policy version (the sha256 of the model and the rules): the same bytes
# are the same Casbin answers, so a process that loads one policy again (every gateway a test
# starts, a replica's reload to the rules it already had) asks the Enforcer only once. The
# table is never changed after it is built.
_COMPILED: dict[str, dict[DecisionKey, Decision]] = {}
_COMPILED_KEPT = 8
_COMPILED_LOCK = threading.Lock()


# A decision request as the compiled table's key: (relation, category, window, state, named,
# received_direct, tier).
DecisionKey = tuple[Relation, Category, WindowPosition, WarrantState, bool, bool, Tier]


def all_requests() -> list[DecisionRequest]:
    """Every request in the policy's domain (7200 of them), in a stable order."""
    keys: Iterable[DecisionKey] = itertools.product(
        tuple(Relation),
        tuple(Category),
        tuple(WindowPosition),
        tuple(WarrantState),
        (True, False),
        (True, False),
        tuple(Tier),
    )
    return [DecisionRequest(*key) for key in keys]


def policy_version(model_bytes: bytes, policy_bytes: bytes) -> str:
    """sha256 hex naming a policy.

    The same as `cd policies && sha256sum model.conf policy.csv | sha256sum` (first field).

    Each file is hashed on its own, so moving bytes from one file to the other changes the version.
    """
    listing = (
        f"{hashlib.sha256(model_bytes).hexdigest()}  {MODEL_FILE}\n"
        f"{hashlib.sha256(policy_bytes).hexdigest()}  {POLICY_FILE}\n"
    )
    return hashlib.sha256(listing.encode()).hexdigest()


def _fail(path: pathlib.Path, what: str) -> FailedPrecondition:
    return FailedPrecondition(f"release policy not loadable: {path}: {what}")


def _read(path: pathlib.Path) -> tuple[bytes, str]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise _fail(path, "file is missing") from None
    except OSError as exc:
        raise _fail(path, f"cannot be read ({exc.strerror or exc})") from None
    try:
        return data, data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _fail(path, f"not UTF-8 text (byte {exc.start})") from None


def _load_model(path: pathlib.Path, text: str) -> object:
    # Casbin would log the whole model and policy at INFO while loading; every Enforcer built
    # without enable_log silences its loggers anyway, so do it before the first one, too.
    disabled_logging()
    try:
        model = casbin.Enforcer.new_model(text=text)
    except Exception as exc:  # noqa: BLE001 - casbin raises bare RuntimeError/ValueError on bad syntax
        raise _fail(path, f"not a valid Casbin model ({one_line(exc)})") from None
    # Casbin's Model defines __getitem__ but no __contains__: `"r" in model` would iterate it
    # with 0, 1, 2, ... for ever. Ask its keys instead.
    present = set(model.keys())
    sections = {
        "r": ("request_definition", "r", [f"r_{f}" for f in REQUEST_FIELDS]),
        "p": ("policy_definition", "p", [f"p_{f}" for f in POLICY_FIELDS]),
    }
    for sec, (title, key, expected) in sections.items():
        if sec not in present or key not in model[sec]:
            raise _fail(path, f"not a valid Casbin model: no [{title}] {key} = ...")
        if model[sec][key].tokens != expected:
            want = ", ".join(t.split("_", 1)[1] for t in expected)
            raise _fail(path, f"[{title}] must be `{key} = {want}`")
    if "e" not in present or "e" not in model["e"]:
        raise _fail(path, "not a valid Casbin model: no [policy_effect] e = ...")
    if model["e"]["e"].value != FIRST_MATCH_EFFECT:
        raise _fail(
            path,
            "[policy_effect] must be `e = some(where (p.eft == allow))` "
            "(first match wins relies on it)",
        )
    if "m" not in present or "m" not in model["m"]:
        raise _fail(path, "not a valid Casbin model: no [matchers] m = ...")
    if "g" in present:
        raise _fail(path, "[role_definition] is not supported by the release policy")
    return model


def _parse_rules(path: pathlib.Path, text: str) -> list[list[str]]:
    """Validate every rule line, naming its line number; returns the rows without the 'p'."""
    rows: list[list[str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"line {number}"
        fields = [f.strip() for f in line.split(",")]
        if fields[0] != "p":
            raise _fail(path, f"{where}: unknown rule type {fields[0]!r} (only 'p' rows)")
        row = fields[1:]
        if len(row) != len(POLICY_FIELDS):
            raise _fail(
                path,
                f"{where}: {len(row)} fields after 'p', expected "
                f"{len(POLICY_FIELDS)} ({', '.join(POLICY_FIELDS)})",
            )
        for name, value in zip(REQUEST_FIELDS, row, strict=False):
            if value not in _PATTERNS[name]:
                allowed = ", ".join(sorted(_PATTERNS[name]))
                raise _fail(path, f"{where}: unknown {name} {value!r} (expected one of {allowed})")
        effect, reason, text = row[-3], row[-2], row[-1]
        if effect not in _EFFECTS:
            raise _fail(
                path,
                f"{where}: unknown effect {effect!r} "
                f"(expected one of {', '.join(sorted(_EFFECTS))})",
            )
        if effect == Effect.WITHHOLD:
            if not _REASON_RE.match(reason):
                raise _fail(
                    path, f"{where}: a withhold rule needs a snake_case reason, not {reason!r}"
                )
        elif reason != NO_REASON:
            raise _fail(path, f"{where}: a {effect} rule takes reason '-', not {reason!r}")
        if effect == Effect.WITHHOLD:
            if text != NO_TEXT:
                raise _fail(path, f"{where}: a withhold rule takes text '-', not {text!r}")
        elif text not in _TEXT_MODES:
            raise _fail(
                path,
                f"{where}: a {effect} rule must say how its text leaves: text "
                f"{text!r} is not one of {', '.join(sorted(_TEXT_MODES))}",
            )
        rows.append(row)
    if not rows:
        raise _fail(path, "no rules (an empty policy would withhold everything)")
    return rows


def _key(req: DecisionRequest) -> DecisionKey:
    return (
        req.relation,
        req.category,
        req.window,
        req.state,
        req.named,
        req.received_direct,
        req.tier,
    )


def _decision(result: bool, rule: Sequence[str]) -> Decision:
    """Turn enforce_ex's answer into a Decision: the effect and reason are the matched row's."""
    if not result:
        if rule:
            raise RuntimeError(f"Casbin denied yet explained it with a rule: {list(rule)}")
        return NO_MATCH
    if len(rule) != len(POLICY_FIELDS):
        raise RuntimeError(f"Casbin allowed without one matched rule: {list(rule)}")
    effect = Effect(rule[-3])
    if effect is Effect.WITHHOLD:
        return Decision(effect, rule[-2])
    return Decision(effect, None, TextMode(rule[-1]))


def _yes_no(flag: object) -> str:
    if not isinstance(flag, bool):
        raise TypeError(f"not a yes/no flag: {flag!r}")
    return _YES_NO[flag]


def _casbin_values(
    relation: object,
    category: object,
    window: object,
    state: object,
    named: object,
    received_direct: object,
    tier: object,
) -> tuple[str, ...]:
    try:
        return (
            Relation(str(relation)).value,
            Category(str(category)).value,
            WindowPosition(str(window)).value,
            WarrantState(str(state)).value,
            _yes_no(named),
            _yes_no(received_direct),
            Tier(str(tier)).value,
        )
    except (ValueError, KeyError, TypeError):
        raise ValueError(
            "not a decision request in the policy's domain: "
            f"{(relation, category, window, state, named, received_direct, tier)!r}"
        ) from None


class ReleasePolicy:
    """A loaded, validated release policy: the Casbin Enforcer plus its compiled decision table."""

    __slots__ = (
        "_enforcer",
        "_lock",
        "_table",
        "compile_seconds",
        "policy_dir",
        "rule_count",
        "version",
    )

    def __init__(
        self, *, version: str, policy_dir: pathlib.Path, enforcer: casbin.Enforcer, rule_count: int
    ) -> None:
        self.version = version
        self.policy_dir = policy_dir
        self.rule_count = rule_count
        self._enforcer = enforcer
        self._lock = threading.Lock()  # the Enforcer is not documented as thread-safe
        started = time.perf_counter()
        with _COMPILED_LOCK:
            known = _COMPILED.get(version)
        if known is None:
            known = {}
            interned: dict[Decision, Decision] = {}
            for req in all_requests():
                decision = self.decide_direct(req)
                known[_key(req)] = interned.setdefault(decision, decision)
            with _COMPILED_LOCK:
                while len(_COMPILED) >= _COMPILED_KEPT:
                    del _COMPILED[next(iter(_COMPILED))]
                _COMPILED[version] = known
        self._table: dict[DecisionKey, Decision] = known
        self.compile_seconds = time.perf_counter() - started

    @classmethod
    def load(
        cls,
        policy_dir: pathlib.Path,
        rules_text: str | None = None,
        rules_source: str | None = None,
    ) -> ReleasePolicy:
        """Read, validate and compile model.conf + the rules, or raise FailedPrecondition.

        The rules are policy.csv unless `rules_text` is given (the policy table, on PostgreSQL;
        `rules_source` names it in errors)."""
        policy_dir = pathlib.Path(policy_dir)
        model_path, policy_path = policy_dir / MODEL_FILE, policy_dir / POLICY_FILE
        model_bytes, model_text = _read(model_path)
        if rules_text is None:
            policy_bytes, policy_text = _read(policy_path)
        else:
            policy_path = pathlib.Path(rules_source or "policy table")
            policy_bytes, policy_text = rules_text.encode(), rules_text
        model = _load_model(model_path, model_text)
        rows = _parse_rules(policy_path, policy_text)
        with CASBIN_LOCK:
            try:
                enforcer = Enforcer(model, TextAdapter(policy_text))
            except Exception as exc:  # noqa: BLE001 - any refusal means: do not load
                raise _fail(policy_path, f"Casbin refused the policy ({one_line(exc)})") from None
            if enforcer.get_policy() != rows:
                raise _fail(policy_path, "Casbin read different rules than the file holds")
            try:
                policy = cls(
                    version=policy_version(model_bytes, policy_bytes),
                    policy_dir=policy_dir,
                    enforcer=enforcer,
                    rule_count=len(rows),
                )
            except Exception as exc:  # noqa: BLE001 - the matcher cannot be evaluated, or Casbin answered nonsense
                raise _fail(model_path, f"matcher failed ({one_line(exc)})") from None
        breach = policy.guarantee_breach()
        if breach is not None:
            raise _fail(policy_path, breach)
        log.info(
            "release policy loaded",
            version=policy.version[:12],
            policy_dir=str(policy_dir),
            rules=len(rows),
            decisions=len(policy._table),
            compile_ms=round(policy.compile_seconds * 1000, 1),
        )
        return policy

    def guarantee_breach(self) -> str | None:
        """The first decision that would break the guarantees 1 and 2, or None.

        Rules can change at run time (the policy table, on PostgreSQL); whatever they say, every
        compiled decision must keep every limit gateway.policy.guarantees states (a group
        peer's or unrelated record, a record outside the window or the named categories,
        anything under a warrant that is not APPROVED, a peer's direct message the warrant did
        not ask for: withheld; nothing naming others in clear). A policy that would break one
        is refused at load, never put in force."""
        return guarantees.breach(
            (dict(zip(REQUEST_FIELDS, key, strict=True)), decision.effect, decision.text)
            for key, decision in self._table.items()
        )

    def decide_direct(self, req: DecisionRequest) -> Decision:
        """Ask the Casbin Enforcer (slow; the authority the fast path is tested against)."""
        values = _casbin_values(*_key(req))
        with self._lock:
            result, rule = self._enforcer.enforce_ex(*values)
        return _decision(result, rule)

    def decide(self, req: DecisionRequest) -> Decision:
        """The compiled decision for req (one dict lookup)."""
        try:
            return self._table[_key(req)]
        except KeyError:
            _casbin_values(*_key(req))  # raises ValueError naming the bad request
            raise

    def decide_key(
        self,
        relation: Relation,
        category: Category,
        window: WindowPosition,
        state: WarrantState,
        named: bool,
        received_direct: bool,
        tier: Tier,
    ) -> Decision:
        """Like decide, without building a DecisionRequest (the release loop's hot path)."""
        try:
            return self._table[(relation, category, window, state, named, received_direct, tier)]
        except KeyError:
            _casbin_values(relation, category, window, state, named, received_direct, tier)
            raise

    def reach(self, tier: Tier) -> frozenset[Category]:
        """The categories the rules let `tier` release anything of (a target's own record or
        a direct peer's, inside or timeless, under an APPROVED warrant naming the category):
        what intake lets a request of that tier ask for."""
        return frozenset(
            key[1]
            for key, decision in self._table.items()
            if key[6] is tier
            and key[3] is WarrantState.APPROVED
            and key[4]
            and decision.effect is not Effect.WITHHOLD
        )

    def __repr__(self) -> str:
        return (
            f"ReleasePolicy(version={self.version[:12]}…, rules={self.rule_count}, "
            f"dir={str(self.policy_dir)!r})"
        )
