"""`python -m bench release`: gateway release throughput against raw and naive, in one run.

Each pipeline streams the benchmark target's messages from its own server process to a client
in this process that reads every record (the same client work for all three). Rates are records
received per second of wall time from request to the end of the stream.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import pathlib
import shutil
import time
from collections.abc import Callable, Iterable

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from bench import procs
from bench import profile as profiling
from bench.dataset import END, START, TARGET, Shape, build
from gateway.api.auth import PRINCIPAL_HEADER
from gateway.api.client import Client
from gateway.api.v1 import wsg_pb2 as pb
from gateway.api.v1 import wsg_pb2_grpc as pb_grpc
from gateway.identity.roles import bind_roles, roles_file

OFFICER, REVIEWER = "bench.officer", "bench.reviewer"


@dataclasses.dataclass
class Run:
    records: int
    seconds: float

    @property
    def rps(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0


def drain(stream: Iterable[pb.ReleaseResponse]) -> int:
    """Read a release stream to its end, touching every record; returns the record count."""
    count = 0
    for item in stream:
        if item.WhichOneof("item") == "batch":
            for record in item.batch.records:
                count += len(record.payload) > 0
    return count


def timed(call: Callable[[], int]) -> Run:
    started = time.perf_counter()
    records = call()
    return Run(records, time.perf_counter() - started)


def _stub(address: str) -> tuple[grpc.Channel, pb_grpc.ReleaseServiceStub]:
    channel = grpc.insecure_channel(
        address, options=[("grpc.max_receive_message_length", 64 << 20)]
    )
    return channel, pb_grpc.ReleaseServiceStub(channel)


def baseline(kind: str, store: pathlib.Path, workdir: pathlib.Path, limit: int) -> Run:
    args = [
        "bench.servers",
        kind,
        "--store",
        str(store),
        "--limit",
        str(limit),
        "--audit",
        str(workdir / "naive-audit.log"),
    ]
    with procs.server(args, workdir / f"{kind}.log", f"{kind} serving") as (_, address):
        channel, stub = _stub(address)
        with channel:
            return timed(lambda: drain(stub.Release(pb.ReleaseRequest(warrant_id="bench"))))


def _ts(value: dt.datetime) -> Timestamp:
    t = Timestamp()
    t.FromDatetime(value)
    return t


def warrant_spec() -> pb.WarrantSpec:
    return pb.WarrantSpec(
        case_number="BENCH-1",
        authority="Benchmark Court",
        legal_basis="benchmark",
        targets=[f"account:{TARGET}"],
        window=pb.Window(start=_ts(START), end=_ts(END)),
        categories=["message_content"],
        expires_at=_ts(dt.datetime.now(dt.UTC) + dt.timedelta(days=1)),
    )


@dataclasses.dataclass
class GatewayRun(Run):
    idle_rss_mb: float = 0.0
    peak_rss_mb: float = 0.0

    @property
    def peak_above_idle_mb(self) -> float:
        return max(0.0, self.peak_rss_mb - self.idle_rss_mb)


def serve_args(
    store: pathlib.Path,
    data: pathlib.Path,
    database: str | None,
    keys_from: pathlib.Path | None = None,
) -> list[str]:
    """A fresh data directory for `wsg serve` (the store copied in unless it runs on
    PostgreSQL, the bench roles bound, the keys of `keys_from` if given: a second gateway on
    the same database) and the command line that serves it."""
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True, mode=0o700)  # a data directory is private (wsg serve refuses others)
    if keys_from is not None:
        shutil.copytree(keys_from / "keys", data / "keys")
    if database is None:
        shutil.copyfile(store, data / "store.db")
    bind_roles(roles_file(data), [(OFFICER, "officer"), (REVIEWER, "reviewer")])
    args = ["gateway", "serve", "--insecure", "--listen", "127.0.0.1:0", "--data", str(data)]
    return args + ([] if database is None else ["--database", database])


def gateway(
    store: pathlib.Path,
    workdir: pathlib.Path,
    name: str,
    database: str | None = None,
    profile: pathlib.Path | None = None,
    keys_from: pathlib.Path | None = None,
) -> GatewayRun:
    """The real thing: `wsg serve` on a copy of the store (or on PostgreSQL, where the store was
    copied), a warrant approved by two people, the release read through the gRPC stream with
    audit and pseudonyms on. With `profile`, py-spy samples the server during the release
    into that file (bench.profile)."""
    args = serve_args(store, workdir / name, database, keys_from)
    with procs.server(args, workdir / f"{name}.log", "wsg serving") as (proc, address):
        with Client(address, OFFICER, insecure=True) as officer:
            warrant = officer.submit(warrant_spec())
        with Client(address, REVIEWER, insecure=True) as reviewer:
            reviewer.approve(warrant.id)
        channel, stub = _stub(address)
        sampled = (
            contextlib.nullcontext() if profile is None else profiling.sampling(proc.pid, profile)
        )
        with channel, sampled, procs.PeakMemory(proc.pid) as memory:
            request = pb.ReleaseRequest(warrant_id=warrant.id, batch_size=500)
            run = timed(
                lambda: drain(stub.Release(request, metadata=((PRINCIPAL_HEADER, OFFICER),)))
            )
    return GatewayRun(run.records, run.seconds, memory.idle, memory.peak)


@dataclasses.dataclass
class MinimizerCost:
    """The text minimizer alone, in this process, over the target's released bodies."""

    directory_people: int
    directory_ms: float  # reading the directory and building the automaton, once per release
    bodies: int
    with_identifiers: int
    us_per_body: float
    us_per_plain_body: float  # bodies with no digit, '@' or name: the common path
    us_per_identifier_body: float


