"""The warrants table's one SQL definition and row codec, shared by both backends.

Each statement is written once; `mark` is the driver's placeholder (sqlite3: ?, psycopg: %s),
the one difference between the two dialects here. The table itself is defined by the migrations
(gateway/db/schema/*/0001_*). A warrant's spec is stored as JSON text.
"""

from __future__ import annotations

import json
from typing import Any

from gateway.model import (
    SPEC_FIELDS,
    Kind,
    SpecField,
    Warrant,
    WarrantSpec,
    WarrantState,
    Window,
    format_time,
    parse_time,
)
from gateway.model.review import Review
from gateway.warrants.outbox import Deferral, Notice
from gateway.warrants.participation import Recorded, Step
from gateway.warrants.preservation import FrozenCopy, Hold

COLUMNS = (
    "id, spec, state, target_accounts, submitted_by, submitted_at, decided_by, decided_at,"
    " revoked_by, revoked_at, reason, review, first_approved_by"
)

PARTICIPATION_COLUMNS = "warrant, seq, step, document_sha256, note, principal, recorded_at"

HOLD_COLUMNS = (
    "warrant, frozen_at, expires_at, records, content_sha256, extended_by, extended_at, purged_at"
)

NOTICE_COLUMNS = "id, warrant, account, due_at, queued_at, body, sent_by, sent_at"
DEFERRAL_COLUMNS = "warrant, until_at, order_sha256, deferred_by, deferred_at"


def statements(mark: str) -> dict[str, str]:
    """Every statement the rows run, from constant text only."""
    return {
        "insert": "INSERT INTO warrants (id, spec, state, target_accounts, submitted_by,"
        f" submitted_at, request_id, request_sha256, review) VALUES ({', '.join([mark] * 9)})",
        "first_approved": f"UPDATE warrants SET first_approved_by = {mark} WHERE id = {mark}"
        f" AND state = {mark} AND first_approved_by IS NULL",
        "by_request": f"SELECT {COLUMNS}, request_sha256 FROM warrants"
        f" WHERE submitted_by = {mark} AND request_id = {mark}",
        "get": f"SELECT {COLUMNS} FROM warrants WHERE id = {mark}",
        "decided": f"UPDATE warrants SET state = {mark}, decided_by = {mark}, decided_at = {mark},"
        f" reason = {mark} WHERE id = {mark} AND state = {mark}",
        "revoked": f"UPDATE warrants SET state = {mark}, revoked_by = {mark}, revoked_at = {mark},"
        f" reason = {mark} WHERE id = {mark} AND state = {mark}",
        "newest_first": f"SELECT {COLUMNS} FROM warrants ORDER BY seq DESC",
        "target_accounts": f"UPDATE warrants SET target_accounts = {mark} WHERE id = {mark}",
        "clock_passed": "INSERT INTO clock_transitions (warrant, clock, due_at)"
        f" VALUES ({mark}, {mark}, {mark}) ON CONFLICT DO NOTHING",
        "clocks_passed": "SELECT warrant, clock FROM clock_transitions",
        "hold_insert": "INSERT INTO preservations (warrant, frozen_at, expires_at, records,"
        f" content_sha256, directory) VALUES ({', '.join([mark] * 6)})",
        "hold_record": "INSERT INTO preserved_records (warrant, seq, record)"
        f" VALUES ({mark}, {mark}, {mark})",
        "holds": f"SELECT {HOLD_COLUMNS} FROM preservations ORDER BY frozen_at",
        "hold": f"SELECT {HOLD_COLUMNS} FROM preservations WHERE warrant = {mark}",
        "hold_directory": f"SELECT directory FROM preservations WHERE warrant = {mark}"
        " AND purged_at IS NULL",
        "hold_records": f"SELECT record FROM preserved_records WHERE warrant = {mark} ORDER BY seq",
        "hold_extend": f"UPDATE preservations SET expires_at = {mark}, extended_by = {mark},"
        f" extended_at = {mark} WHERE warrant = {mark} AND extended_at IS NULL"
        " AND purged_at IS NULL",
        "hold_purge": f"UPDATE preservations SET purged_at = {mark}, directory = NULL"
        f" WHERE warrant = {mark} AND purged_at IS NULL",
        "hold_purge_records": f"DELETE FROM preserved_records WHERE warrant = {mark}",
        "notice_insert": f"INSERT INTO notices ({NOTICE_COLUMNS})"
        f" VALUES ({', '.join([mark] * 8)}) ON CONFLICT DO NOTHING",
        "notices": f"SELECT {NOTICE_COLUMNS} FROM notices ORDER BY due_at, id",
        "notice": f"SELECT {NOTICE_COLUMNS} FROM notices WHERE id = {mark}",
        "notice_sent": f"UPDATE notices SET sent_by = {mark}, sent_at = {mark}"
        f" WHERE id = {mark} AND sent_at IS NULL",
        "notices_defer": f"UPDATE notices SET due_at = {mark} WHERE warrant = {mark}"
        " AND sent_at IS NULL",
        "deferrals": f"SELECT {DEFERRAL_COLUMNS} FROM notice_deferrals",
        "deferral": f"SELECT {DEFERRAL_COLUMNS} FROM notice_deferrals WHERE warrant = {mark}",
        "deferral_put": f"INSERT INTO notice_deferrals ({DEFERRAL_COLUMNS})"
        f" VALUES ({', '.join([mark] * 5)}) ON CONFLICT (warrant) DO UPDATE SET"
        " until_at = excluded.until_at, order_sha256 = excluded.order_sha256,"
        " deferred_by = excluded.deferred_by, deferred_at = excluded.deferred_at",
        "participation_insert": f"INSERT INTO participation ({PARTICIPATION_COLUMNS})"
        f" VALUES ({', '.join([mark] * 7)})",
        "participation": f"SELECT {PARTICIPATION_COLUMNS} FROM participation"
        f" WHERE warrant = {mark} ORDER BY seq",
    }


