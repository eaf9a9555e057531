"""Private files (issue 13, item 9): what the gateway and the CLI write is the gateway user's
alone, whatever the umask: directories 0700, files 0600 (SQLite's side files included), and
`wsg serve` refuses a data directory other users can read."""

from __future__ import annotations

import json
import os
import pathlib
import stat
import subprocess
from collections.abc import Iterator

import pytest
from fixtures_small import ROWS
from test_cli import WSG, serving_address, warrant_yaml, wsg

from gateway.testing import write_jsonl


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """Every command runs with umask 022, as on most machines: modes must not depend on it."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def loose(*roots: pathlib.Path) -> list[str]:
    """Every directory not 0700 and every file not 0600 under `roots`, themselves included."""
    found = []
    for root in roots:
        for path in [root, *root.rglob("*")]:
            mode = stat.S_IMODE(path.lstat().st_mode)
            want = 0o700 if path.is_dir() else 0o600
            if mode != want:
                found.append(f"{path.relative_to(root.parent)} {mode:04o}")
    return found


def test_everything_serve_store_init_and_release_write_is_private(
    tmp_path: pathlib.Path, loose_umask: None
) -> None:
    data, witness, out = tmp_path / "data", tmp_path / "witness", tmp_path / "evidence"
    source = write_jsonl(tmp_path / "rows.jsonl", ROWS)
    wsg("store", "import", str(source), "--data", str(data))
    wsg("store", "seed", "--accounts", "20", "--data", str(tmp_path / "seeded"))
    wsg("init", "--data", str(tmp_path / "pki"), "--principal", "alice:officer", "--keys")
    for name, role in (("alice", "officer"), ("bob", "reviewer")):
        wsg("roles", "add", name, role, "--data", str(data))
    env = {"WSG_INSECURE": "1", "WSG_DATA": str(data)}
    proc = subprocess.Popen(
        [*WSG, "serve", "--insecure", "--listen", "127.0.0.1:0", "--data", str(data)],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "WSG_WITNESS": str(witness), "WSG_EXPORT_EVERY_ENTRIES": "1"},
    )
    try:
        assert proc.stderr
        env["WSG_SERVER"] = serving_address(proc.stderr)
        made = json.loads(
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
        wsg("warrant", "approve", made["id"], "--identity", "bob", env=env)
        wsg("release", made["id"], "--out", str(out), "--identity", "alice", env=env)
        while_serving = loose(data, witness, out)
        side_files = {p.name for p in data.iterdir()}
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert {"state.db-wal", "store.db", "audit.log", "roles.json"} <= side_files
    assert (out / "manifest.json").exists() and any(witness.iterdir())
    assert while_serving == []
    assert loose(data, witness, out, tmp_path / "seeded", tmp_path / "pki") == []


def test_serve_refuses_a_data_directory_others_can_read(tmp_path: pathlib.Path) -> None:
    """One line naming the directory, its mode and the command that fixes it; nothing started."""
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    for mode in (0o755, 0o750, 0o701):
        data.chmod(mode)
        proc = subprocess.run(
            [*WSG, "serve", "--insecure", "--listen", "127.0.0.1:0", "--data", str(data)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in proc.stderr
        assert f"{data} has mode {mode:04o}" in lines[0] and f"chmod 700 {data}" in lines[0]
        assert not (data / "audit.log").exists()


def test_files_an_older_gateway_left_readable_are_made_private(
    tmp_path: pathlib.Path, loose_umask: None
) -> None:
    """A data directory from before (0700 now, its files 0644): opening them makes them 0600."""
    data = tmp_path / "data"
    wsg("store", "import", str(write_jsonl(tmp_path / "rows.jsonl", ROWS)), "--data", str(data))
    (data / "store.db").chmod(0o644)
    (data / "audit.log").write_bytes(b"")
    (data / "audit.log").chmod(0o644)
    proc = subprocess.Popen(
        [*WSG, "serve", "--insecure", "--listen", "127.0.0.1:0", "--data", str(data)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr
        serving_address(proc.stderr)
        assert loose(data) == []
    finally:
        proc.terminate()
        proc.wait(timeout=20)
