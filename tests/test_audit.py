"""The audit log: durable numbered entries, a Merkle tree over them, torn-tail recovery, fail
closed on write errors, and verification that finds and classifies every kind of tampering."""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import random

import pytest

from gateway.audit.checkpoints import Checkpointer, Witness
from gateway.audit.events import PolicyRefused, ReleaseBatch, WarrantApproved, WarrantRevoked
from gateway.audit.files import read_entries, read_lines
from gateway.audit.notes import NoteSigner, NoteVerifier
from gateway.audit.tree import MerkleTree, leaf_hash
from gateway.audit.verify import Fault, verify_lines, verify_log
from gateway.backends.embedded.audit_log import FileAuditLog
from gateway.backends.embedded.checkpoints import FileCheckpoints
from gateway.errors import FailedPrecondition, Unavailable

NOW = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
ORIGIN = "test.example/audit"


def make_log(path: pathlib.Path, n: int) -> None:
    log = FileAuditLog(path, lambda: NOW)
    for i in range(n):
        log.append(WarrantRevoked(warrant="w-x", principal="p", reason=f"entry {i}"))
    log.close()


class TestAuditLog:
    def test_entries_are_numbered_and_survive_reopen(self, tmp_path: pathlib.Path) -> None:
        """Indexes continue across a reopen and the log verifies."""
        path = tmp_path / "audit.log"
        make_log(path, 3)
        make_log(path, 2)
        assert [e["index"] for e in read_entries(path)] == [0, 1, 2, 3, 4]
        assert verify_log(path).faults == []

    def test_lines_are_canonical_json_and_the_tree_is_over_their_exact_bytes(
        self, tmp_path: pathlib.Path
    ) -> None:
        """Each line re-serializes to itself; the log's root is the RFC 6962 root of its lines."""
        path = tmp_path / "audit.log"
        log = FileAuditLog(path, lambda: NOW)
        for i in range(7):
            log.append(PolicyRefused(why=f"Zoë {i}"))
        lines = list(read_lines(path))
        for line in lines:
            assert (
                json.dumps(
                    json.loads(line), sort_keys=True, separators=(",", ":"), ensure_ascii=False
                ).encode()
                == line
            )
        assert log.root(7) == MerkleTree(leaf_hash(x) for x in lines).root()
        assert [log.line(i) for i in range(7)] == lines
        log.close()

    def test_write_failure_breaks_the_log_for_good(self, tmp_path: pathlib.Path) -> None:
        """After one failed write every later append is refused (no retried fsync)."""
        log = FileAuditLog(tmp_path / "audit.log", lambda: NOW)
        log.append(PolicyRefused(why="ok"))
        broken: list[str] = []
        log.on_broken(broken.append)
        full = os.open("/dev/full", os.O_WRONLY)
        os.dup2(full, log.fileno())
        os.close(full)
        with pytest.raises(Unavailable):
            log.append(PolicyRefused(why="lost"))
        assert broken
        with pytest.raises(Unavailable):
            log.append(PolicyRefused(why="again"))

    def test_a_torn_last_line_is_cut_off_and_recorded(self, tmp_path: pathlib.Path) -> None:
        """A half-written last line is removed on open and a recovery entry says what it was."""
        path = tmp_path / "audit.log"
        make_log(path, 4)
        with path.open("ab") as handle:
            handle.write(b'{"event":"release.batch","index":4,"pre')
        log = FileAuditLog(path, lambda: NOW)
        assert log.size == 5
        entries = list(read_entries(path))
        recovered = entries[-1]
        assert recovered["event"] == "audit.recovered" and recovered["index"] == 4
        assert recovered["torn_bytes"] == len(b'{"event":"release.batch","index":4,"pre')
        assert verify_log(path).faults == []
        log.close()


def signer() -> NoteSigner:
    return NoteSigner.generate(ORIGIN)


