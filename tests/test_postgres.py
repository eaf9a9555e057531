"""PostgreSQL deployments: replicas sharing one database, live policy changes, a lost database.

Everything here runs against the real PostgreSQL (a fresh schema per test; see tests/pg.py).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import random
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import grpc
import psycopg
import pytest
from fixtures_small import FEB1, JAN1, ROWS, many_messages
from pg import SERVER, Schema
from tcp_proxy import TcpProxy

from gateway.api.client import Client, ClientError
from gateway.db.postgres import with_search_path
from gateway.errors import FailedPrecondition
from gateway.identity.roles import bind_roles, roles_file
from gateway.settings import DEFAULT_POLICY_DIR
from gateway.testing import bind_test_roles, load_store, make_spec

WSG = [sys.executable, "-m", "gateway"]
OFFICER, REVIEWER = "alice", "bob"
CATEGORIES = ["message_content", "message_metadata", "logins", "contacts", "memberships"]
# Withholds every message body: the first rule wins, so prepending it changes what leaves.
WITHHOLD_CONTENT = (
    "p, *, message_content, *, *, *, *, search_warrant, withhold, policy_change_test, -\n"
)


def wsg(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*WSG, *args], capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"wsg {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
    return proc


def sql(url: str, query: str, *params: Any) -> list[tuple]:  # type: ignore[type-arg]
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def table_entries(url: str) -> list[dict[str, Any]]:
    return [
        json.loads(bytes(line)) for (line,) in sql(url, "SELECT line FROM audit_log ORDER BY idx")
    ]


def approve(
    officer: Client, reviewer: Client, expires: dt.datetime, categories: list[str] = CATEGORIES
) -> str:
    w = officer.submit(make_spec(["account:u1"], categories, JAN1, FEB1, expires))
    reviewer.approve(w.id)
    return w.id


def drain(client: Client, warrant_id: str, batch_size: int = 0) -> tuple[list[Any], Any]:
    """Every released record (warrant, id, sha256) and the summary of one release."""
    records, summary = [], None
    for item in client.release(warrant_id, batch_size):
        kind = item.WhichOneof("item")
        if kind == "batch":
            records += [(warrant_id, r.id, r.sha256, r.category) for r in item.batch.records]
        elif kind == "summary":
            summary = item.summary
    return records, summary


# -- two `wsg serve` processes on one database -----------------------------------------------


class Replica:
    """`wsg serve` as its own process, in development mode, on the shared database."""

    def __init__(self, data: pathlib.Path, url: str) -> None:
        self.data = data
        self.proc = subprocess.Popen(
            [
                *WSG,
                "serve",
                "--insecure",
                "--listen",
                "127.0.0.1:0",
                "--data",
                str(data),
                "--database",
                url,
                "--export-every",
                "50",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            # one officer runs all four workers' releases, on either replica
            env={**os.environ, "WSG_MAX_RELEASES_PER_PRINCIPAL": "4"},
        )
        self.address = self._wait_for_address()

    def _wait_for_address(self) -> str:
        deadline = time.monotonic() + 60
        seen = []
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            if '"wsg serving"' in line:
                threading.Thread(target=lambda: self.proc.stdout.read(), daemon=True).start()  # type: ignore[union-attr]
                return json.loads(line)["address"]
        self.proc.kill()
        raise AssertionError("replica did not start:\n" + "".join(seen))

    def client(self, identity: str) -> Client:
        return Client(self.address, identity, insecure=True)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


@pytest.mark.slow
def test_two_replicas_keep_one_linear_verifiable_log(
    pg_schema: Schema, tmp_path: pathlib.Path
) -> None:
    """Concurrent warrant actions and releases on two replicas for a bounded time: the shared log
    verifies (no gap, fork or duplicate index; every checkpoint either replica signed is
    consistent), holds exactly one entry per action, and covers every record that left."""
    first, second = tmp_path / "replica-1", tmp_path / "replica-2"
    load_store(first, ROWS, pg_schema.url)
    for data in (first, second):
        bind_test_roles(data)
    one = Replica(first, pg_schema.url)  # creates the deployment's keys
    shutil.copytree(first / "keys", second / "keys")  # the Secret every replica mounts
    two = Replica(second, pg_schema.url)
    replicas = [one, two]
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    lock = threading.Lock()
    expected_entries = 0
    released: list[Any] = []
    errors: list[BaseException] = []
    stop_at = time.monotonic() + 8

    def work(seed: int) -> None:
        nonlocal expected_entries
        rng = random.Random(seed)
        try:
            while time.monotonic() < stop_at:
                a, b = rng.sample(replicas, 2)
                with a.client(OFFICER) as officer, b.client(REVIEWER) as reviewer:
                    warrant_id = approve(officer, reviewer, expires)
                    entries = 2  # submitted, approved
                    with rng.choice(replicas).client(OFFICER) as releaser:
                        records, summary = drain(releaser, warrant_id, batch_size=2)
                    entries += 2 + summary.batches  # started, batches, completed
                    if rng.random() < 0.3:
                        reviewer.revoke(warrant_id, "done")
                        entries += 1
                with lock:
                    expected_entries += entries
                    released.extend(records)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for r in replicas:
        r.stop()
    assert not errors, errors[:3]
    assert expected_entries > 40  # the workload really ran concurrently for a while

    report = json.loads(
        wsg("audit", "verify", "--database", pg_schema.url, "--data", str(first), "--json").stdout
    )
    assert report["ok"], report["faults"][:5]
    assert report["tree_size"] == expected_entries
    signers = sql(pg_schema.url, "SELECT count(*) FROM checkpoints")[0][0]
    assert report["checkpoints_checked"] == signers >= 2

    entries = table_entries(pg_schema.url)
    assert [e["index"] for e in entries] == list(range(len(entries)))
    audited = {
        (e["warrant"], rid, digest)
        for e in entries
        if e["event"] == "release.batch"
        for rid, digest in e["records"]
    }
    assert released and {(w, rid, digest) for w, rid, digest, _ in released} <= audited


def test_a_replica_with_other_keys_is_refused(
    pg_schema: Schema, start_gateway: Any, tmp_path: pathlib.Path
) -> None:
    start_gateway(ROWS, data=tmp_path / "a", database=pg_schema.url)
    with pytest.raises(FailedPrecondition, match="differs from the one the deployment"):
        start_gateway(data=tmp_path / "b", database=pg_schema.url)  # made its own keys


# -- policy changes reach every replica ------------------------------------------------------


def _released_categories(run: Any, warrant_id: str) -> set[str]:
    with run.client(OFFICER) as officer:
        records, _ = drain(officer, warrant_id)
    return {category for *_, category in records}


# How long a change may take to reach the other replica: well below the 60 s poll the tests set,
# so only the NOTIFY can carry it in time, and loose enough for a loaded machine, where loading
# and compiling a policy takes seconds.
PROPAGATION = 20.0


def _wait_for(condition: Any, seconds: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if condition():
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"not within {seconds} s")


def test_a_policy_change_through_one_replica_is_enforced_by_the_other(
    pg_schema: Schema, start_gateway: Any, clock: Any, tmp_path: pathlib.Path
) -> None:
    """A policy administrator replaces the rules through replica A (PolicyService); replica B
    enforces them within a bounded time, with no restart (polling is set to 60 s, so it is the
    NOTIFY that carries it), and the log says who changed what and when each replica switched."""
    bind_roles(roles_file(tmp_path / "a"), [("adm", "policy_admin"), ("adm2", "policy_admin")])
    a = start_gateway(ROWS, data=tmp_path / "a", database=pg_schema.url, policy_poll_seconds=60)
    (tmp_path / "b").mkdir(mode=0o700)  # a data directory is private
    shutil.copytree(tmp_path / "a" / "keys", tmp_path / "b" / "keys")
    b = start_gateway(data=tmp_path / "b", database=pg_schema.url, policy_poll_seconds=60)
    with a.client(OFFICER) as officer, b.client(REVIEWER) as reviewer:
        warrant_id = approve(officer, reviewer, clock.now + dt.timedelta(days=30))
    assert "message_content" in _released_categories(b, warrant_id)
    before = b.gateway.policy.version

    new_rules = WITHHOLD_CONTENT + (DEFAULT_POLICY_DIR / "policy.csv").read_text()
    with a.client("adm") as admin, a.client("adm2") as second:
        proposal = admin.propose_policy("release", new_rules, "ticket 42: no message bodies")
        assert a.gateway.policy.version == before  # nothing changes on a proposal
        changed = second.approve_policy(proposal.id)
    assert changed.policy_version == a.gateway.policy.version != before  # A switched at once
    _wait_for(
        lambda: b.gateway.policy.version == changed.policy_version, PROPAGATION
    )  # or it fails
    assert "message_content" not in _released_categories(b, warrant_id)
    log = b.entries()
    change = [e for e in log if e["event"] == "policy.changed"]
    assert [
        (e["principal"], e["proposed_by"], e["proposal"], e["reason"], e["rules_sha256"])
        for e in change
    ] == [("adm2", "adm", proposal.id, "ticket 42: no message bodies", changed.rules_sha256)]
    _wait_for(
        lambda: len([e for e in b.entries() if e["event"] == "policy.loaded"]) == 2, PROPAGATION
    )
    loaded = [e for e in b.entries() if e["event"] == "policy.loaded"]
    assert {e["policy"] for e in loaded} == {changed.policy_version}
    assert all(e["index"] > change[0]["index"] for e in loaded)
    completed = [e for e in b.entries() if e["event"] == "release.completed"][-1]
    assert completed["withheld"].get("policy_change_test", 0) > 0

    # By hand, in SQL: a rule that does not validate is refused, the last good policy stays;
    # so is a valid rule that would release group peers' messages (guarantee 1).
    good = b.gateway.policy.version
    sql(
        pg_schema.url,
        "UPDATE casbin_rule SET v6 = 'maybe' WHERE policy = 'release' AND position = 0",
    )
    _wait_for(lambda: any(e["event"] == "policy.refused" for e in b.entries()), PROPAGATION)
    assert b.gateway.policy.version == good
    sql(
        pg_schema.url,
        "UPDATE casbin_rule SET v0 = 'group_peer', v6 = 'search_warrant',"
        " v7 = 'release_pseudonymized', v8 = '-', v9 = 'pseudonymize'"
        " WHERE policy = 'release' AND position = 0",
    )
    _wait_for(
        lambda: any(
            "guarantee 1" in e.get("why", "") for e in b.entries() if e["event"] == "policy.refused"
        ),
        PROPAGATION,
    )
    assert b.gateway.policy.version == good
    sql(
        pg_schema.url,
        "UPDATE casbin_rule SET v0 = '*', v6 = 'search_warrant', v7 = 'withhold',"
        " v8 = 'policy_change_test', v9 = '-' WHERE policy = 'release' AND position = 0",
    )  # back to the loaded rules
    assert "message_content" not in _released_categories(b, warrant_id)
    # ...and a valid edit by hand is picked up like any other.
    sql(pg_schema.url, "DELETE FROM casbin_rule WHERE policy = 'release' AND position = 0")
    _wait_for(lambda: b.gateway.policy.version == before, PROPAGATION)  # the original rules again
    _wait_for(lambda: "message_content" in _released_categories(b, warrant_id), PROPAGATION)


def test_wsg_policy_load_writes_the_table_only_with_rules_that_load(
    pg_schema: Schema, tmp_path: pathlib.Path
) -> None:
    bad = tmp_path / "bad.csv"
    for text, named in [
        ("p, self, message_content, inside, APPROVED, yes, *, search_warrant, release\n", "fields"),
        (
            "p, group_peer, *, inside, APPROVED, yes, "
            "*, search_warrant, release_pseudonymized, -, pseudonymize\n",
            "guarantee 1",
        ),
    ]:
        bad.write_text(text)
        proc = wsg("policy", "load", str(bad), "--database", pg_schema.url, check=False)
        assert proc.returncode == 2 and named in proc.stderr and "Traceback" not in proc.stderr
    shown = json.loads(wsg("policy", "show", "--database", pg_schema.url, "--json").stdout)
    assert shown["rules"] == ""  # nothing was written (the table is seeded by a gateway's start)
    good = tmp_path / "good.csv"
    good.write_text(WITHHOLD_CONTENT + (DEFAULT_POLICY_DIR / "policy.csv").read_text())
    loaded = json.loads(
        wsg("policy", "load", str(good), "--database", pg_schema.url, "--json").stdout
    )
    shown = json.loads(wsg("policy", "show", "--database", pg_schema.url, "--json").stdout)
    assert (
        shown["rules"].startswith(WITHHOLD_CONTENT)
        and loaded["table_version"] == shown["table_version"] > 0
    )


def test_policy_service_refuses_bad_rules_and_the_embedded_gateway(
    pg_schema: Schema, start_gateway: Any, tmp_path: pathlib.Path
) -> None:
    for data in (tmp_path / "pg", tmp_path / "sqlite"):
        bind_roles(roles_file(data), [("adm", "policy_admin"), ("adm2", "policy_admin")])
    run = start_gateway(ROWS, data=tmp_path / "pg", database=pg_schema.url)
    with run.client("adm") as admin:
        before = admin.get_policy("release")
        for rules, named in [
            ("p, self, logins\n", "fields"),
            (
                "p, unrelated, *, *, APPROVED, yes, "
                "*, search_warrant, release_pseudonymized, -, pseudonymize\n",
                "guarantee 1",
            ),
        ]:
            with pytest.raises(ClientError) as err:
                admin.propose_policy("release", rules, "bad")
            assert err.value.code is grpc.StatusCode.INVALID_ARGUMENT and named in err.value.message
        with pytest.raises(ClientError) as err:
            admin.propose_policy("firewall", "p, a\n")
        assert err.value.code is grpc.StatusCode.INVALID_ARGUMENT
        assert admin.get_policy("release") == before  # nothing was written
        assert not admin.policy_proposals().proposals
    assert not any(e["event"] in ("policy.changed", "policy.proposed") for e in run.entries())
    # The same through the CLI, as two policy administrators at a shell.
    rules = tmp_path / "rules.csv"
    rules.write_text(WITHHOLD_CONTENT + (DEFAULT_POLICY_DIR / "policy.csv").read_text())
    online = ("--server", run.address, "--insecure")
    proposed = json.loads(
        wsg(
            "policy",
            "propose",
            str(rules),
            *online,
            "--identity",
            "adm",
            "--reason",
            "cli",
            "--json",
        ).stdout
    )
    pending = json.loads(wsg("policy", "pending", *online, "--identity", "adm2", "--json").stdout)
    assert [p["id"] for p in pending["proposals"]] == [proposed["id"]]
    done = json.loads(
        wsg("policy", "approve", proposed["id"], *online, "--identity", "adm2", "--json").stdout
    )
    assert done["policy_version"] == run.gateway.policy.version != before.policy_version
    shown = json.loads(wsg("policy", "show", *online, "--identity", "adm", "--json").stdout)
    assert shown["rules"].startswith(WITHHOLD_CONTENT)
    assert [e["reason"] for e in run.entries() if e["event"] == "policy.changed"] == ["cli"]

    embedded = start_gateway(ROWS, data=tmp_path / "sqlite")
    with embedded.client("adm") as admin:
        shown = admin.get_policy("api")
        assert "p, policy_admin, SetPolicy, any" in shown.rules and shown.table_version == 0
        with pytest.raises(ClientError) as err:
            admin.propose_policy("release", (DEFAULT_POLICY_DIR / "policy.csv").read_text())
        assert err.value.code is grpc.StatusCode.FAILED_PRECONDITION
        assert "a change is made to the files" in err.value.message
    refused = [e for e in embedded.entries() if e["event"] == "policy.change_refused"]
    assert [(e["principal"], e["action"]) for e in refused] == [("adm", "propose")]


# -- the database goes away in the middle of a release ---------------------------------------


@pytest.fixture
def pg_proxy() -> Iterator[TcpProxy]:
    """A proxy to the server that outlives the gateways a test starts (asked for before
    start_gateway): their teardown still reads the store, to scan the releases for leaks."""
    parts = urllib.parse.urlsplit(SERVER)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    yield proxy
    proxy.close()


def _through(proxy: TcpProxy, schema: Schema) -> str:
    """The schema's URL with the proxy's port instead of the server's."""
    parts = urllib.parse.urlsplit(SERVER)
    netloc = f"{parts.username or 'postgres'}@127.0.0.1:{proxy.port}"
    return with_search_path(parts._replace(netloc=netloc, query="").geturl(), schema.name)


