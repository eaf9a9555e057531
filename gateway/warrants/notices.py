"""User notices (issue 16): telling each person a warrant named what left about them, once its
non-disclosure period ends.

When: a warrant's notices are due at the latest of
  - its first completed release that released any record (a `release.completed` entry with
    `released` > 0: a warrant that released nothing, a preservation request say, gets none),
  - its non-disclosure end (`spec.nondisclosure_until`; none: the release itself),
  - the end of the latest court order deferring them (`defer`, audited with the order's hash).
Never before: the gateway looks (its sweep, and whenever notices are listed) and queues them only
once now has reached that time.

Whom: one notice per target account (`warrant.target_accounts`), never anyone else the release
mentioned; its id is derived from the warrant and account, and the outbox's key on both makes
queuing idempotent across calls and replicas.

What: who asked, the legal basis, instrument and tier, categories and window, when it was
released, and how many records (summed over the warrant's completed releases up to the moment it
is queued; a release after that is in the audit log, not in a second notice).

Every queued, sent or deferred notice is an audit entry, written with its row change through the
warrant table's write-ahead path.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import datetime as dt
import json
import re
import threading
from collections.abc import Callable
from typing import Any

from gateway.audit import events
from gateway.audit.log import AuditLog
from gateway.errors import FailedPrecondition, InvalidArgument, NotFound
from gateway.model import Warrant, format_time, parse_time
from gateway.policy.instruments import Catalogue
from gateway.warrants.outbox import Deferral, Notice, notice_id
from gateway.warrants.table import WarrantRows, WarrantTable

GATEWAY = "gateway"  # the principal of a notice the gateway's own sweep queues
_NOTICE_ID = re.compile(r"^n-[0-9a-f]{16}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_COMPLETED = b'"event":"release.completed"'


@dataclasses.dataclass(frozen=True)
class Released:
    """What a warrant's completed releases released, from their `release.completed` entries."""

    at: dt.datetime  # the first that released any record
    releases: int
    records: int
    by_category: tuple[tuple[str, int], ...]

    def add(self, records: int, by_category: dict[str, int]) -> Released:
        counts = collections.Counter(dict(self.by_category))
        counts.update(by_category)
        return dataclasses.replace(
            self,
            releases=self.releases + 1,
            records=self.records + records,
            by_category=tuple(sorted(counts.items())),
        )


class _NothingToDo(Exception):
    """Inside a write: another call or replica got there first, or a deferral came in."""