class TestCheckpoints:
    def test_a_restart_continues_the_same_tree(self, tmp_path: pathlib.Path) -> None:
        """A checkpoint signed before a restart is consistent with the ones after it."""
        key = signer()
        path = tmp_path / "audit.log"
        log = FileAuditLog(path, lambda: NOW)
        log.append(PolicyRefused(why="a"))
        first = Checkpointer(log, key, FileCheckpoints(tmp_path / "checkpoint")).latest()
        log.close()
        log = FileAuditLog(path, lambda: NOW)
        log.append(PolicyRefused(why="b"))
        second = Checkpointer(log, key, FileCheckpoints(tmp_path / "checkpoint")).latest()
        assert second.checkpoint.size == 2
        assert log.root(1) == first.checkpoint.root
        log.close()

    def test_refuses_to_sign_over_a_log_that_no_longer_matches(
        self, tmp_path: pathlib.Path
    ) -> None:
        """If the log was changed behind the gateway's back it signs no contradicting head."""
        key = signer()
        path = tmp_path / "audit.log"
        log = FileAuditLog(path, lambda: NOW)
        for i in range(3):
            log.append(PolicyRefused(why=f"a {i}"))
        Checkpointer(log, key, FileCheckpoints(tmp_path / "checkpoint")).latest()
        log.close()
        lines = path.read_bytes().splitlines(keepends=True)
        path.write_bytes(b"".join(lines[:2]))  # cut the tail
        log = FileAuditLog(path, lambda: NOW)
        with pytest.raises(FailedPrecondition, match="no longer matches"):
            Checkpointer(log, key, FileCheckpoints(tmp_path / "checkpoint"))
        log.close()

    def test_export_every_n_entries(self, tmp_path: pathlib.Path) -> None:
        """With N=10, a witness directory receives a checkpoint every 10 entries."""
        log = FileAuditLog(tmp_path / "audit.log", lambda: NOW)
        checkpoints = Checkpointer(
            log,
            signer(),
            FileCheckpoints(tmp_path / "checkpoint"),
            Witness(str(tmp_path / "witness")),
            every_entries=10,
            every_seconds=1e9,
        )
        for i in range(35):
            log.append(PolicyRefused(why=f"a {i}"))
            checkpoints.maybe_export()
        names = sorted(p.name for p in (tmp_path / "witness").iterdir())
        assert names == [f"{n:012d}.checkpoint" for n in (10, 20, 30)]
        log.close()

    def test_export_after_t_seconds(self, tmp_path: pathlib.Path) -> None:
        """With T=60 and a moved monotonic clock, a checkpoint is exported before N entries."""
        now = [0.0]
        log = FileAuditLog(tmp_path / "audit.log", lambda: NOW)
        checkpoints = Checkpointer(
            log,
            signer(),
            FileCheckpoints(tmp_path / "checkpoint"),
            Witness(str(tmp_path / "witness")),
            every_entries=1000,
            every_seconds=60,
            monotonic=lambda: now[0],
        )
        log.append(PolicyRefused(why="a"))
        assert checkpoints.maybe_export() is None
        now[0] = 61
        exported = checkpoints.maybe_export()
        assert exported is not None and exported.checkpoint.size == 1
        log.close()


# -- tampering on a log of 1,000 entries ------------------------------------------------------

SIZE = 1000
EVERY = 100


