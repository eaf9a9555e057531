"""The `wsg` CLI contract (docs/architecture.md): real processes against a real `wsg serve`."""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from fixtures_small import NON_TARGETS, ROWS, strings_in

from gateway.testing import bind_test_roles, write_jsonl

WSG = [sys.executable, "-m", "gateway"]


def wsg(
    *args: str, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [*WSG, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"wsg {' '.join(args)} failed: {proc.stderr}")
    return proc


def serving_address(stderr: Any) -> str:
    """The address in the `wsg serving` line (earlier lines say what was loaded)."""
    for line in stderr:
        event = json.loads(line)
        if event.get("event") == "wsg serving":
            return str(event["address"])
    raise AssertionError("wsg serve ended without serving")


@pytest.fixture
def served(tmp_path: pathlib.Path) -> Iterator[dict[str, str]]:
    data = tmp_path / "data"
    out = wsg(
        "store",
        "import",
        str(write_jsonl(tmp_path / "s.jsonl", ROWS)),
        "--data",
        str(data),
        "--json",
    )
    assert json.loads(out.stdout)["imported"]["message"] == 9
    bind_test_roles(data)
    proc = subprocess.Popen(
        [*WSG, "serve", "--insecure", "--listen", "127.0.0.1:0", "--data", str(data)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr
        address = serving_address(proc.stderr)
        yield {"WSG_SERVER": address, "WSG_INSECURE": "1", "DATA": str(data)}
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def warrant_yaml(tmp_path: pathlib.Path, **extra: Any) -> str:
    expires = (dt.datetime.now(dt.UTC) + dt.timedelta(days=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    path = tmp_path / "w.yaml"
    path.write_text(
        'case_number: "2026-GO-1"\nauthority: "Court"\nlegal_basis: "x"\n'
        'targets: ["email:target@example.org"]\n'
        'window: {start: "2026-01-01T00:00:00Z", end: "2026-02-01T00:00:00Z"}\n'
        "categories: [message_content, contacts]\n"
        f'expires_at: "{expires}"\n'
        # Non-disclosure outlasting the test: the gateway's sweep queues no user notice (an
        # audit entry written in the background) while a test reads the log's tail.
        f'nondisclosure_until: "{expires}"\n'
    )
    return str(path)


class TestContract:
    def test_submit_approve_release_audit(
        self, served: dict[str, str], tmp_path: pathlib.Path
    ) -> None:
        """The whole contract table with --json: fields present, values right, exit status 0."""
        env = served
        w = json.loads(
            wsg(
                "warrant",
                "submit",
                warrant_yaml(tmp_path),
                "--identity",
                "alice",
                "--json",
                env=env,
            ).stdout
        )
        assert w["state"] == "SUBMITTED" and w["id"].startswith("w-")
        own = wsg("warrant", "approve", w["id"], "--identity", "alice", env=env, check=False)
        assert own.returncode != 0 and "two-person rule" in own.stderr
        assert len(own.stderr.strip().splitlines()) == 1
        ok = json.loads(
            wsg("warrant", "approve", w["id"], "--identity", "bob", "--json", env=env).stdout
        )
        assert ok["state"] == "APPROVED" and ok["decided_by"] == "bob"
        listed = json.loads(wsg("warrant", "list", "--identity", "carol", "--json", env=env).stdout)
        assert [x["id"] for x in listed] == [w["id"]]
        shown = json.loads(
            wsg("warrant", "show", w["id"], "--identity", "carol", "--json", env=env).stdout
        )
        assert shown["target_accounts"] == ["u1"]

        out = tmp_path / "evidence"
        summary = json.loads(
            wsg(
                "release", w["id"], "--out", str(out), "--identity", "alice", "--json", env=env
            ).stdout
        )
        assert summary["released"] == 4  # m1, m4, m7 and one contact
        assert summary["withheld"] == {"group_peer": 1, "direct_peer_not_requested": 1}
        assert summary["pseudonymized_parties"] == 1  # u2: dm recipient and contact
        found = strings_in(json.loads((out / "manifest.json").read_text()))
        for line in (out / "records.jsonl").read_text().splitlines():
            found |= strings_in(json.loads(line))
        assert not found & NON_TARGETS

        tail = json.loads(wsg("audit", "tail", "--data", env["DATA"], "--json", env=env).stdout)
        assert tail[-1]["event"] == "release.completed" and tail[-1]["warrant"] == w["id"]
        human = wsg("audit", "tail", "--data", env["DATA"], env=env).stdout
        assert "release.batch" in human
        verify = json.loads(wsg("audit", "verify", "--data", env["DATA"], "--json").stdout)
        assert verify["ok"] is True and verify["faults"] == []
        assert verify["tree_size"] == len(tail) and verify["checkpoints_checked"] >= 1

        revoked = json.loads(
            wsg(
                "warrant",
                "revoke",
                w["id"],
                "--reason",
                "done",
                "--identity",
                "bob",
                "--json",
                env=env,
            ).stdout
        )
        assert revoked["state"] == "REVOKED"

    def test_errors_are_one_line(self, served: dict[str, str], tmp_path: pathlib.Path) -> None:
        """Bad file, unknown warrant, no server: one line on stderr, non-zero exit, no traceback."""
        bad = tmp_path / "bad.yaml"
        bad.write_text("case_number: x\n")
        for args, env in [
            (["warrant", "submit", str(bad), "--identity", "a"], served),
            (["warrant", "show", "w-0000000000000000", "--identity", "a"], served),
            (
                ["warrant", "list", "--identity", "a"],
                {"WSG_SERVER": "127.0.0.1:1", "WSG_INSECURE": "1"},
            ),
            (
                ["warrant", "list", "--identity", "a", "--server", "192.0.2.1:5"],
                {"WSG_INSECURE": "1"},
            ),
        ]:
            proc = wsg(*args, env=env, check=False)
            assert proc.returncode != 0, args
            assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
            assert "Traceback" not in proc.stderr

    def test_serve_refuses_insecure_on_a_public_address(self, tmp_path: pathlib.Path) -> None:
        """--insecure binds only to loopback; without it the server does not start at all."""
        proc = wsg(
            "serve", "--insecure", "--listen", "0.0.0.0:0", "--data", str(tmp_path), check=False
        )
        assert proc.returncode == 2 and "loopback" in proc.stderr
        proc = wsg("serve", "--listen", "127.0.0.1:0", "--data", str(tmp_path), check=False)
        assert proc.returncode == 2 and "--insecure" in proc.stderr
        proc = wsg(
            "serve",
            "--insecure",
            "--listen",
            "127.0.0.1:0",
            "--console",
            "0.0.0.0:0",
            "--data",
            str(tmp_path),
            check=False,
        )
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.strip() == (
            "wsg: error: console: --insecure is allowed only on a loopback address "
            "(127.0.0.1, ::1, localhost), not '0.0.0.0'"
        )

    def test_import_of_a_bad_file_loads_nothing(self, tmp_path: pathlib.Path) -> None:
        """A bad line is reported with its number and the store stays empty."""
        rows = [
            *ROWS[:3],
            {
                "kind": "message",
                "id": "mx",
                "room": "nowhere",
                "sender": "u1",
                "sent_at": "2026-01-01T00:00:00Z",
                "body": "x",
            },
        ]
        proc = wsg(
            "store",
            "import",
            str(write_jsonl(tmp_path / "bad.jsonl", rows)),
            "--data",
            str(tmp_path / "d"),
            check=False,
        )
        assert proc.returncode == 2 and "line 4" in proc.stderr
        seeded = json.loads(
            wsg(
                "store",
                "seed",
                "--accounts",
                "30",
                "--seed",
                "3",
                "--data",
                str(tmp_path / "d"),
                "--json",
            ).stdout
        )
        assert seeded["imported"]["account"] == 30  # the bad import left no account behind

    def test_demo_runs(self, tmp_path: pathlib.Path) -> None:
        """`wsg demo` as `make demo` runs it (its default store: the request crosses a review
        threshold, so a second reviewer approves) tells the whole story: the release happens
        and the audit chain is intact."""
        proc = wsg("demo", "--data", str(tmp_path / "demo"))
        assert proc.returncode == 0, proc.stderr
        assert "two-person rule" in proc.stdout
        assert "another reviewer must approve too" in proc.stdout
        assert "reviewer.choi approved it too: APPROVED" in proc.stdout
        assert "left the gateway:" in proc.stdout
        assert "withheld: group_peer" in proc.stdout
        assert "verified: ok" in proc.stdout

    def test_demo_runs_on_a_store_below_the_review_thresholds(self, tmp_path: pathlib.Path) -> None:
        """A smaller store: one reviewer's approval is enough, and the story is the same."""
        proc = wsg("demo", "--data", str(tmp_path / "demo"), "--accounts", "80")
        assert proc.returncode == 0, proc.stderr
        assert "reviewer.lee approved it: APPROVED" in proc.stdout
        assert "approved it too" not in proc.stdout
        assert "left the gateway:" in proc.stdout and "verified: ok" in proc.stdout