def minimizer_cost(store_db: pathlib.Path) -> MinimizerCost:
    """Time TextMinimizer over every body of the target's messages in the store the gateway
    released from (its copy, already migrated), split by whether a body names someone."""
    import sqlite3

    from gateway.model import Category, Scope, Window
    from gateway.release.minimize import Directory, TextMinimizer
    from gateway.release.pseudonyms import Pseudonymizer
    from gateway.stores.reference.sqlite import ReferenceStore

    scope = Scope(frozenset({TARGET}), frozenset({Category.MESSAGE_CONTENT}), Window(START, END))
    store = ReferenceStore.open(store_db)
    try:
        started = time.perf_counter()
        people = store.directory(scope)
        directory = Directory(people, scope.targets)
        directory_ms = (time.perf_counter() - started) * 1000
    finally:
        store.close()
    db = sqlite3.connect(store_db)
    bodies = [r[0] for r in db.execute("SELECT body FROM messages WHERE sender = ?", (TARGET,))]
    db.close()
    minimize = TextMinimizer(directory, Pseudonymizer(b"\0" * 32, "bench"))
    changed = [minimize(b)[0] is not b for b in bodies]
    plain = [b for b, c in zip(bodies, changed, strict=True) if not c]
    named = [b for b, c in zip(bodies, changed, strict=True) if c]

    def per_body(texts: list[str]) -> float:
        if not texts:
            return 0.0
        started = time.perf_counter()
        for text in texts:
            minimize(text)
        return (time.perf_counter() - started) / len(texts) * 1e6

    return MinimizerCost(
        len(people),
        directory_ms,
        len(bodies),
        len(named),
        per_body(bodies),
        per_body(plain),
        per_body(named),
    )