@pytest.fixture(scope="module")
def big_log(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[list[bytes], list[tuple[str, str]], NoteVerifier]:
    root = tmp_path_factory.mktemp("big")
    key = signer()
    log = FileAuditLog(root / "audit.log", lambda: NOW)
    checkpoints = Checkpointer(
        log,
        key,
        FileCheckpoints(root / "checkpoint"),
        Witness(str(root / "witness")),
        every_entries=EVERY,
        every_seconds=1e9,
    )
    rng = random.Random(5)
    for i in range(SIZE):
        warrant, principal = f"w-{rng.randrange(10**6):06d}", rng.choice(["alice", "bob"])
        log.append(
            rng.choice(
                [
                    WarrantApproved(warrant=warrant, principal=principal, reason=None),
                    ReleaseBatch(
                        warrant=warrant,
                        principal=principal,
                        batch=i,
                        policy="v",
                        counts={},
                        records=[
                            [f"messages:{rng.randrange(10**5)}", f"{rng.getrandbits(256):064x}"]
                            for _ in range(rng.randrange(3))
                        ],
                    ),
                ]
            )
        )
        checkpoints.maybe_export()
    checkpoints.latest()
    log.close()
    exported = [(p.name, p.read_text()) for p in sorted((root / "witness").iterdir())]
    assert len(exported) == SIZE // EVERY
    latest = [("latest", (root / "checkpoint").read_text())]
    lines = list(read_lines(root / "audit.log"))
    return lines, exported + latest, NoteVerifier.from_key(key.verifier_key)


def faults(
    lines: list[bytes], checkpoints: list[tuple[str, str]], key: NoteVerifier
) -> list[tuple[str, int]]:
    return [(f.kind, f.index) for f in verify_lines(lines, [key], checkpoints).faults]


class TestTampering:
    def test_the_untouched_log_verifies(self, big_log: tuple) -> None:
        lines, checkpoints, key = big_log
        assert faults(lines, checkpoints, key) == []

    @pytest.mark.parametrize("index", [0, 1, 137, 500, 998, SIZE - 1])
    def test_every_single_byte_change_is_modified(self, big_log: tuple, index: int) -> None:
        """Each byte of the sampled entry, changed, is reported as that entry modified."""
        lines, checkpoints, key = big_log
        original = lines[index]
        for position in range(len(original)):
            changed = bytearray(original)
            changed[position] ^= 0x01
            tampered = [*lines[:index], bytes(changed), *lines[index + 1 :]]
            found = faults(tampered, checkpoints, key)
            assert found, f"byte {position} of entry {index} changed unnoticed"
            assert {kind for kind, _ in found} == {"modified"}, (position, found)
            # The last entry has no successor whose link could tell a changed `prev` field from a
            # changed predecessor; elsewhere the very entry is named.
            allowed = {index, index - 1} if index == SIZE - 1 else {index}
            assert found[0][1] in allowed, (position, found)

    def test_every_single_deletion_is_missing_or_truncated(self, big_log: tuple) -> None:
        lines, checkpoints, key = big_log
        for index in range(SIZE):
            found = faults(lines[:index] + lines[index + 1 :], checkpoints, key)
            expected = ("truncated", index) if index == SIZE - 1 else ("missing", index)
            assert found == [expected], (index, found)

    def test_every_adjacent_swap_is_reordered(self, big_log: tuple) -> None:
        lines, checkpoints, key = big_log
        for index in range(SIZE - 1):
            swapped = [*lines[:index], lines[index + 1], lines[index], *lines[index + 2 :]]
            assert faults(swapped, checkpoints, key) == [("reordered", index)], index

    @pytest.mark.parametrize("index", [0, 250, SIZE - 1])
    def test_a_duplicated_entry_is_inserted(self, big_log: tuple, index: int) -> None:
        lines, checkpoints, key = big_log
        duplicated = [*lines[: index + 1], lines[index], *lines[index + 1 :]]
        assert faults(duplicated, checkpoints, key) == [("inserted", index + 1)]

    def test_every_truncation_behind_an_exported_checkpoint_is_truncated(
        self, big_log: tuple
    ) -> None:
        """With only the witness's exported checkpoints (no latest), any cut before the last
        exported size is found, at the cut."""
        lines, checkpoints, key = big_log
        exported = checkpoints[:-1]
        last_exported = SIZE // EVERY * EVERY
        for size in range(last_exported):
            assert faults(lines[:size], exported, key) == [("truncated", size)], size

    @pytest.mark.parametrize("claimed", [SIZE + 5_000, 10**12, 2**62])
    def test_a_huge_claimed_index_is_one_bounded_fault(self, big_log: tuple, claimed: int) -> None:
        """A tampered last entry claiming an absurd index is named at once, in one fault for the
        whole run it pretends is missing: the verifier never lists (or holds) a fault per entry
        of that run (it would hang `wsg audit verify` and the gateway's start)."""
        lines, checkpoints, key = big_log
        entry = json.loads(lines[-1])
        entry["index"] = claimed
        tampered = [*lines[:-1], json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()]
        found = verify_lines(tampered, [key], checkpoints).faults
        assert [(f.kind, f.index) for f in found][:1] == [("missing", SIZE - 1)]
        assert len(found) <= 3 and str(claimed - (SIZE - 1)) in found[0].detail

    def test_a_checkpoint_with_a_bad_signature_is_reported(self, big_log: tuple) -> None:
        lines, checkpoints, key = big_log
        label, note = checkpoints[-1]
        body, _, signature = note.rpartition("\n\n")
        forged = body.replace(f"\n{SIZE}\n", f"\n{SIZE - 1}\n") + "\n\n" + signature
        found = verify_lines(lines, [key], [(label, forged)]).faults
        assert [f.kind for f in found] == ["bad_signature"]

    def test_faults_are_all_reported_not_just_the_first(self, big_log: tuple) -> None:
        lines, checkpoints, key = big_log
        tampered = list(lines)
        tampered[100] = tampered[100].replace(b"alice", b"mallory").replace(b"bob", b"mallory")
        tampered[600], tampered[601] = tampered[601], tampered[600]
        del tampered[800]
        found = faults(tampered, checkpoints, key)
        assert (
            ("modified", 100) in found and ("reordered", 600) in found and ("missing", 800) in found
        )
        assert isinstance(verify_lines(tampered).faults[0], Fault)