SQLITE = statements("?")
POSTGRES = statements("%s")


def _to_json(f: SpecField, value: Any) -> Any:
    if value is None:
        return None
    if f.kind is Kind.TIME:
        return format_time(value)
    if f.kind is Kind.WINDOW:
        return {"start": format_time(value.start), "end": format_time(value.end)}
    if f.kind is Kind.CHOICE:
        return [v.value for v in value] if f.many else value.value
    return list(value) if f.many else value


def _from_json(f: SpecField, raw: Any) -> Any:
    if raw is None:
        return None
    if f.kind is Kind.TIME:
        return parse_time(raw)
    if f.kind is Kind.WINDOW:
        return Window(parse_time(raw["start"]), parse_time(raw["end"]))
    if f.kind is Kind.CHOICE:
        return tuple(f.choice(v) for v in raw) if f.many else f.choice(raw)
    return tuple(raw) if f.many else raw


def spec_to_json(spec: WarrantSpec) -> str:
    """The spec as stored: every field (gateway.model.fields) under its name."""
    return json.dumps(
        {f.name: _to_json(f, getattr(spec, f.name)) for f in SPEC_FIELDS}, sort_keys=True
    )


def spec_from_json(text: str) -> WarrantSpec:
    """A stored spec; a field missing from it (stored before the field existed) takes its
    default."""
    raw = json.loads(text)
    return WarrantSpec(
        **{f.name: _from_json(f, raw[f.name]) if f.name in raw else f.empty() for f in SPEC_FIELDS}
    )


def _opt_time(text: str | None) -> Any:
    return parse_time(text) if text else None


def hold_from_row(row: tuple[Any, ...]) -> Hold:
    warrant, frozen_at, expires_at, records, content_sha256, ext_by, ext_at, purged_at = row
    return Hold(
        warrant=warrant,
        frozen_at=parse_time(frozen_at),
        expires_at=parse_time(expires_at),
        records=int(records),
        content_sha256=content_sha256,
        extended_by=ext_by,
        extended_at=_opt_time(ext_at),
        purged_at=_opt_time(purged_at),
    )


def notice_from_row(row: tuple[Any, ...]) -> Notice:
    nid, warrant, account, due_at, queued_at, body, sent_by, sent_at = row
    return Notice(
        id=nid,
        warrant=warrant,
        account=account,
        due_at=parse_time(due_at),
        queued_at=parse_time(queued_at),
        body=json.loads(body),
        sent_by=sent_by,
        sent_at=_opt_time(sent_at),
    )


