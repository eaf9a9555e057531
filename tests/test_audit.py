"""The audit log: durable entries, a chain that shows edits, fail closed on write errors."""

from __future__ import annotations

import datetime as dt
import os
import pathlib

import pytest

from gateway.audit import AuditLog, read_entries, verify_log
from gateway.errors import Unavailable

NOW = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def make_log(path: pathlib.Path, n: int) -> None:
    log = AuditLog(path, lambda: NOW)
    for i in range(n):
        log.append("test.entry", i=i, warrant="w-x")
    log.close()


class TestAuditLog:
    def test_entries_are_numbered_and_survive_reopen(self, tmp_path: pathlib.Path) -> None:
        """Sequence numbers continue across a reopen and the chain stays intact."""
        path = tmp_path / "audit.log"
        make_log(path, 3)
        make_log(path, 2)
        assert [e["seq"] for e in read_entries(path)] == [0, 1, 2, 3, 4]
        assert verify_log(path) == []

    def test_write_failure_breaks_the_log_for_good(self, tmp_path: pathlib.Path) -> None:
        """After one failed write every later append is refused (no retried fsync)."""
        log = AuditLog(tmp_path / "audit.log", lambda: NOW)
        log.append("ok")
        broken: list[str] = []
        log.on_broken(broken.append)
        full = os.open("/dev/full", os.O_WRONLY)
        os.dup2(full, log.fileno())
        os.close(full)
        with pytest.raises(Unavailable):
            log.append("lost")
        assert broken
        with pytest.raises(Unavailable):
            log.append("again")


class TestVerify:
    @pytest.fixture
    def lines(self, tmp_path: pathlib.Path) -> tuple[pathlib.Path, list[bytes]]:
        path = tmp_path / "audit.log"
        make_log(path, 50)
        return path, path.read_bytes().splitlines(keepends=True)

    def test_edit_is_modified(self, lines: tuple[pathlib.Path, list[bytes]]) -> None:
        """Changing one entry's content is reported as modified at that entry."""
        path, raw = lines
        raw[10] = raw[10].replace(b'"i":10', b'"i":11')
        path.write_bytes(b"".join(raw))
        assert verify_log(path) == [("modified", 10)]

    def test_deletion_is_missing(self, lines: tuple[pathlib.Path, list[bytes]]) -> None:
        """Removing an entry is reported as missing at its index."""
        path, raw = lines
        del raw[20]
        path.write_bytes(b"".join(raw))
        assert ("missing", 20) in verify_log(path)

    def test_swap_is_reordered(self, lines: tuple[pathlib.Path, list[bytes]]) -> None:
        """Swapping two adjacent entries is reported."""
        path, raw = lines
        raw[5], raw[6] = raw[6], raw[5]
        path.write_bytes(b"".join(raw))
        faults = verify_log(path)
        assert faults and {c for c, _ in faults} <= {"missing", "reordered", "modified"}

    def test_duplicate_is_inserted(self, lines: tuple[pathlib.Path, list[bytes]]) -> None:
        """A duplicated entry is reported as inserted."""
        path, raw = lines
        raw.insert(31, raw[30])
        path.write_bytes(b"".join(raw))
        assert ("inserted", 31) in verify_log(path)
