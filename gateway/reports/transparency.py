"""The transparency report: what was asked and what left, per instrument tier, from the audit log.

Computed only from the log's first N entries, where N is the size of a signed checkpoint the
report names (its note included): anyone holding a copy of the log and the verifier key can check
the note, that those N entries give its root, and recompute every number (`verify`). Nothing else
is read, so the report cannot say anything the log does not.

An event counts in the period when its entry's `ts` lies in [start, end). Its tier is the tier
its warrant's warrant.submitted entry recorded (entries without one: search_warrant), wherever
in the N entries that submission is.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from gateway.audit.entries import parse
from gateway.audit.notes import Checkpoint, NoteError, NoteVerifier, open_checkpoint
from gateway.audit.tree import MerkleTree, leaf_hash
from gateway.model import format_time, parse_time
from gateway.model.vocabulary import Tier

FORMAT = "wsg-transparency-report/1"
DEFAULT_TIER = Tier.SEARCH_WARRANT.value  # entries written before instruments had tiers
# The report's numbers, in the order every format shows them.
COUNTS = (
    "requests_received",
    "approved",
    "rejected",
    "revoked",
    "accounts_specified",
    "requests_with_data_produced",
    "records_released",
    "records_withheld",
    "third_parties_pseudonymized",
)
BREAKDOWNS = ("records_released_by_category", "records_withheld_by_reason")


class ReportError(ValueError):
    """A report that cannot be made or does not verify; the message is one line naming why."""


@dataclasses.dataclass(frozen=True)
class Period:
    """[start, end) in UTC."""

    start: dt.datetime
    end: dt.datetime

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ReportError(
                f"the period must end after it starts (from {format_time(self.start)}, "
                f"to {format_time(self.end)})"
            )

    def holds(self, ts: dt.datetime) -> bool:
        return self.start <= ts < self.end


def parse_day_or_time(text: str, what: str) -> dt.datetime:
    """A DATE (YYYY-MM-DD, midnight UTC) or an RFC 3339 time with a zone."""
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        pass
    else:
        if len(text) == 10:
            return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    try:
        return parse_time(text)
    except ValueError:
        raise ReportError(
            f"{what}: {text!r} is neither a date (YYYY-MM-DD) nor an RFC 3339 time"
        ) from None


def band(value: int, width: int) -> int | str:
    """`value` exactly (width 0), or the band of `width` holding it: 249 -> "0-249"."""
    if width <= 0:
        return value
    low = value // width * width
    return f"{low}-{low + width - 1}"


def banding_statement(width: int) -> str:
    if width <= 0:
        return "Every count is exact."
    return (
        f"Every count is published in bands of {width}: 0-{width - 1}, {width}-{2 * width - 1}, "
        "and so on; a band holds the exact count, which is not published."
    )


@dataclasses.dataclass
class _Tally:
    requests_received: int = 0
    approved: int = 0
    rejected: int = 0
    revoked: int = 0
    accounts_specified: int = 0
    produced: set[str] = dataclasses.field(default_factory=set)
    records_released: int = 0
    records_withheld: int = 0
    third_parties_pseudonymized: int = 0
    by_category: Counter[str] = dataclasses.field(default_factory=Counter)
    by_reason: Counter[str] = dataclasses.field(default_factory=Counter)

    def add(self, other: _Tally) -> None:
        for name in ("requests_received", "approved", "rejected", "revoked"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.accounts_specified += other.accounts_specified
        self.produced |= other.produced
        self.records_released += other.records_released
        self.records_withheld += other.records_withheld
        self.third_parties_pseudonymized += other.third_parties_pseudonymized
        self.by_category.update(other.by_category)
        self.by_reason.update(other.by_reason)

    def published(self, width: int) -> dict[str, Any]:
        exact: dict[str, int] = {
            "requests_received": self.requests_received,
            "approved": self.approved,
            "rejected": self.rejected,
            "revoked": self.revoked,
            "accounts_specified": self.accounts_specified,
            "requests_with_data_produced": len(self.produced),
            "records_released": self.records_released,
            "records_withheld": self.records_withheld,
            "third_parties_pseudonymized": self.third_parties_pseudonymized,
        }
        out: dict[str, Any] = {name: band(exact[name], width) for name in COUNTS}
        out["records_released_by_category"] = {
            k: band(v, width) for k, v in sorted(self.by_category.items())
        }
        out["records_withheld_by_reason"] = {
            k: band(v, width) for k, v in sorted(self.by_reason.items())
        }
        return out


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _counts(value: object) -> dict[str, int]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): _int(v) for k, v in value.items() if _int(v)}


def tally(entries: Iterable[Mapping[str, Any]], period: Period) -> dict[str, _Tally]:
    """Per tier, what the entries inside `period` say (tiers from every submission seen)."""
    tier_of: dict[str, str] = {}
    tiers: dict[str, _Tally] = {}
    for entry in entries:
        event, warrant = entry.get("event"), entry.get("warrant")
        if not isinstance(warrant, str):
            continue
        if event == "warrant.submitted":
            tier = entry.get("tier")
            tier_of[warrant] = tier if isinstance(tier, str) and tier else DEFAULT_TIER
        try:
            inside = period.holds(parse_time(str(entry.get("ts"))))
        except ValueError:
            inside = False
        if not inside:
            continue
        t = tiers.setdefault(tier_of.get(warrant, DEFAULT_TIER), _Tally())
        if event == "warrant.submitted":
            t.requests_received += 1
            accounts = entry.get("target_accounts")
            t.accounts_specified += len(set(accounts)) if isinstance(accounts, list) else 0
        elif event == "warrant.approved":
            t.approved += 1
        elif event == "warrant.rejected":
            t.rejected += 1
        elif event == "warrant.revoked":
            t.revoked += 1
        elif event == "release.completed":
            released = _int(entry.get("released"))
            if released:
                t.produced.add(warrant)
            t.records_released += released
            withheld = _counts(entry.get("withheld"))
            t.records_withheld += sum(withheld.values())
            t.by_reason.update(withheld)
            t.by_category.update(_counts(entry.get("released_by_category")))
            t.third_parties_pseudonymized += _int(entry.get("pseudonymized_parties"))
    return tiers


def _root_b64(checkpoint: Checkpoint) -> str:
    return base64.b64encode(checkpoint.root).decode()


def build(
    lines: Sequence[bytes], note: str, checkpoint: Checkpoint, period: Period, width: int = 0
) -> dict[str, Any]:
    """The report over the first `checkpoint.size` of `lines` (the checkpoint already opened
    from `note`); refuses lines that do not give the checkpoint's root."""
    if width < 0:
        raise ReportError(f"band width: {width} is negative (0 means exact counts)")
    covered = _covered(lines, checkpoint)
    tiers = tally((parse(line) for line in covered), period)
    names = [t.value for t in Tier] + sorted(set(tiers) - {t.value for t in Tier})
    total = _Tally()
    for t in tiers.values():
        total.add(t)
    return {
        "format": FORMAT,
        "period": {"from": format_time(period.start), "to": format_time(period.end)},
        "banding": {"width": width, "statement": banding_statement(width)},
        "checkpoint": {
            "origin": checkpoint.origin,
            "tree_size": checkpoint.size,
            "root_hash": _root_b64(checkpoint),
            "note": note,
        },
        "tiers": {name: tiers.get(name, _Tally()).published(width) for name in names},
        "total": total.published(width),
    }