def test_database_lost_mid_release_stops_it_unavailable_and_the_gateway_recovers(
    pg_proxy: TcpProxy, pg_schema: Schema, start_gateway: Any, clock: Any
) -> None:
    url = _through(pg_proxy, pg_schema)
    run = start_gateway(many_messages(60), database=url)
    with run.client(OFFICER) as officer, run.client(REVIEWER) as reviewer:
        warrant_id = approve(
            officer, reviewer, clock.now + dt.timedelta(days=30), ["message_content"]
        )
    got: list[tuple[str, str]] = []
    with run.client(OFFICER) as officer, pytest.raises(ClientError) as err:
        for item in officer.release(warrant_id, batch_size=2):
            if item.WhichOneof("item") == "batch":
                got += [(r.id, r.sha256) for r in item.batch.records]
                if len(got) >= 4:
                    pg_proxy.cut()
    assert err.value.code is grpc.StatusCode.UNAVAILABLE
    assert len(got) < 60
    # Read past the proxy: every record that left is in an entry that was committed.
    audited = {
        (rid, digest)
        for e in table_entries(pg_schema.url)
        if e["event"] == "release.batch"
        for rid, digest in e["records"]
    }
    assert got and set(got) <= audited

    pg_proxy.restore()

    def release_completes() -> bool:
        try:
            with run.client(OFFICER) as officer:
                records, summary = drain(officer, warrant_id)
            return summary is not None and len(records) >= 60
        except ClientError as exc:
            assert exc.code is grpc.StatusCode.UNAVAILABLE
            return False

    _wait_for(release_completes, 30.0)
    report = json.loads(
        wsg(
            "audit",
            "verify",
            "--database",
            pg_schema.url,
            "--data",
            str(run.gateway.data.root),
            "--json",
        ).stdout
    )
    assert report["ok"], report["faults"][:5]


