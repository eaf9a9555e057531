"""`python -m bench release --profile`: where the gateway process spends a release, by stage.

py-spy samples the `wsg serve` process (every thread, idle or not) while a release runs, and
writes the samples as collapsed stacks (`gateway.txt`: one `frame;frame;... count` line per
stack, what flamegraph.pl, inferno and speedscope read). The samples of the thread running the
release (the servicer's generator, and gRPC sending what it yields) are then put each in the
first stage (STAGES) one of its frames names, from the innermost frame out; a stage's share of
them, times the measured release's seconds per record, is its cost per record. The profiled
release is an extra one: sampling slows the process, so its rate is not a figure.
"""

from __future__ import annotations

import collections
import contextlib
import pathlib
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

RATE = 250  # samples per second: a 2 s release gives ~500 samples

# (stage, what a frame of it contains); a sample goes to the first stage whose pattern one of
# its frames holds, scanning from the innermost frame out. Order matters: the minimizer before
# the payload stage that calls it, the audit log before the batch that writes to it.
STAGES: list[tuple[str, tuple[str, ...]]] = [
    ("text minimizer", ("release/minimize/",)),
    ("pseudonyms", ("release/pseudonyms.py",)),
    ("audit (entry, fsync)", ("audit/", "backends/embedded/audit_log", "backends/postgres/audit")),
    ("wire bytes", ("api/wire.py", "api/convert.py")),
    ("SQL read (rows, records)", ("stores/", "db/postgres.py", "psycopg")),
    ("payload (JSON, sha256)", ("release/payload.py",)),
    ("decisions", ("release/decide.py", "policy/")),
    ("batches (pipeline)", ("release/pipeline.py", "release/spans.py")),
    ("gRPC send", ("grpc/",)),
]
OTHER = "other (idle threads, start-up)"


def available() -> str | None:
    """The py-spy executable beside this Python (the bench extra installs it), or on PATH."""
    here = pathlib.Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


@contextlib.contextmanager
def sampling(pid: int, out: pathlib.Path) -> Iterator[None]:
    """py-spy recording process `pid` into `out` (collapsed stacks) while the block runs."""
    spy = available()
    if spy is None:
        raise RuntimeError("--profile needs py-spy: pip install -e '.[bench]'")
    out.parent.mkdir(parents=True, exist_ok=True)
    log = out.with_suffix(".log")
    command = [spy, "record", "--pid", str(pid), "--format", "raw", "--rate", str(RATE)]
    command += ["--nonblocking", "--threads", "--idle", "--output", str(out)]
    with log.open("wb") as err:
        proc = subprocess.Popen(command, stdout=err, stderr=err)
    time.sleep(1.0)  # py-spy attaches
    if proc.poll() is not None:
        raise RuntimeError(f"py-spy could not sample the gateway: {log.read_text()[-500:]}")
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _stage(frames: list[str]) -> str:
    for frame in reversed(frames):
        for stage, patterns in STAGES:
            if any(p in frame for p in patterns):
                return stage
    return OTHER


def stages(collapsed: pathlib.Path) -> dict[str, int]:
    """Samples per stage, from a collapsed-stacks file: only those of the release's thread (a
    stack through gRPC's streaming of a response, which runs the Release servicer)."""
    counts: collections.Counter[str] = collections.Counter()
    for line in collapsed.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        frames = stack.split(";")
        if not any("_stream_response_in_pool" in f for f in frames):
            continue
        counts[_stage(frames)] += int(n)
    return dict(counts)


def per_record(samples: dict[str, int], seconds: float, records: int) -> dict[str, float]:
    """Each stage's µs per released record: its share of the samples of a release that took
    `seconds` for `records` (the measured release, not the profiled one)."""
    total = sum(samples.values())
    if not total or not records:
        return {}
    return {
        stage: round(n / total * seconds / records * 1e6, 2)
        for stage, n in sorted(samples.items(), key=lambda kv: -kv[1])
    }