class Notices:
    def __init__(
        self,
        table: WarrantTable,
        audit: AuditLog,
        clock: Callable[[], dt.datetime],
        catalogue: Catalogue,
    ) -> None:
        self._table = table
        self._audit = audit
        self._clock = clock
        self._catalogue = catalogue
        self._lock = threading.Lock()
        self._read = 0  # the audit log is read on from here
        self._released: dict[str, Released] = {}

    # -- what left, from the audit log --------------------------------------------------------

    def released(self) -> dict[str, Released]:
        """Per warrant, what its completed releases released: the log's `release.completed`
        entries, read on from where the last look ended (all of it once per process)."""
        self._audit.sync()  # a replica sees the releases the others completed
        with self._lock:
            for index, line in self._audit.lines(self._read):
                self._read = index + 1
                if _COMPLETED not in line:
                    continue
                entry = json.loads(line)
                released = int(entry.get("released") or 0)
                if entry.get("event") != "release.completed" or released <= 0:
                    continue
                warrant = str(entry["warrant"])
                counts = entry.get("released_by_category") or {}
                by_category = {str(k): int(v) for k, v in counts.items()}
                first = self._released.get(warrant) or Released(parse_time(entry["ts"]), 0, 0, ())
                self._released[warrant] = first.add(released, by_category)
            return dict(self._released)

    # -- when -------------------------------------------------------------------------------

    @staticmethod
    def due_at(warrant: Warrant, released: Released, deferral: Deferral | None) -> dt.datetime:
        """The later of the first release, the non-disclosure end and the deferral's end."""
        times = [released.at]
        if warrant.spec.nondisclosure_until is not None:
            times.append(warrant.spec.nondisclosure_until)
        if deferral is not None:
            times.append(deferral.until)
        return max(times)

    def _body(self, warrant: Warrant, released: Released) -> dict[str, Any]:
        spec = warrant.spec
        try:
            tier: str | None = self._catalogue.tier_of(spec.instrument).value
        except InvalidArgument:
            tier = None  # an instrument the catalogue no longer defines
        return {
            "authority": spec.authority,
            "legal_basis": spec.legal_basis,
            "instrument": spec.instrument,
            "tier": tier,
            "categories": [c.value for c in spec.categories],
            "window": {
                "start": format_time(spec.window.start),
                "end": format_time(spec.window.end),
            },
            "released_at": format_time(released.at),
            "releases": released.releases,
            "records": released.records,
            "records_by_category": dict(released.by_category),
        }

    # -- queuing ----------------------------------------------------------------------------

    def sweep(self, principal: str = GATEWAY) -> list[Notice]:
        """Queue every notice now due and not yet queued (each audited, once, by whichever call
        or replica gets there first); the notices this call queued."""
        released = self.released()
        now = self._clock()
        with self._table.reading() as rows:
            queued = {(n.warrant, n.account) for n in rows.notices()}
            deferred = {d.warrant: d for d in rows.deferrals()}
            warrants = {wid: rows.get(wid) for wid in released}
        made = []
        for wid, fact in sorted(released.items()):
            warrant = warrants.get(wid)
            if warrant is None:
                continue
            due = self.due_at(warrant, fact, deferred.get(wid))
            if now < due:
                continue
            body = self._body(warrant, fact)
            for account in dict.fromkeys(warrant.target_accounts):  # the targets, no one else
                if (wid, account) in queued:
                    continue
                notice = Notice(notice_id(wid, account), wid, account, due, now, body)
                with contextlib.suppress(_NothingToDo):
                    self._table.write(self._queue(notice, principal, now))
                    made.append(notice)
        return made

    @staticmethod
    def _queue(
        notice: Notice, principal: str, now: dt.datetime
    ) -> Callable[[WarrantRows], tuple[events.Event, BaseException | None]]:
        def change(rows: WarrantRows) -> tuple[events.Event, BaseException | None]:
            deferral = rows.deferral(notice.warrant)
            if deferral is not None and now < deferral.until:
                raise _NothingToDo  # deferred meanwhile: due later
            if not rows.queue_notice(notice):
                raise _NothingToDo
            return events.NoticeQueued(
                notice=notice.id,
                warrant=notice.warrant,
                account=notice.account,
                principal=principal,
                due_at=format_time(notice.due_at),
                records=int(notice.body["records"]),
                body_sha256=notice.body_sha256,
            ), None

        return change

    # -- the outbox ---------------------------------------------------------------------------

    def pending(self, principal: str = GATEWAY) -> list[Notice]:
        """Every notice due and not yet sent, oldest due first (what is due is queued first)."""
        self.sweep(principal)
        now = self._clock()
        with self._table.reading() as rows:
            return [n for n in rows.notices() if n.sent_at is None and n.due_at <= now]

    def of_warrant(self, warrant: Warrant) -> tuple[list[Notice], Deferral | None]:
        """A warrant's notices (queued, sent), one per target account it has queued, and the
        court order deferring them: read by their ids, not by scanning the outbox."""
        with self._table.reading() as rows:
            found = (rows.notice(notice_id(warrant.id, a)) for a in warrant.target_accounts)
            return [n for n in found if n is not None], rows.deferral(warrant.id)

    def notice(self, notice_id: str) -> Notice:
        with self._table.reading() as rows:
            return self._notice_on(rows, notice_id)

    @staticmethod
    def _notice_on(rows: WarrantRows, nid: str) -> Notice:
        found = rows.notice(nid) if _NOTICE_ID.match(nid) else None
        if found is None:
            raise NotFound(f"no notice {nid[:80]!r} (ids are n- and 16 hex)", reason="NO_NOTICE")
        return found

    def mark_sent(self, nid: str, principal: str) -> Notice:
        """Record that a delivery service delivered notice `nid` (audited); a notice is marked
        once, and only while it is due."""
        now = self._clock()

        def change(rows: WarrantRows) -> tuple[events.Event, BaseException | None]:
            notice = self._notice_on(rows, nid)
            if notice.sent_at is not None:
                raise FailedPrecondition(
                    f"notice {nid} was marked sent already (by {notice.sent_by} at "
                    f"{format_time(notice.sent_at)})",
                    reason="NOTICE_SENT",
                )
            if now < notice.due_at:
                raise FailedPrecondition(
                    f"notice {nid} is deferred until {format_time(notice.due_at)}; it may not be "
                    "sent before",
                    reason="NOTICE_DEFERRED",
                )
            if not rows.mark_notice_sent(nid, principal, format_time(now)):
                raise FailedPrecondition(f"notice {nid} changed meanwhile; retry")
            return events.NoticeSent(
                notice=nid, warrant=notice.warrant, account=notice.account, principal=principal
            ), None

        self._table.write(change)
        return self.notice(nid)

    # -- deferral -----------------------------------------------------------------------------

    def defer(
        self, warrant: Warrant, until: dt.datetime, order_sha256: str, principal: str
    ) -> tuple[Deferral, int]:
        """A court order extending non-disclosure: `warrant`'s notices wait until `until`
        (audited with the order's sha256); queued unsent ones move, later ones are queued then.
        The deferral and how many queued notices it moved."""
        if not _SHA256.match(order_sha256):
            raise InvalidArgument(
                f"order_sha256: {order_sha256[:80]!r} is not a sha256 (64 lowercase hex digits)"
            )
        now = self._clock()
        if until <= now:
            raise InvalidArgument(f"until: {format_time(until)} is not in the future")
        ends = warrant.spec.nondisclosure_until
        if ends is not None and until <= ends:
            raise InvalidArgument(
                f"until: {format_time(until)} does not extend the non-disclosure period "
                f"(it ends {format_time(ends)})"
            )
        deferral = Deferral(warrant.id, until, order_sha256, principal, now)
        moved = 0

        def change(rows: WarrantRows) -> tuple[events.Event, BaseException | None]:
            nonlocal moved
            before = rows.deferral(warrant.id)
            if before is not None and until <= before.until:
                raise FailedPrecondition(
                    f"the notices of {warrant.id} are deferred until "
                    f"{format_time(before.until)} already; a deferral only extends",
                    reason="NOTICE_DEFERRED",
                )
            mine = [n for n in rows.notices() if n.warrant == warrant.id]
            if mine and all(n.sent_at is not None for n in mine):
                raise FailedPrecondition(
                    f"the notices of {warrant.id} were sent already; nothing to defer",
                    reason="NOTICE_SENT",
                )
            moved = rows.defer_notices(deferral)
            return events.NoticeDeferred(
                warrant=warrant.id,
                principal=principal,
                until=format_time(until),
                order_sha256=order_sha256,
                notices=moved,
            ), None

        self._table.write(change)
        return deferral, moved