def test_a_database_unreachable_at_start_is_one_line(tmp_path: pathlib.Path) -> None:
    proc = wsg(
        "serve",
        "--insecure",
        "--listen",
        "127.0.0.1:0",
        "--data",
        str(tmp_path),
        "--database",
        "postgresql://postgres@127.0.0.1:1/none",
        check=False,
    )
    assert proc.returncode == 2 and "unreachable" in proc.stderr and "Traceback" not in proc.stderr


def test_migrations_apply_once_and_report_status(pg_schema: Schema) -> None:
    first = json.loads(wsg("db", "upgrade", "--database", pg_schema.url, "--json").stdout)
    assert first["applied"] == [
        "0001_gateway_state",
        "0002_reference_store",
        "0003_quotes_labels_topics",
        "0004_request_ids",
        "0005_email_key_ascii",
        "0006_policy_proposals",
        "0007_release_indexes",
        "0008_instrument_tier",
        "0009_overbreadth_review",
        "0010_clock_transitions",
        "0011_preservation",
        "0012_notices",
        "0013_participation",
    ]
    assert json.loads(wsg("db", "upgrade", "--database", pg_schema.url, "--json").stdout) == {
        "applied": []
    }
    assert json.loads(wsg("db", "status", "--database", pg_schema.url, "--json").stdout) == {
        "pending": []
    }
    with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
        sql(pg_schema.url, "DELETE FROM audit_log")


