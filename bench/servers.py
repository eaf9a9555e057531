"""The two baselines, as gRPC servers speaking wsg's ReleaseService over the same store.

raw    the floor of the hardware and stack: SQLite rows -> protobuf records -> gRPC stream in
       batches of 500. No policy, no pseudonyms, no audit.
naive  the same decision work done the obvious way: one Casbin enforce per record, one record
       per stream message, one fsync'ed audit line per record.

Run as `python -m bench.servers raw|naive --store PATH [--audit FILE]`; both stream the records of
TARGET's messages in the benchmark window, as the gateway's release of the benchmark warrant does.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sqlite3
import sys
from collections.abc import Iterator
from concurrent import futures

import grpc

from bench.dataset import END, START, TARGET
from gateway.api.v1 import wsg_pb2 as pb
from gateway.api.v1 import wsg_pb2_grpc as pb_grpc
from gateway.audit.canonical import canonical_json
from gateway.model import Category, Effect, Scope, WarrantState, Window
from gateway.policy.release import DecisionRequest, ReleasePolicy
from gateway.release.pseudonyms import Pseudonymizer
from gateway.settings import DEFAULT_POLICY_DIR
from gateway.stores.reference.sqlite import ReferenceStore, to_us

BATCH = 500
RAW_SQL = (
    "SELECT id, room, sender, sent_at, body FROM messages"
    " WHERE sender = ? AND sent_at >= ? AND sent_at < ?"
)
SCOPE = Scope(
    targets=frozenset({TARGET}),
    categories=frozenset({Category.MESSAGE_CONTENT}),
    window=Window(START, END),
)


class RawRelease(pb_grpc.ReleaseServiceServicer):
    def __init__(self, store: str) -> None:
        self.store = store

    def Release(
        self, request: pb.ReleaseRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.ReleaseResponse]:
        db = sqlite3.connect(self.store)
        try:
            cursor = db.execute(RAW_SQL, (TARGET, to_us(START), to_us(END)))
            index = 0
            while rows := cursor.fetchmany(BATCH):
                records = [
                    pb.Record(
                        id=mid,
                        category="message_content",
                        effect=room,
                        payload=body.encode(),
                        sha256=sender,
                    )
                    for mid, room, sender, _, body in rows
                ]
                yield pb.ReleaseResponse(batch=pb.RecordBatch(index=index, records=records))
                index += 1
        finally:
            db.close()


class NaiveRelease(pb_grpc.ReleaseServiceServicer):
    def __init__(self, store: str, audit: str, limit: int) -> None:
        self.store = ReferenceStore.open(store)
        self.policy = ReleasePolicy.load(DEFAULT_POLICY_DIR)
        self.audit = audit
        self.limit = limit

    def Release(
        self, request: pb.ReleaseRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.ReleaseResponse]:
        pseudonyms = Pseudonymizer(b"naive benchmark secret", "w-naive")
        fd = os.open(self.audit, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        released = 0
        try:
            for record in self.store.records(SCOPE):
                decision = self.policy.decide_direct(
                    DecisionRequest(
                        record.relation,
                        record.category,
                        record.window_position(SCOPE.window),
                        WarrantState.APPROVED,
                        record.category in SCOPE.categories,
                        False,
                    )
                )
                if decision.effect is Effect.WITHHOLD:
                    continue
                payload = {"id": record.id, "category": record.category.value, **record.fields}
                for name, value in record.people.items():
                    payload[name] = value if value == TARGET else pseudonyms(value)
                data = canonical_json(payload).encode()
                digest = hashlib.sha256(data).hexdigest()
                os.write(fd, (json.dumps({"record": record.id, "sha256": digest}) + "\n").encode())
                os.fsync(fd)
                yield pb.ReleaseResponse(
                    batch=pb.RecordBatch(
                        index=released,
                        records=[
                            pb.Record(
                                id=record.id,
                                category=record.category.value,
                                effect=decision.effect.value,
                                payload=data,
                                sha256=digest,
                            )
                        ],
                    )
                )
                released += 1
                if released >= self.limit:
                    return
        finally:
            os.close(fd)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.servers")
    parser.add_argument("kind", choices=["raw", "naive"])
    parser.add_argument("--store", required=True)
    parser.add_argument("--audit", default="naive-audit.log")
    parser.add_argument(
        "--limit", type=int, default=20_000, help="naive: stop after this many records"
    )
    args = parser.parse_args()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    servicer = (
        RawRelease(args.store)
        if args.kind == "raw"
        else NaiveRelease(args.store, args.audit, args.limit)
    )
    pb_grpc.add_ReleaseServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(
        json.dumps({"event": f"{args.kind} serving", "address": f"127.0.0.1:{port}"}),
        file=sys.stderr,
        flush=True,
    )
    server.wait_for_termination()


if __name__ == "__main__":
    main()