def deferral_from_row(row: tuple[Any, ...]) -> Deferral:
    warrant, until, order_sha256, deferred_by, deferred_at = row
    return Deferral(warrant, parse_time(until), order_sha256, deferred_by, parse_time(deferred_at))


def from_row(row: tuple[Any, ...]) -> Warrant:
    (wid, spec_text, state, accounts, sub_by, sub_at, dec_by, dec_at, rev_by, rev_at, reason) = row[
        :11
    ]
    review, first = row[11:13]
    return Warrant(
        review=None if review is None else Review.from_json(review),
        first_approved_by=first,
        id=wid,
        spec=spec_from_json(spec_text),
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


class Rows:
    """The WarrantRows interface (gateway.warrants.table) on one DB-API connection (sqlite3 or
    psycopg: both have execute -> cursor) with its dialect's statements."""

    def __init__(self, conn: Any, sql: dict[str, str]) -> None:
        self._conn = conn
        self._sql = sql

    def insert(self, warrant: Warrant, request: tuple[str, str] | None = None) -> None:
        request_id, request_sha256 = request or (None, None)
        self._conn.execute(
            self._sql["insert"],
            (
                warrant.id,
                spec_to_json(warrant.spec),
                warrant.state.value,
                json.dumps(warrant.target_accounts),
                warrant.submitted_by,
                format_time(warrant.submitted_at),
                request_id,
                request_sha256,
                None if warrant.review is None else warrant.review.to_json(),
            ),
        )

    def mark_clock(self, warrant_id: str, clock: str, due_at: str) -> bool:
        """Record that a clock has passed; False if some call recorded it before."""
        cur = self._conn.execute(self._sql["clock_passed"], (warrant_id, clock, due_at))
        return bool(cur.rowcount == 1)

    def clocks_passed(self) -> set[tuple[str, str]]:
        return {(str(w), str(c)) for w, c in self._conn.execute(self._sql["clocks_passed"])}

    def set_first_approval(self, warrant_id: str, principal: str) -> bool:
        """Record the first of two approvals; False if the warrant moved meanwhile."""
        cur = self._conn.execute(
            self._sql["first_approved"], (principal, warrant_id, WarrantState.SUBMITTED.value)
        )
        return bool(cur.rowcount == 1)

    def by_request(self, principal: str, request_id: str) -> tuple[Warrant, str] | None:
        row = self._conn.execute(self._sql["by_request"], (principal, request_id)).fetchone()
        return None if row is None else (from_row(tuple(row[:-1])), str(row[-1]))

    def get(self, warrant_id: str) -> Warrant | None:
        row = self._conn.execute(self._sql["get"], (warrant_id,)).fetchone()
        return None if row is None else from_row(row)

    def set_state(
        self,
        warrant_id: str,
        source: WarrantState,
        target: WarrantState,
        who: str,
        principal: str,
        at: str,
        reason: str | None,
    ) -> bool:
        cur = self._conn.execute(
            self._sql[who],  # who: "decided" or "revoked", never input
            (target.value, principal, at, reason, warrant_id, source.value),
        )
        return bool(cur.rowcount == 1)

    def newest_first(self) -> list[Warrant]:
        return [from_row(r) for r in self._conn.execute(self._sql["newest_first"])]

    def set_target_accounts(self, warrant_id: str, accounts: tuple[str, ...]) -> None:
        self._conn.execute(self._sql["target_accounts"], (json.dumps(accounts), warrant_id))

    # -- preservation holds (gateway.warrants.preservation) -----------------------------------

    def insert_hold(self, hold: Hold, copy: FrozenCopy) -> None:
        self._conn.execute(
            self._sql["hold_insert"],
            (
                hold.warrant,
                format_time(hold.frozen_at),
                format_time(hold.expires_at),
                hold.records,
                hold.content_sha256,
                copy.directory,
            ),
        )
        self.insert_records([(hold.warrant, i, ln) for i, ln in enumerate(copy.lines)])

    def insert_records(self, rows: list[tuple[str, int, str]]) -> None:
        """A frozen copy's lines, (warrant, seq, record) each: inside the approval's audited
        transaction, so the faster the better (PgRows sends them with COPY)."""
        cur = self._conn.cursor()  # both drivers: executemany is the cursor's
        try:
            cur.executemany(self._sql["hold_record"], rows)
        finally:
            cur.close()

    def hold(self, warrant_id: str) -> Hold | None:
        row = self._conn.execute(self._sql["hold"], (warrant_id,)).fetchone()
        return None if row is None else hold_from_row(tuple(row))

    def holds(self) -> list[Hold]:
        return [hold_from_row(tuple(r)) for r in self._conn.execute(self._sql["holds"])]

    def frozen_copy(self, warrant_id: str) -> FrozenCopy | None:
        row = self._conn.execute(self._sql["hold_directory"], (warrant_id,)).fetchone()
        if row is None or row[0] is None:
            return None
        lines = [r[0] for r in self._conn.execute(self._sql["hold_records"], (warrant_id,))]
        return FrozenCopy(tuple(lines), row[0])

    def extend_hold(self, warrant_id: str, expires_at: str, principal: str, at: str) -> bool:
        cur = self._conn.execute(self._sql["hold_extend"], (expires_at, principal, at, warrant_id))
        return bool(cur.rowcount == 1)

    def purge_hold(self, warrant_id: str, at: str) -> bool:
        if self._conn.execute(self._sql["hold_purge"], (at, warrant_id)).rowcount != 1:
            return False
        self._conn.execute(self._sql["hold_purge_records"], (warrant_id,))
        return True

    # -- the notice outbox (gateway.warrants.notices) ------------------------------------------

    def queue_notice(self, notice: Notice) -> bool:
        cur = self._conn.execute(
            self._sql["notice_insert"],
            (
                notice.id,
                notice.warrant,
                notice.account,
                format_time(notice.due_at),
                format_time(notice.queued_at),
                notice.body_json,
                None,
                None,
            ),
        )
        return bool(cur.rowcount == 1)

    def notices(self) -> list[Notice]:
        return [notice_from_row(tuple(r)) for r in self._conn.execute(self._sql["notices"])]

    def notice(self, notice_id: str) -> Notice | None:
        row = self._conn.execute(self._sql["notice"], (notice_id,)).fetchone()
        return None if row is None else notice_from_row(tuple(row))

    def mark_notice_sent(self, notice_id: str, principal: str, at: str) -> bool:
        cur = self._conn.execute(self._sql["notice_sent"], (principal, at, notice_id))
        return bool(cur.rowcount == 1)

    def defer_notices(self, deferral: Deferral) -> int:
        until = format_time(deferral.until)
        self._conn.execute(
            self._sql["deferral_put"],
            (
                deferral.warrant,
                until,
                deferral.order_sha256,
                deferral.deferred_by,
                format_time(deferral.deferred_at),
            ),
        )
        cur = self._conn.execute(self._sql["notices_defer"], (until, deferral.warrant))
        return int(cur.rowcount)

    def deferral(self, warrant_id: str) -> Deferral | None:
        row = self._conn.execute(self._sql["deferral"], (warrant_id,)).fetchone()
        return None if row is None else deferral_from_row(tuple(row))

    def deferrals(self) -> list[Deferral]:
        return [deferral_from_row(tuple(r)) for r in self._conn.execute(self._sql["deferrals"])]

    # -- participation (gateway.warrants.participation) -------------------------------------

    def insert_participation(self, step: Recorded) -> None:
        self._conn.execute(
            self._sql["participation_insert"],
            (
                step.warrant,
                step.seq,
                step.step.value,
                step.document_sha256,
                step.note,
                step.principal,
                format_time(step.recorded_at),
            ),
        )

    def participation(self, warrant_id: str) -> list[Recorded]:
        return [
            Recorded(
                warrant=str(warrant),
                seq=int(seq),
                step=Step(step),
                document_sha256=str(digest),
                note=note,
                principal=str(principal),
                recorded_at=parse_time(at),
            )
            for warrant, seq, step, digest, note, principal, at in self._conn.execute(
                self._sql["participation"], (warrant_id,)
            )
        ]