def _covered(lines: Sequence[bytes], checkpoint: Checkpoint) -> Sequence[bytes]:
    if len(lines) < checkpoint.size:
        raise ReportError(
            f"the log has {len(lines)} entries; the checkpoint covers {checkpoint.size}"
        )
    covered = lines[: checkpoint.size]
    if MerkleTree(leaf_hash(line) for line in covered).root() != checkpoint.root:
        raise ReportError(
            f"the log's first {checkpoint.size} entries do not give the checkpoint's root hash "
            "(the log was changed)"
        )
    return covered


def open_note(note: str, verifiers: Sequence[NoteVerifier]) -> Checkpoint:
    """The checkpoint a signed note commits to, if the verifier key's signature holds."""
    try:
        return open_checkpoint(note, verifiers)
    except NoteError as exc:
        raise ReportError(f"the checkpoint note does not verify: {exc}") from None


def verify(
    report: object, lines: Sequence[bytes], verifiers: Sequence[NoteVerifier]
) -> dict[str, Any]:
    """Check a report against a copy of the log: the note's signature, that the log's first N
    entries give its root, and that recomputing gives the same report. Returns the report;
    ReportError names the first thing that differs."""
    if not isinstance(report, dict) or report.get("format") != FORMAT:
        raise ReportError(f"not a transparency report (format is not {FORMAT!r})")
    note = _field(report, "checkpoint", "note")
    width = _field(report, "banding", "width")
    if not isinstance(note, str):
        raise ReportError("checkpoint.note: not text")
    if not isinstance(width, int) or isinstance(width, bool):
        raise ReportError("banding.width: not a whole number")
    times = []
    for end in ("from", "to"):
        try:
            times.append(parse_time(str(_field(report, "period", end))))
        except ValueError:
            raise ReportError(f"period.{end}: not an RFC 3339 time") from None
    period = Period(*times)
    checkpoint = open_note(note, verifiers)
    recomputed = build(lines, note, checkpoint, period, width)
    difference = first_difference(report, recomputed)
    if difference is not None:
        raise ReportError(difference)
    return report


def _field(report: dict[str, Any], section: str, name: str) -> object:
    part = report.get(section)
    if not isinstance(part, dict) or name not in part:
        raise ReportError(f"{section}.{name}: missing from the report")
    return part[name]


def first_difference(claimed: object, actual: object, path: str = "") -> str | None:
    """Where `claimed` (the report) and `actual` (recomputed from the log) first differ."""
    where = path or "the report"
    if isinstance(claimed, dict) and isinstance(actual, dict):
        for key in sorted(set(claimed) | set(actual), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in actual:
                return f"{sub}: in the report, not in what the log gives"
            if key not in claimed:
                return f"{sub}: the log gives {_show(actual[key])}, the report leaves it out"
            found = first_difference(claimed[key], actual[key], sub)
            if found is not None:
                return found
        return None
    if type(claimed) is not type(actual) or claimed != actual:
        return f"{where}: the report says {_show(claimed)}, the log gives {_show(actual)}"
    return None


def _show(value: object) -> str:
    text = repr(value)
    text = text.replace("\n", "\\n")
    return text if len(text) <= 80 else text[:77] + "..."
