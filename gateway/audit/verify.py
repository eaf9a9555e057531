"""Offline verification of an audit log: what `wsg audit verify` runs, with no server needed.

Two layers, because they answer different questions:
- the entries themselves (each carries its `index` and the sha256 of the line before it) say
  *where* and *how* a log was changed: modified, missing, reordered or inserted lines;
- signed checkpoints (the gateway's latest, any the auditor kept, any a witness exported) prove
  *that* it changed, including a cut-off tail (truncated) that the entries alone cannot show, and
  a checkpoint that does not verify is a fault of its own (bad_signature).
Like CloudTrail's log validation it never stops at the first fault: every fault is reported with
its class and the first index it affects.
"""

from __future__ import annotations

import dataclasses
import hashlib
import pathlib
import re
from collections.abc import Sequence

import orjson

from gateway.audit.files import read_lines
from gateway.audit.notes import Checkpoint, NoteError, NoteVerifier, open_checkpoint
from gateway.audit.tree import MerkleTree, leaf_hash

CLASSES = ("modified", "missing", "reordered", "inserted", "truncated", "bad_signature")
_HEX64 = re.compile(r"[0-9a-f]{64}")
# A run of missing entries longer than this is one fault naming the run, not one per entry: a
# tampered line claiming index 10**12 must not make the verifier list (or hold) 10**12 faults.
MAX_LISTED_MISSING = 1000


@dataclasses.dataclass(frozen=True, order=True)
class Fault:
    index: int
    kind: str
    detail: str = dataclasses.field(default="", compare=False)

    def as_dict(self) -> dict[str, object]:
        return {"class": self.kind, "index": self.index, "detail": self.detail}


@dataclasses.dataclass(frozen=True)
class Report:
    size: int
    root: bytes
    faults: list[Fault]
    checkpoints: list[Checkpoint]

    @property
    def ok(self) -> bool:
        return not self.faults


def _claim(line: bytes) -> tuple[int, str] | None:
    """(index, prev) an entry claims, or None if the line is not a well-formed entry."""
    try:
        entry = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(entry, dict):
        return None
    index, prev = entry.get("index"), entry.get("prev")
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        return None
    if not isinstance(prev, str) or not _HEX64.fullmatch(prev):
        return None
    return index, prev


def entry_faults(
    lines: Sequence[bytes], claims: Sequence[tuple[int, str] | None] | None = None
) -> list[Fault]:
    """Classify changes from the entries' own index and prev fields (no checkpoint needed).
    `claims` are the lines' parsed (index, prev), when the caller has them already."""
    if claims is None:
        claims = [_claim(line) for line in lines]
    faults: list[Fault] = []
    at_index: dict[int, int] = {}  # index -> position of the line standing for it
    seen: set[int] = set()
    last = -1
    position = 0
    while position < len(lines):
        claim = claims[position]
        expected = last + 1
        following = claims[position + 1] if position + 1 < len(claims) else None
        following_index = following[0] if following else None
        if claim is not None and claim[0] == expected:
            at_index[expected], last = position, expected
        elif claim is None or (
            (
                following_index == expected + 1
                or (position == len(lines) - 1 and claim[0] < expected)
            )
            and not _copy_of_seen(lines, position, claim, at_index)
        ):
            faults.append(
                Fault(
                    expected,
                    "modified",
                    "not a well-formed entry" if claim is None else f"claims index {claim[0]}",
                )
            )
            at_index[expected], last = position, expected
        elif claim[0] in seen:
            faults.append(Fault(position, "inserted", f"a second entry {claim[0]}"))
        elif claim[0] == expected + 1 and following_index == expected:
            faults.append(
                Fault(expected, "reordered", f"entries {expected} and {expected + 1} swapped")
            )
            at_index[expected + 1], at_index[expected] = position, position + 1
            seen.add(expected)
            last = expected + 1
            position += 1
        elif claim[0] > expected:
            if claim[0] - expected > MAX_LISTED_MISSING:
                faults.append(
                    Fault(
                        expected,
                        "missing",
                        f"{claim[0] - expected} entries, {expected} to {claim[0] - 1}",
                    )
                )
            else:
                faults.extend(Fault(gone, "missing") for gone in range(expected, claim[0]))
            at_index[claim[0]], last = position, claim[0]
        else:
            faults.append(Fault(claim[0], "reordered", f"entry {claim[0]} found after {last}"))
        if claim is not None:
            seen.add(claim[0])
        position += 1
    faults.extend(_chain_faults(lines, claims, at_index))
    return sorted(set(faults))


