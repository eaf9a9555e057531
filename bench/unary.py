"""`python -m bench unary`: latency of unary calls (Get, Submit) with concurrent clients.

Each client thread has its own channel and alternates Get of an existing warrant and Submit of a
new one against one `wsg serve`, the way several officers' tools would. Submit includes an
fsync'ed audit entry and a durable warrant row, so its latency is mostly the disk's.
"""

from __future__ import annotations

import pathlib
import statistics
import threading
import time

from bench import procs
from bench.dataset import Shape, build
from bench.release import OFFICER, serve_args, warrant_spec
from gateway.api.client import Client


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(
    clients: int, calls: int, workdir: pathlib.Path, rate: float = 0.0, database: str | None = None
) -> dict[str, object]:
    """`rate`: Get+Submit pairs per second per client (open loop, as officers' tools would
    call); 0 means each client calls again as soon as it has an answer (saturation).
    `database`: a PostgreSQL server to run the gateway on (a scratch schema), instead of SQLite."""
    store = build(Shape.for_messages(10_000), workdir, lambda _: None)
    if database is None:
        return _run(clients, calls, workdir, rate, store, None)
    from bench.postgres import scratch_copy

    with scratch_copy(store, database, lambda _: None) as url:
        return _run(clients, calls, workdir, rate, store, url)


def _run(
    clients: int,
    calls: int,
    workdir: pathlib.Path,
    rate: float,
    store: pathlib.Path,
    database: str | None,
) -> dict[str, object]:
    args = serve_args(store, workdir / "unary", database)
    timings: dict[str, list[float]] = {"get": [], "submit": []}
    lock = threading.Lock()
    with procs.server(args, workdir / "unary.log", "wsg serving") as (_, address):
        with Client(address, OFFICER, insecure=True) as client:
            existing = client.submit(warrant_spec()).id
        barrier = threading.Barrier(clients)

        def work(offset: float) -> None:
            mine: dict[str, list[float]] = {"get": [], "submit": []}
            with Client(address, OFFICER, insecure=True) as client:
                client.get(existing)  # connect before the clock starts
                barrier.wait()
                due = (
                    time.perf_counter() + offset
                )  # clients spread over the period, not in lockstep
                for _ in range(calls):
                    if rate:
                        due += 1 / rate
                        time.sleep(max(0.0, due - time.perf_counter()))
                    for name, call in (
                        ("get", lambda: client.get(existing)),
                        ("submit", lambda: client.submit(warrant_spec())),
                    ):
                        started = time.perf_counter()
                        call()
                        mine[name].append((time.perf_counter() - started) * 1000)
            with lock:
                for name, values in mine.items():
                    timings[name].extend(values)

        period = 1 / rate if rate else 0.0
        threads = [
            threading.Thread(target=work, args=(i * period / clients,)) for i in range(clients)
        ]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
    result: dict[str, object] = {
        "machine": procs.machine(),
        "clients": clients,
        "calls_per_client": calls,
        "pairs_per_second_per_client": rate or "max",
        "calls_per_second": round(2 * clients * calls / elapsed),
    }
    for name, values in timings.items():
        result[f"{name}_p50_ms"] = round(statistics.median(values), 2)
        result[f"{name}_p99_ms"] = round(percentile(values, 0.99), 2)
    return result