def test_releases_beyond_the_pool_are_refused_not_queued(
    pg_schema: Schema, start_gateway: Any, clock: Any
) -> None:
    """pool_size 2 gives one release slot: a second release while one streams is
    RESOURCE_EXHAUSTED at once (instead of waiting on the pool and timing out midway); the slot
    is free again when the first ends."""
    run = start_gateway(many_messages(20), database=pg_schema.url, pool_size=2)
    with run.client(OFFICER) as officer, run.client(REVIEWER) as reviewer:
        warrant_id = approve(
            officer, reviewer, clock.now + dt.timedelta(days=30), ["message_content"]
        )
    with run.client(OFFICER) as first, run.client(OFFICER) as second:
        stream = first.release(warrant_id, batch_size=2)
        assert next(stream).WhichOneof("item") == "started"
        with pytest.raises(ClientError) as err:
            drain(second, warrant_id)
        assert err.value.code is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert sum(len(i.batch.records) for i in stream if i.WhichOneof("item") == "batch") >= 20
        records, summary = drain(second, warrant_id)
        assert summary is not None and len(records) >= 20


def test_every_replica_serves_the_whole_log(
    pg_schema: Schema, start_gateway: Any, clock: Any, tmp_path: pathlib.Path
) -> None:
    """An auditor asking replica B sees what was done through replica A, and B's checkpoint
    covers it with proofs that check."""
    from gateway.api.v1 import wsg_pb2 as pb

    a = start_gateway(ROWS, data=tmp_path / "a", database=pg_schema.url)
    (tmp_path / "b").mkdir(mode=0o700)  # a data directory is private
    shutil.copytree(tmp_path / "a" / "keys", tmp_path / "b" / "keys")
    b = start_gateway(data=tmp_path / "b", database=pg_schema.url)
    with a.client(OFFICER) as officer, a.client(REVIEWER) as reviewer:
        warrant_id = approve(officer, reviewer, clock.now + dt.timedelta(days=30))
    with b.client("audit1") as auditor:
        events = [
            json.loads(e.line)["event"]
            for e in auditor.entries(pb.ListEntriesRequest(warrant_id=warrant_id))
        ]
        assert events == ["warrant.submitted", "warrant.approved"]
        checkpoint = auditor.checkpoint()
        assert checkpoint.tree_size == 2
        proof = auditor.inclusion_proof(1)
    from gateway.audit.tree import leaf_hash, verify_inclusion

    verify_inclusion(leaf_hash(proof.leaf), 1, 2, list(proof.hashes), checkpoint.root_hash)