def _copy_of_seen(
    lines: Sequence[bytes], position: int, claim: tuple[int, str], at_index: dict[int, int]
) -> bool:
    """A line repeating an entry already placed is an insertion, not a changed entry."""
    earlier = at_index.get(claim[0])
    return earlier is not None and lines[earlier] == lines[position]


def _chain_faults(
    lines: Sequence[bytes], claims: Sequence[tuple[int, str] | None], at_index: dict[int, int]
) -> list[Fault]:
    """Broken prev links. A line whose own prev is wrong *and* whose successor's prev is wrong
    was itself changed; a lone broken link into k means line k-1 changed."""
    broken: set[int] = set()
    for k, position in at_index.items():
        claim = claims[position]
        if k == 0 or claim is None or (k - 1) not in at_index:
            continue
        if claim[1] != hashlib.sha256(lines[at_index[k - 1]]).hexdigest():
            broken.add(k)
    faults: list[Fault] = []
    consumed: set[int] = set()
    for k in sorted(broken):
        if k in consumed:
            continue
        if k + 1 in broken:
            faults.append(
                Fault(k, "modified", "its content and its link to the entry before changed")
            )
            consumed.add(k + 1)
        else:
            faults.append(Fault(k - 1, "modified", f"entry {k} names a different previous entry"))
    return faults


def verify_log(
    path: pathlib.Path,
    verifiers: Sequence[NoteVerifier] = (),
    checkpoints: Sequence[tuple[str, str]] = (),
    origin: str | None = None,
) -> Report:
    """Rebuild the tree from the log file, check every entry and every (label, note) checkpoint."""
    return verify_lines(list(read_lines(path)), verifiers, checkpoints, origin)


def verify_lines(
    lines: Sequence[bytes],
    verifiers: Sequence[NoteVerifier] = (),
    checkpoints: Sequence[tuple[str, str]] = (),
    origin: str | None = None,
) -> Report:
    tree = MerkleTree(leaf_hash(line) for line in lines)
    claims = [_claim(line) for line in lines]
    faults = entry_faults(lines, claims)
    claimed = [c[0] for c in claims if c is not None]
    extent = max(len(lines), max(claimed, default=-1) + 1)  # entries the file accounts for
    opened: list[Checkpoint] = []
    for label, text in checkpoints:
        try:
            checkpoint = open_checkpoint(text, verifiers, origin)
        except NoteError as exc:
            faults.append(Fault(_claimed_size(text), "bad_signature", f"{label}: {exc}"))
            continue
        opened.append(checkpoint)
        if checkpoint.size > extent:
            faults.append(
                Fault(
                    extent,
                    "truncated",
                    f"{label} covers {checkpoint.size} entries, the log ends at {extent}",
                )
            )
        elif (checkpoint.size > len(tree) or tree.root(checkpoint.size) != checkpoint.root) and (
            not any(f.index < checkpoint.size for f in faults)
        ):
            faults.append(
                Fault(
                    _first_unproven(opened, tree, checkpoint),
                    "modified",
                    f"the log's first {checkpoint.size} entries do not match {label}",
                )
            )
    return Report(len(lines), tree.root(), sorted(set(faults)), opened)


def _first_unproven(opened: list[Checkpoint], tree: MerkleTree, bad: Checkpoint) -> int:
    """Lowest index that could have changed: past the largest smaller checkpoint that matches."""
    good = [c.size for c in opened if c.size < bad.size and tree.root(c.size) == c.root]
    return max(good, default=0) if len(tree) != bad.size else max(bad.size - 1, 0)


def _claimed_size(text: str) -> int:
    lines = text.split("\n")
    return int(lines[1]) if len(lines) > 1 and lines[1].isdigit() else 0


def first_fault(lines: Sequence[bytes]) -> Fault | None:
    """The first fault the entries themselves show (no checkpoint needed), or None: what a
    gateway checks before it appends to a log it opens (gateway.api.server)."""
    faults = sorted(entry_faults(lines))
    return faults[0] if faults else None