@dataclasses.dataclass
class Results:
    messages: int
    target_records: int
    raw: Run
    naive: Run
    gateway: GatewayRun
    scale: GatewayRun | None
    minimizer: MinimizerCost | None = None
    profile: dict[str, object] | None = None

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "machine": procs.machine(),
            "date": dt.date.today().isoformat(),
            "messages": self.messages,
            "target_records": self.target_records,
            "raw_rps": round(self.raw.rps),
            "naive_rps": round(self.naive.rps),
            "gateway_rps": round(self.gateway.rps),
            "gateway_over_raw": round(self.gateway.rps / self.raw.rps, 3),
            "gateway_over_naive": round(self.gateway.rps / self.naive.rps, 1),
            "gateway_seconds": round(self.gateway.seconds, 3),
            "idle_rss_mb": round(self.gateway.idle_rss_mb, 1),
            "peak_rss_mb": round(self.gateway.peak_rss_mb, 1),
            "peak_above_idle_mb": round(self.gateway.peak_above_idle_mb, 1),
            "naive_records_measured": self.naive.records,
        }
        if self.minimizer is not None:
            m = self.minimizer
            out["minimizer"] = {
                "directory_people": m.directory_people,
                "directory_ms": round(m.directory_ms, 1),
                "bodies": m.bodies,
                "bodies_with_identifiers": m.with_identifiers,
                "us_per_body": round(m.us_per_body, 2),
                "us_per_plain_body": round(m.us_per_plain_body, 2),
                "us_per_identifier_body": round(m.us_per_identifier_body, 2),
            }
        if self.profile is not None:
            out["profile"] = self.profile
        if self.scale is not None:
            out["scale_10x_seconds"] = round(self.scale.seconds, 3)
            out["scale_10x_ratio"] = round(self.scale.seconds / self.gateway.seconds, 3)
        else:
            out["scale_10x_ratio"] = None
        return out


def profiled(
    store: pathlib.Path,
    workdir: pathlib.Path,
    measured: Run,
    log: Callable[[str], None],
    database: str | None = None,
) -> dict[str, object]:
    """One more release with py-spy on the server: its collapsed stacks, and each stage's cost
    per record as a share of the measured release's time."""
    out = workdir / "profile" / ("gateway-postgres.txt" if database else "gateway.txt")
    log(f"gateway again, sampled by py-spy into {out} ...")
    keys = workdir / "gateway-postgres" if database else None  # the database's gateway keys
    gateway(store, workdir, "gateway-profile", database, profile=out, keys_from=keys)
    samples = profiling.stages(out)
    return {
        "file": str(out),
        "samples": sum(samples.values()),
        "us_per_record": profiling.per_record(samples, measured.seconds, measured.records),
        "us_per_record_total": round(measured.seconds / measured.records * 1e6, 2),
    }


def run(
    messages: int,
    workdir: pathlib.Path,
    naive_limit: int,
    scale: bool,
    log: Callable[[str], None],
    profile: bool = False,
) -> Results:
    shape = Shape.for_messages(messages)
    store = build(shape, workdir, log)
    log(f"raw: {shape.target_messages:,} records ...")
    raw = baseline("raw", store, workdir, naive_limit)
    log(f"naive: first {min(naive_limit, shape.target_messages):,} records ...")
    naive = baseline("naive", store, workdir, naive_limit)
    log("gateway ...")
    gw = gateway(store, workdir, "gateway-1x")
    log("text minimizer alone ...")
    cost = minimizer_cost(workdir / "gateway-1x" / "store.db")
    big = None
    if scale:
        big_store = build(Shape.for_messages(messages, scale=10), workdir, log)
        log("gateway on the 10x store ...")
        big = gateway(big_store, workdir, "gateway-10x")
        (workdir / "gateway-10x" / "store.db").unlink(missing_ok=True)  # a large copy: free it now
    for check in (raw, gw, big):
        if check is not None and check.records != shape.target_messages:
            raise RuntimeError(
                f"expected {shape.target_messages} records, a pipeline sent {check.records}"
            )
    stages = profiled(store, workdir, gw, log) if profile else None
    return Results(shape.messages, shape.target_messages, raw, naive, gw, big, cost, stages)