@pytest.mark.parametrize(
    "command",
    [
        ("audit", "tail"),
        ("audit", "verify"),
        ("policy", "show"),
        ("db", "status"),
        ("store", "seed"),
    ],
)
def test_every_command_on_an_unreachable_database_says_so_in_one_line(
    command: tuple[str, ...],
) -> None:
    proc = wsg(*command, "--database", "postgresql://postgres@127.0.0.1:1/none", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and "unreachable" in proc.stderr, proc.stderr


def test_a_log_changed_behind_the_gateways_back_fails_verification(
    pg_schema: Schema, start_gateway: Any, clock: Any, tmp_path: pathlib.Path
) -> None:
    """Guarantee 6 on PostgreSQL: the table refuses changes, and if its owner drops that guard
    and edits or cuts the log anyway, `wsg audit verify --database` names the fault against the
    checkpoints the replicas signed."""
    from test_audit_service import faults_of, modify_string_value

    run = start_gateway(ROWS, data=tmp_path / "a", database=pg_schema.url)
    with run.client(OFFICER) as officer, run.client(REVIEWER) as reviewer:
        warrant_id = approve(officer, reviewer, clock.now + dt.timedelta(days=30))
        drain(officer, warrant_id)
    run.gateway.stop(grace=None)
    verify = (
        "audit",
        "verify",
        "--database",
        pg_schema.url,
        "--data",
        str(tmp_path / "a"),
        "--json",
    )
    assert faults_of(wsg(*verify)) == []

    line = bytes(sql(pg_schema.url, "SELECT line FROM audit_log WHERE idx = 1")[0][0])
    sql(pg_schema.url, "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
    sql(
        pg_schema.url,
        "UPDATE audit_log SET line = %s WHERE idx = 1",
        modify_string_value(line, "principal"),
    )
    assert ("modified", 1) in faults_of(wsg(*verify, check=False))

    sql(pg_schema.url, "UPDATE audit_log SET line = %s WHERE idx = 1", line)
    last = sql(pg_schema.url, "SELECT max(idx) FROM audit_log")[0][0]
    sql(pg_schema.url, "DELETE FROM audit_log WHERE idx = %s", last)  # cut the tail
    assert [kind for kind, _ in faults_of(wsg(*verify, check=False))] == ["truncated"]


def test_release_rules_stored_before_tiers_keep_their_meaning_for_search_warrants(
    pg_schema: Schema, tmp_path: pathlib.Path
) -> None:
    """Migration 0008 gives rules stored in the old layout (no tier column) a tier: a withhold
    row every tier, a release row search warrants only; the result loads (no tier is given
    more than the law allows) and decides every search-warrant request as the old rules did."""
    from gateway.db import migrate
    from gateway.model import Tier
    from gateway.policy.release import ReleasePolicy, all_requests
    from gateway.policy.rules import parse_rules

    before = tmp_path / "before"
    before.mkdir()
    for path in sorted(migrate.POSTGRESQL.glob("*.sql")):
        if path.name < "0008":
            shutil.copy(path, before / path.name)
    migrate.upgrade(pg_schema.url, before)
    old_rows = [
        "p, *, *, *, REVOKED, *, *, withhold, warrant_not_active, -",
        "p, group_peer, *, *, *, *, *, withhold, group_peer, -",
        "p, self, subscriber, timeless, APPROVED, yes, *, release, -, pseudonymize",
        "p, self, message_content, inside, APPROVED, yes, *, release_pseudonymized, -, withhold",
    ]
    for position, row in enumerate(parse_rules("\n".join(old_rows), "old")):
        sql(
            pg_schema.url,
            "INSERT INTO casbin_rule (policy, position, ptype, v0, v1, v2, v3, v4, v5, v6, v7, v8)"
            " VALUES ('release', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            position,
            *row,
        )
    assert migrate.upgrade(pg_schema.url)[0] == "0008_instrument_tier"
    from gateway.backends.postgres.rules import read_text

    with psycopg.connect(pg_schema.url) as conn:
        text = read_text(conn, "release")
    assert text.splitlines() == [
        "p, *, *, *, REVOKED, *, *, *, withhold, warrant_not_active, -",
        "p, group_peer, *, *, *, *, *, *, withhold, group_peer, -",
        "p, self, subscriber, timeless, APPROVED, yes, *, search_warrant, release, -, pseudonymize",
        "p, self, message_content, inside, APPROVED, yes, *, search_warrant,"
        " release_pseudonymized, -, withhold",
    ]
    policy = ReleasePolicy.load(DEFAULT_POLICY_DIR, text, "migrated")
    released = {
        (r.relation.value, r.category.value, r.tier)
        for r in all_requests()
        if policy.decide(r).effect.value != "withhold"
    }
    assert released == {
        ("self", "subscriber", Tier.SEARCH_WARRANT),
        ("self", "message_content", Tier.SEARCH_WARRANT),
    }
