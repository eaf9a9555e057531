"""The release's fast lane: a message part's rows straight to released records, a batch at a time.

What `Payloads.of_values` makes of the Values a message part yields, made in one loop from the
store's rows (stores.base.MessageRows): no Values dict to build and then rewrite, no call per
field, the payload's dict built once in its keys' sorted order. It takes only the common case,
a part of message content whose plan is plain (no labels, no Matrix fields) and whose text is
not withheld; anything else goes the general way. tests/test_release_lane.py holds its bytes,
counts and batch entries to the general path's, over generated worlds and policies.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from gateway.audit.canonical import canonical_bytes
from gateway.model import Effect, TextMode
from gateway.release.items import Released
from gateway.release.minimize.record import (
    TEXT_WITHHELD,
    UNRESOLVED_WITHHELD,
    Plan,
    RecordMinimizer,
)
from gateway.release.payload import EXPOSES_THIRD_PARTY, RECORD_TOO_LARGE, WITHHELD
from gateway.release.pseudonyms import Pseudonymizer

# The fields (and people) a content record made from a row may carry: the lane runs only where
# the category's RecordShape declares all of them (else such a record is an undeclared field,
# which the general path refuses record by record).
FIELDS = frozenset(
    {"room", "direct", "sent_at", "reply", "forwarded", "attachment", "body", "quote"}
)
PEOPLE = frozenset({"sender", "recipient", "quoted"})
PAGE = 256  # rows read at a time


class MessageLane:
    """One message part's rows made into released records, batch by batch."""

    def __init__(
        self,
        rows: Iterable[tuple[Any, ...]],
        room: Callable[[str, str], tuple[bool, str | None]],
        seen: dict[tuple[str, str], tuple[bool, str | None]],
        time_text: Callable[[int], str | None],
        prefix: str,
        targets: frozenset[str],
        pseudonyms: Pseudonymizer,
        texts: RecordMinimizer,
        max_record_bytes: int,
        record_overhead: int,
    ) -> None:
        # Rows are taken a page at a time (a cursor's fetchmany where there is one): SQLite
        # steps through a page in one go instead of between the records' Python work.
        fetchmany = getattr(rows, "fetchmany", None)
        if fetchmany is not None:
            self._fetch: Callable[[], list[tuple[Any, ...]]] = lambda: fetchmany(PAGE)
        else:
            remaining = iter(rows)
            self._fetch = lambda: list(itertools.islice(remaining, PAGE))
        self._buffer: list[tuple[Any, ...]] = []
        self._at = 0
        self._room = room
        self._seen = seen
        self._time_text = time_text
        self._prefix = prefix
        self._targets = targets
        self._pseudonyms = pseudonyms
        self._texts = texts
        self._max_record = max_record_bytes
        self._overhead = record_overhead
        self.done = False

    def fill(
        self,
        batch: list[Released],
        withheld: Counter[str],
        answer: tuple[Any, str, str],
        room_left: int,
        bytes_now: int,
        bytes_max: int,
        examine: int,
    ) -> tuple[int, int, bool]:
        """Read up to `examine` rows, appending released records to `batch` (at most
        `room_left`, their weight kept under `bytes_max`) and counting withheld ones in
        `withheld` by reason. Returns (rows examined, the batch's weight now, whether the batch
        is full); `done` once the rows have run out. A record that does not fit is made once
        and kept for the next batch, where it comes first (the general path does the same)."""
        examined = 0
        if self._kept is not None:  # the batch is new: it fits
            kept, weight = self._kept
            self._kept = None
            examined += 1
            batch.append(kept)
            bytes_now += weight
            room_left -= 1
            if room_left <= 0:
                return examined, bytes_now, True
        decision, effect, category = answer
        if decision.effect is Effect.WITHHOLD:
            counted = self._skip(examine - examined)
            if counted:  # (a reason counts only records it withheld)
                reason = decision.reason or WITHHELD
                withheld[reason] = withheld.get(reason, 0) + counted
            return examined + counted, bytes_now, False
        clear = decision.effect is Effect.RELEASE
        mode = decision.text or TextMode.WITHHOLD
        no_text = mode is TextMode.WITHHOLD
        unresolved_out = mode is TextMode.WITHHOLD_UNRESOLVED
        texts = self._texts
        minimize = None
        targets, pseudonym = self._targets, self._pseudonyms
        of_room = pseudonym.of_room
        seen, room_of, time_text = self._seen, self._room, self._time_text
        prefix, max_record, overhead = self._prefix, self._max_record, self._overhead
        sha256, dumps, append = hashlib.sha256, orjson.dumps, batch.append
        full = False
        buffer, at = self._buffer, self._at
        while examined < examine:
            if at >= len(buffer):
                buffer, at = self._fetch(), 0
                if not buffer:
                    self.done = True
                    break
            row = buffer[at]
            at += 1
            examined += 1
            mid, room, sender, sent, body, quote, attachment, fwd, quoted = row
            known = seen.get((room, sender))
            direct, recipient = known if known is not None else room_of(room, sender)
            if fwd is not None:
                quote, body, quoted, reply, forwarded = body, None, fwd, False, True
            else:
                reply, forwarded = quoted is not None, False
            if clear and (
                sender not in targets
                or (recipient is not None and recipient not in targets)
                or (quoted is not None and quoted not in targets)
            ):
                withheld[EXPOSES_THIRD_PARTY] = withheld.get(EXPOSES_THIRD_PARTY, 0) + 1
                continue
            if no_text:
                for text in (body, attachment, quote):
                    if text is not None:
                        texts.texts_withheld += 1
                body = TEXT_WITHHELD if body is not None else None
                attachment = TEXT_WITHHELD if attachment is not None else None
                quote = TEXT_WITHHELD if quote is not None else None
            else:
                if quote is not None:
                    if quoted in targets:
                        quote = texts.text_value(quote, mode)
                    else:
                        quote = texts.marker(quoted, None, forwarded)
                        texts.quotes_withheld += 1
                if body is not None:
                    if isinstance(body, str) and body:
                        if minimize is None:
                            minimize = texts.text_minimizer()
                        body, unresolved = minimize(body)
                        if unresolved and unresolved_out:
                            texts.texts_withheld += 1
                            body = UNRESOLVED_WITHHELD
                    else:
                        body = texts.text_value(body, mode)
                if attachment is not None:  # (rare: the body, above, is made inline)
                    attachment = texts.text_value(attachment, mode)
            record_id = prefix + mid
            # The payload's keys in sorted order (orjson keeps the order given): what the
            # general path writes with OPT_SORT_KEYS.
            payload: dict[str, object] = {
                "attachment": attachment,
                "body": body,
                "category": category,
                "direct": direct,
                "forwarded": forwarded,
                "id": record_id,
                "quote": quote,
            }
            if quoted is not None:
                payload["quoted"] = quoted if quoted in targets else pseudonym(quoted)
            if recipient is not None:
                payload["recipient"] = recipient if recipient in targets else pseudonym(recipient)
            payload["reply"] = reply
            payload["room"] = of_room(room) if isinstance(room, str) else room
            payload["sender"] = sender if sender in targets else pseudonym(sender)
            payload["sent_at"] = time_text(sent)
            try:
                data = dumps(payload)
            except orjson.JSONEncodeError:  # what only the standard library writes
                data = canonical_bytes(payload)
            weight = len(data) + len(record_id) + overhead
            if weight > max_record:
                withheld[RECORD_TOO_LARGE] = withheld.get(RECORD_TOO_LARGE, 0) + 1
                continue
            released = Released(record_id, category, effect, data, sha256(data).hexdigest())
            if batch and bytes_now + weight > bytes_max:
                examined -= 1  # counted with the batch it goes into
                self._kept = (released, weight)
                full = True
                break
            append(released)
            bytes_now += weight
            room_left -= 1
            if room_left <= 0:
                full = True
                break
        self._buffer, self._at = buffer, at
        return examined, bytes_now, full

    def _skip(self, most: int) -> int:
        """Pass over up to `most` rows (a part the policy now withholds): how many there were."""
        skipped = 0
        while skipped < most:
            if self._at >= len(self._buffer):
                self._buffer, self._at = self._fetch(), 0
                if not self._buffer:
                    self.done = True
                    break
            take = min(most - skipped, len(self._buffer) - self._at)
            self._at += take
            skipped += take
        return skipped

    _kept: tuple[Released, int] | None = None


def takes(plan: Plan) -> bool:
    """Whether the lane makes records of this plan exactly as the general path does."""
    return (
        plan.plain
        and plan.fields >= FIELDS
        and plan.people >= PEOPLE
        and plan.rooms == ("room",)
        and plan.quotes == ("quote",)
        and plan.text == ("attachment", "body")
    )
