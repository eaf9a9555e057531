"""Every field of an evidence package's manifest is bound to the audit log (guarantee 9).

The release.completed entry carries the sha256 of the approved warrant as the manifest shows
it and every count; `wsg audit evidence` checks each manifest field against that entry and the
last batch's entry, both proven in the signed checkpoint. Each edit below, of any one field
anywhere in manifest.json, must be caught.
"""

from __future__ import annotations

import copy
import json
import os
import pathlib
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

from fixtures_small import FEB1, JAN1, ROWS

from gateway.api.package import write_package
from gateway.audit.evidence import MANIFEST, EvidenceError, verify_package
from gateway.audit.notes import NoteVerifier
from gateway.testing import make_spec

BOTH_BACKENDS = True  # every gateway test here also runs on the real PostgreSQL (conftest)

OFFICER, REVIEWER = "alice", "bob"
CATEGORIES = ["message_content", "message_metadata", "memberships", "contacts", "subscriber"]
WSG = [sys.executable, "-m", "gateway"]


def package(run: Any, clock: Any, out: pathlib.Path) -> dict[str, Any]:
    with run.client(OFFICER) as officer:
        w = officer.submit(
            make_spec(["account:u1"], CATEGORIES, JAN1, FEB1, clock.now.replace(year=2027))
        )
    with run.client(REVIEWER) as reviewer:
        reviewer.approve(w.id)
    with run.client(OFFICER) as officer:
        warrant = officer.get(w.id)
        return write_package(out, warrant, officer.release(w.id, 2), batch_size=2)


def paths(value: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a JSON value (each container too), records' first entries only."""
    yield at
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*at, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:1] if at == ("records",) else value):
            yield from paths(item, (*at, index))


def edited(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str):
        return value[:-1] + ("A" if value[-1:] != "A" else "B") if value else "x"
    if isinstance(value, list):
        return [*value, value[-1] if value else "x"]
    if isinstance(value, dict):
        return {**value, "edited": 1}
    return "x"


def edit(manifest: dict[str, Any], at: tuple[Any, ...]) -> dict[str, Any]:
    changed = copy.deepcopy(manifest)
    if not at:
        changed["edited"] = 1
        return changed
    holder = changed
    for key in at[:-1]:
        holder = holder[key]
    holder[at[-1]] = edited(holder[at[-1]])
    return changed


def test_editing_any_manifest_field_is_caught(
    start_gateway: Any, clock: Any, tmp_path: pathlib.Path
) -> None:
    """Every value anywhere in manifest.json (warrant spec and decision, counts, files, proofs,
    record ids), edited or removed, makes the package fail; the untouched one passes."""
    run = start_gateway(ROWS)
    out = tmp_path / "package"
    manifest = package(run, clock, out)
    assert manifest["released"] > 2 and manifest["warrant"]["decided_by"] == REVIEWER
    verifier = NoteVerifier.from_key(run.gateway.data.verifier_key.read_text().strip())
    assert verify_package(out, [verifier]) == manifest
    places = list(paths(manifest))
    uncaught = []
    for at in places:
        changes = [edit(manifest, at)]
        if at:
            removed = copy.deepcopy(manifest)
            holder = removed
            for key in at[:-1]:
                holder = holder[key]
            del holder[at[-1]]
            changes.append(removed)
        for changed in changes:
            (out / MANIFEST).write_text(json.dumps(changed))
            try:
                verify_package(out, [verifier])
            except EvidenceError:
                continue
            uncaught.append(at)
    assert uncaught == [], uncaught
    assert len(places) > 60  # the warrant's fields, the counts and the proofs were all edited


def test_the_cli_names_an_edited_case_number(
    start_gateway: Any, clock: Any, tmp_path: pathlib.Path
) -> None:
    """`wsg audit evidence` exits 1 with one line naming the warrant when the case number in
    manifest.json was changed after the release."""
    run = start_gateway(ROWS)
    out = tmp_path / "package"
    manifest = package(run, clock, out)
    manifest["warrant"]["spec"]["case_number"] = "2026-GO-9999"
    (out / MANIFEST).write_text(json.dumps(manifest))
    proc = subprocess.run(
        [*WSG, "audit", "evidence", str(out), "--data", str(run.gateway.data.root)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.returncode == 1
    assert "warrant is not the warrant the audited release names" in proc.stdout + proc.stderr
