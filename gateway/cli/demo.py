"""`wsg demo`: the whole story on a fresh embedded store, in one process."""

from __future__ import annotations

import datetime as dt
import pathlib
import tempfile

import click
from google.protobuf.timestamp_pb2 import Timestamp

from gateway.api.client import Client
from gateway.api.server import Gateway, ServerConfig
from gateway.api.v1 import wsg_pb2 as pb
from gateway.audit.notes import NoteVerifier
from gateway.audit.verify import verify_log
from gateway.cli.common import console, friendly_errors, state_name
from gateway.cli.release import print_summary, run_release
from gateway.datadir import DataDir
from gateway.identity.roles import bind_roles, roles_file
from gateway.logs import quiet_logging
from gateway.stores.reference.seed import seed as seed_store
from gateway.stores.reference.sqlite import ReferenceStore

OFFICER = "officer.kim"
REVIEWER = "reviewer.lee"
SECOND_REVIEWER = "reviewer.choi"  # for a request whose dry run crosses a review threshold


def _ts(value: dt.datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


@click.command()
@click.option(
    "--data",
    type=click.Path(path_type=pathlib.Path, file_okay=False),
    default=None,
    help="Where to put the demo's state (default: a new temporary directory).",
)
@click.option("--accounts", default=300, show_default=True, help="Size of the generated store.")
@click.option("--seed", "seed_value", default=7, show_default=True)
@friendly_errors
def demo(data: pathlib.Path | None, accounts: int, seed_value: int) -> None:
    """Seed a store, submit a warrant, approve it as someone else, release, and show the result."""
    quiet_logging()
    root = data or pathlib.Path(tempfile.mkdtemp(prefix="wsg-demo-"))
    if (root / "store.db").exists():
        raise ValueError(f"{root} already holds a store; the demo needs a fresh directory")
    dirs = DataDir(root).create()
    store = ReferenceStore.open(dirs.store_db)
    try:
        counts = seed_store(store, accounts, seed_value)
        target = store.suggest_target()
        span = store.time_span()
    finally:
        store.close()
    if target is None or span is None:
        raise ValueError("the generated store has no suitable target; try more --accounts")
    console.rule("[bold]1. a fresh embedded store")
    console.print(", ".join(f"{n} {kind}s" for kind, n in counts.items()) + f"  ({dirs.store_db})")

    # The officer may also review (a small team), so the refusal below is the two-person rule
    # itself, not a missing role.
    bind_roles(
        roles_file(root),
        [
            (OFFICER, "officer"),
            (OFFICER, "reviewer"),
            (REVIEWER, "reviewer"),
            (SECOND_REVIEWER, "reviewer"),
        ],
    )
    gateway = Gateway(ServerConfig(data=root, listen="127.0.0.1:0", insecure=True)).start()
    try:
        start = span[0].replace(hour=0, minute=0, second=0, microsecond=0)
        end = start + (span[1] - span[0]) / 2
        spec = pb.WarrantSpec(
            case_number="2026-GO-1234",
            authority="Seoul Central District Court",
            legal_basis="demo: messages, memberships and contacts of one account",
            targets=[f"account:{target}"],
            window=pb.Window(start=_ts(start), end=_ts(end)),
            categories=["subscriber", "message_content", "memberships", "contacts"],
            expires_at=_ts(dt.datetime.now(dt.UTC) + dt.timedelta(days=30)),
        )
        with Client(gateway.address, OFFICER, insecure=True) as officer:
            w = officer.submit(spec)
            console.rule("[bold]2. the warrant")
            console.print(
                f"{OFFICER} submitted {w.id} for account {target}, window "
                f"[{start:%Y-%m-%d}, {end:%Y-%m-%d}): {state_name(w)}"
            )
            try:
                officer.approve(w.id)
            except Exception as exc:  # noqa: BLE001 - shown, this is the point
                console.print(f"{OFFICER}, also a reviewer, tries to approve it: [red]{exc}[/red]")
        with Client(gateway.address, REVIEWER, insecure=True) as reviewer:
            w = reviewer.approve(w.id, "scope checked")
            console.print(f"{REVIEWER} approved it: {state_name(w)}")
        if w.state == pb.WARRANT_STATE_SUBMITTED and w.review.second_review:
            # The dry run at submission crossed a review threshold (policies/instruments.yaml).
            console.print(
                "its dry run crosses a review threshold ("
                + "; ".join(w.review.second_review)
                + "): another reviewer must approve too"
            )
            with Client(gateway.address, SECOND_REVIEWER, insecure=True) as second:
                w = second.approve(w.id, "second review: scope checked")
                console.print(f"{SECOND_REVIEWER} approved it too: {state_name(w)}")
        out = root / "evidence" / w.id
        with Client(gateway.address, OFFICER, insecure=True) as officer:
            console.rule("[bold]3. the release")
            manifest = run_release(officer, w.id, out, show_progress=True)
        print_summary(manifest, out)
        protected = sum(manifest["withheld"].values())
        console.print(
            f"left the gateway: {manifest['released']} records of {target} only; protected: "
            f"{protected} records of other people withheld, "
            f"{manifest['pseudonymized_parties']} third parties appear only as pseudonyms."
        )
    finally:
        gateway.stop()
    console.rule("[bold]4. the audit log")
    key = dirs.verifier_key.read_text().strip()
    verifier = NoteVerifier.from_key(key)
    report = verify_log(dirs.audit_log, [verifier], [("checkpoint", manifest["audit_checkpoint"])])
    console.print(
        f"{report.size} entries in {dirs.audit_log}; the release's signed checkpoint "
        f"covers {report.checkpoints[0].size if report.checkpoints else 0} of them; "
        + ("verified: ok" if report.ok else f"[red]{len(report.faults)} faults[/red]")
    )
    console.print(f"verifier key: {key}")
    console.print(f"look around: wsg audit tail --data {root}; wsg audit verify --data {root}")
    console.print(
        f"or in a browser: wsg serve --insecure --data {root} --console 127.0.0.1:8080, "
        f"then http://127.0.0.1:8080/ (sign in as {OFFICER}, {REVIEWER} or {SECOND_REVIEWER})"
    )
