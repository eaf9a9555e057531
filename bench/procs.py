"""Server processes for the benchmarks: start, find their address, watch their memory.

Every server under test runs in its own process (its own interpreter and GIL, as in production),
and announces its address as a JSON line {"event": "... serving", "address": ...} on stderr.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

ROOT = pathlib.Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def server(
    args: list[str], log: pathlib.Path, ready_event: str
) -> Iterator[tuple[subprocess.Popen, str]]:
    """Run `python -m ARGS`, yield (process, address) once it logs `ready_event`; stop it after."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", *args],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        yield proc, _wait_ready(proc, log, ready_event)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_ready(proc: subprocess.Popen, log: pathlib.Path, event: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("event") == event:
                return str(record["address"])
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError(f"{' '.join(map(str, proc.args))} did not start:\n{log.read_text()[-2000:]}")


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """Resident memory of a process (VmRSS now, or VmHWM: the peak) in MiB, from /proc."""
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/{pid}/status has no {field}")


class PeakMemory:
    """Peak RSS of a process while a block runs: the kernel's high-water mark, reset at the
    start (clear_refs), with sampling as a fallback where that reset is not allowed."""

    def __init__(self, pid: int, every: float = 0.02) -> None:
        self.pid = pid
        self.every = every
        self.idle = rss_mb(pid)
        self.peak = self.idle
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._reset = False

    def __enter__(self) -> PeakMemory:
        with contextlib.suppress(OSError):
            pathlib.Path(f"/proc/{self.pid}/clear_refs").write_text("5")
            self._reset = True
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.every):
            with contextlib.suppress(OSError, RuntimeError):
                self.peak = max(self.peak, rss_mb(self.pid))

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        if self._reset:
            with contextlib.suppress(OSError, RuntimeError):
                self.peak = max(self.peak, rss_mb(self.pid, "VmHWM"))

    @property
    def above_idle(self) -> float:
        return max(0.0, self.peak - self.idle)


def cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown cpu"


def machine() -> str:
    return f"{cpu_name()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}"
