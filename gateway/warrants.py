"""Warrants: validated specs, the state machine, and their durable record in SQLite.

States (DESIGN.md): SUBMITTED -> APPROVED | REJECTED; APPROVED -> REVOKED | EXPIRED (by time).
EXPIRED is derived from the clock, never written, so an expired warrant cannot be missed by a
process that was down when it expired. Every transition is one conditional UPDATE (state must
still be what was checked) inside a transaction that commits only after its audit entry is
durable: an action either happened and is audited, or neither.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import pathlib
import re
import secrets
import sqlite3
from collections.abc import Callable

from gateway import validation
from gateway.audit import AuditLog
from gateway.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from gateway.group_commit import Entry, GroupCommit
from gateway.sqlite_readers import ThreadReaders
from gateway.model import (MATRIX_USER_ID, TARGET_KINDS, Category, WarrantState, Window,
                           format_time, parse_time)
from gateway.stores.base import Store

MAX_TARGETS = 20
MAX_TEXT = 2000
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_ID = re.compile(r"^w-[0-9a-f]{16}$")


@dataclasses.dataclass(frozen=True)
class WarrantSpec:
    case_number: str
    authority: str
    legal_basis: str
    targets: tuple[str, ...]
    window: Window
    categories: tuple[Category, ...]
    expires_at: dt.datetime
    nondisclosure_until: dt.datetime | None = None
    include_received_direct: bool = False
    document_sha256: str | None = None


@dataclasses.dataclass(frozen=True)
class Warrant:
    id: str
    spec: WarrantSpec
    state: WarrantState  # as stored; see live_state
    target_accounts: tuple[str, ...]
    submitted_by: str
    submitted_at: dt.datetime
    decided_by: str | None = None
    decided_at: dt.datetime | None = None
    revoked_by: str | None = None
    revoked_at: dt.datetime | None = None
    reason: str | None = None

    def live_state(self, now: dt.datetime) -> WarrantState:
        if self.state is WarrantState.APPROVED and now >= self.spec.expires_at:
            return WarrantState.EXPIRED
        return self.state


def validate_spec(spec: WarrantSpec, now: dt.datetime) -> WarrantSpec:
    """The spec with its text normalized (gateway.validation), or InvalidArgument naming the
    first bad field."""
    case_number = validation.identifier("spec.case_number", spec.case_number, MAX_TEXT)
    authority = validation.text("spec.authority", spec.authority, MAX_TEXT)
    legal_basis = validation.text("spec.legal_basis", spec.legal_basis, MAX_TEXT, multiline=True)
    for name, value in (("case_number", case_number), ("authority", authority)):
        if not value.strip():
            raise InvalidArgument(f"spec.{name}: required")
    if not spec.targets:
        raise InvalidArgument("spec.targets: at least one target is required")
    if len(spec.targets) > MAX_TARGETS:
        raise InvalidArgument(f"spec.targets: at most {MAX_TARGETS} targets")
    targets = []
    for i, target in enumerate(spec.targets):
        target = validation.identifier(f"spec.targets[{i}]", target)
        if target.startswith("@"):
            target = "matrix:" + target  # a bare Matrix user id, @user:server
        kind, sep, value = target.partition(":")
        if not sep or kind not in TARGET_KINDS or not value.strip() or (
                kind == "matrix" and not (len(value) <= 255 and MATRIX_USER_ID.fullmatch(value))):
            raise InvalidArgument(
                f"spec.targets[{i}]: {target[:80]!r} is not account:ID, phone:NUMBER, "
                "email:ADDRESS or a Matrix user id (@user:server)"
            )
        targets.append(target)
    validation.window("spec.window", spec.window.start, spec.window.end)
    if not spec.categories:
        raise InvalidArgument("spec.categories: at least one category is required")
    if len(set(spec.categories)) != len(spec.categories):
        raise InvalidArgument("spec.categories: a category is named twice")
    if spec.expires_at <= now:
        raise InvalidArgument(f"spec.expires_at: {format_time(spec.expires_at)} is not in the future")
    if spec.document_sha256 is not None and not _HEX64.match(spec.document_sha256):
        raise InvalidArgument("spec.document_sha256: must be 64 lowercase hex digits")
    return dataclasses.replace(spec, case_number=case_number, authority=authority,
                               legal_basis=legal_basis, targets=tuple(targets))


def parse_category(value: str, field: str) -> Category:
    try:
        return Category(value)
    except ValueError:
        known = ", ".join(c.value for c in Category)
        raise InvalidArgument(f"{field}: unknown category {value[:80]!r} (known: {known})") from None


_SCHEMA = """
CREATE TABLE IF NOT EXISTS warrants (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    spec TEXT NOT NULL,
    state TEXT NOT NULL,
    target_accounts TEXT NOT NULL,
    submitted_by TEXT NOT NULL,
    submitted_at TEXT NOT NULL,
    decided_by TEXT, decided_at TEXT,
    revoked_by TEXT, revoked_at TEXT,
    reason TEXT
);
CREATE INDEX IF NOT EXISTS warrants_state ON warrants(state);
"""


def _spec_to_json(spec: WarrantSpec) -> str:
    return json.dumps(
        {
            "case_number": spec.case_number,
            "authority": spec.authority,
            "legal_basis": spec.legal_basis,
            "targets": list(spec.targets),
            "window": {"start": format_time(spec.window.start), "end": format_time(spec.window.end)},
            "categories": [c.value for c in spec.categories],
            "expires_at": format_time(spec.expires_at),
            "nondisclosure_until": format_time(spec.nondisclosure_until)
            if spec.nondisclosure_until
            else None,
            "include_received_direct": spec.include_received_direct,
            "document_sha256": spec.document_sha256,
        },
        sort_keys=True,
    )


def _spec_from_json(text: str) -> WarrantSpec:
    raw = json.loads(text)
    return WarrantSpec(
        case_number=raw["case_number"],
        authority=raw["authority"],
        legal_basis=raw["legal_basis"],
        targets=tuple(raw["targets"]),
        window=Window(parse_time(raw["window"]["start"]), parse_time(raw["window"]["end"])),
        categories=tuple(Category(c) for c in raw["categories"]),
        expires_at=parse_time(raw["expires_at"]),
        nondisclosure_until=parse_time(raw["nondisclosure_until"])
        if raw["nondisclosure_until"]
        else None,
        include_received_direct=raw["include_received_direct"],
        document_sha256=raw["document_sha256"],
    )


def _opt_time(text: str | None) -> dt.datetime | None:
    return parse_time(text) if text else None


def _read_connection(path: pathlib.Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA query_only = ON")
    return db


class WarrantBook:
    """The warrant lifecycle: validation, target resolution, two-person rule, durable state."""

    def __init__(
        self,
        path: pathlib.Path,
        store: Store,
        audit: AuditLog,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        # Writes go through group commit; reads use per-thread connections (WAL).
        self._writes = GroupCommit(self._db, audit)
        self._readers = ThreadReaders(lambda: _read_connection(path))
        self._store = store
        self._audit = audit
        self._clock = clock

    def close(self) -> None:
        self._db.close()
        self._readers.close()

    # -- reads ---------------------------------------------------------------------------

    def get(self, warrant_id: str) -> Warrant:
        if not _ID.match(warrant_id):
            raise NotFound(f"no warrant {warrant_id[:80]!r}")
        return self._get_on(self._readers.get(), warrant_id)

    def list(self, state: WarrantState | None = None, limit: int = 100) -> list[Warrant]:
        rows = self._readers.get().execute("SELECT * FROM warrants ORDER BY seq DESC").fetchall()
        warrants = [self._from_row(r) for r in rows]
        now = self._clock()
        if state is not None:
            warrants = [w for w in warrants if w.live_state(now) is state]
        return warrants[:limit]

    def live_state(self, warrant_id: str) -> WarrantState:
        return self.get(warrant_id).live_state(self._clock())

    def now(self) -> dt.datetime:
        return self._clock()

    # -- actions -------------------------------------------------------------------------

    def submit(self, spec: WarrantSpec, principal: str) -> Warrant:
        now = self._clock()
        spec = validate_spec(spec, now)
        accounts = tuple(self._resolve(i, t) for i, t in enumerate(spec.targets))
        warrant = Warrant(
            id="w-" + secrets.token_hex(8),
            spec=spec,
            state=WarrantState.SUBMITTED,
            target_accounts=accounts,
            submitted_by=principal,
            submitted_at=now,
        )
        def insert(db: sqlite3.Connection) -> tuple[Entry, None]:
            db.execute(
                "INSERT INTO warrants (id, spec, state, target_accounts, submitted_by,"
                " submitted_at) VALUES (?, ?, ?, ?, ?, ?)",
                (warrant.id, _spec_to_json(spec), warrant.state.value, json.dumps(accounts),
                 principal, format_time(now)),
            )
            return ("warrant.submitted", {
                "warrant": warrant.id,
                "principal": principal,
                "case_number": spec.case_number,
                "target_accounts": list(accounts),
                "categories": [c.value for c in spec.categories],
                "window": [format_time(spec.window.start), format_time(spec.window.end)],
                "expires_at": format_time(spec.expires_at),
            }), None

        self._writes.run(insert)
        return warrant

    def approve(self, warrant_id: str, principal: str, note: str = "") -> Warrant:
        def check(w: Warrant, now: dt.datetime) -> None:
            if w.submitted_by == principal:
                raise PermissionDenied(
                    f"two-person rule: {principal!r} submitted warrant {w.id} and cannot approve it"
                )
            if now >= w.spec.expires_at:
                raise FailedPrecondition(f"warrant {w.id} expired at {format_time(w.spec.expires_at)}")

        return self._transition(
            warrant_id, principal, WarrantState.SUBMITTED, WarrantState.APPROVED, note, check,
            "decided",
        )

    def reject(self, warrant_id: str, principal: str, reason: str = "") -> Warrant:
        def check(w: Warrant, now: dt.datetime) -> None:
            if w.submitted_by == principal:
                raise PermissionDenied(
                    f"two-person rule: {principal!r} submitted warrant {w.id} and cannot reject it"
                )

        return self._transition(
            warrant_id, principal, WarrantState.SUBMITTED, WarrantState.REJECTED, reason, check,
            "decided",
        )

    def revoke(self, warrant_id: str, principal: str, reason: str = "") -> Warrant:
        return self._transition(
            warrant_id, principal, WarrantState.APPROVED, WarrantState.REVOKED, reason,
            lambda w, now: None, "revoked",
        )

    def _transition(
        self,
        warrant_id: str,
        principal: str,
        source: WarrantState,
        target: WarrantState,
        reason: str,
        check: Callable[[Warrant, dt.datetime], None],
        who: str,
    ) -> Warrant:
        if len(reason) > MAX_TEXT:
            raise InvalidArgument(f"reason: longer than {MAX_TEXT} characters")
        now = self._clock()
        action = target.value.lower()
        def change(db: sqlite3.Connection) -> tuple[Entry, BaseException | None]:
            warrant = self._get_on(db, warrant_id)
            live = warrant.live_state(now)
            try:
                if live is not source:
                    raise FailedPrecondition(
                        f"warrant {warrant_id} is {live.value}; only a {source.value} warrant can be "
                        f"{action}"
                    )
                check(warrant, now)
            except (FailedPrecondition, PermissionDenied) as refused:
                return (f"warrant.{action}_refused",
                        {"warrant": warrant_id, "principal": principal, "why": refused.message}), refused
            cur = db.execute(
                f"UPDATE warrants SET state = ?, {who}_by = ?, {who}_at = ?, reason = ?"
                " WHERE id = ? AND state = ?",
                (target.value, principal, format_time(now), reason or None, warrant_id, source.value),
            )
            if cur.rowcount != 1:
                raise FailedPrecondition(f"warrant {warrant_id} changed state meanwhile")
            return (f"warrant.{action}",
                    {"warrant": warrant_id, "principal": principal, "reason": reason or None}), None

        self._writes.run(change)
        return self.get(warrant_id)

    def _get_on(self, db: sqlite3.Connection, warrant_id: str) -> Warrant:
        if not _ID.match(warrant_id):
            raise NotFound(f"no warrant {warrant_id[:80]!r}")
        row = db.execute("SELECT * FROM warrants WHERE id = ?", (warrant_id,)).fetchone()
        if row is None:
            raise NotFound(f"no warrant {warrant_id!r}")
        return self._from_row(row)

    def _resolve(self, index: int, target: str) -> str:
        kind, _, value = target.partition(":")
        found = self._store.resolve(kind, value.strip())
        if len(found) != 1:
            what = "no account" if not found else f"{len(found)} accounts"
            raise InvalidArgument(
                f"spec.targets[{index}]: {target!r} matches {what}; a target must match exactly one"
            )
        return found[0]

    @staticmethod
    def _from_row(row: tuple) -> Warrant:  # type: ignore[type-arg]
        (_, wid, spec, state, accounts, sub_by, sub_at, dec_by, dec_at, rev_by, rev_at, reason) = row
        return Warrant(
            id=wid,
            spec=_spec_from_json(spec),
            state=WarrantState(state),
            target_accounts=tuple(json.loads(accounts)),
            submitted_by=sub_by,
            submitted_at=parse_time(sub_at),
            decided_by=dec_by,
            decided_at=_opt_time(dec_at),
            revoked_by=rev_by,
            revoked_at=_opt_time(rev_at),
            reason=reason,
        )
