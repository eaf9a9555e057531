"""Role bindings (issue 13, item 11): changed by an explicit command, applied without a restart,
audited; `wsg init` never changes an existing principal's roles."""

from __future__ import annotations

import hashlib
import json
import pathlib
from typing import Any

import grpc
import pytest
from fixtures_small import ROWS
from test_cli import wsg

from gateway.api.client import ClientError
from gateway.identity.roles import roles_file

BOTH_BACKENDS = True


def _loaded(run: Any) -> list[dict[str, Any]]:
    return [e for e in run.entries() if e["event"] == "roles.loaded"]


class TestReload:
    def test_roles_add_and_remove_apply_without_a_restart(
        self, start_gateway: Any, tmp_path: pathlib.Path
    ) -> None:
        run = start_gateway(ROWS)
        data = tmp_path / "wsg-data"
        with run.client("zoe") as zoe:
            with pytest.raises(ClientError) as denied:
                zoe.list()
            assert denied.value.code is grpc.StatusCode.PERMISSION_DENIED
            # The refusal names the file and the command, not `wsg init` (already run).
            assert str(roles_file(data)) in denied.value.message
            assert f"wsg roles add zoe ROLE --data {data}" in denied.value.message
            added = json.loads(
                wsg("roles", "add", "zoe", "officer", "--data", str(data), "--json").stdout
            )
            assert added == {
                "principal": "zoe",
                "roles": ["officer"],
                "changed": True,
                "file": str(roles_file(data)),
            }
            assert zoe.list() is not None  # no restart
            wsg("roles", "remove", "zoe", "officer", "--data", str(data))
            with pytest.raises(ClientError):
                zoe.list()
        loaded = _loaded(run)
        assert [(e["added"], e["removed"]) for e in loaded] == [
            (["zoe:officer"], []),
            ([], ["zoe:officer"]),
        ]
        assert loaded[-1]["sha256"] == hashlib.sha256(roles_file(data).read_bytes()).hexdigest()

    def test_a_bad_file_keeps_the_last_good_bindings(
        self, start_gateway: Any, tmp_path: pathlib.Path
    ) -> None:
        run = start_gateway(ROWS)
        path = roles_file(tmp_path / "wsg-data")
        good = path.read_bytes()
        with run.client("alice") as alice:
            for bad in (
                b"{not json",
                b'{"alice": ["officer", "superuser"]}',
                b'{"alice": "officer", "alice": "reviewer"}',
                b'["alice"]',
            ):
                path.write_bytes(bad)
                assert alice.list() is not None  # still an officer
                alice.list()  # asked twice: refused once per version of the file
            path.unlink()
            assert alice.list() is not None
            path.write_bytes(good.replace(b'"audit1"', b'"audit2"'))
            alice.list()
        refused = [e for e in run.entries() if e["event"] == "roles.refused"]
        assert [e["sha256"] is None for e in refused] == [False, False, False, False, True]
        assert "is not valid JSON" in refused[0]["why"] and "superuser" not in refused[0]["why"]
        assert "named twice" in refused[2]["why"]
        assert _loaded(run)[-1]["added"] == ["audit2:auditor"]


class TestInit:
    def test_init_refuses_to_change_an_existing_principal(self, tmp_path: pathlib.Path) -> None:
        """Re-running `wsg init` quietly added a role; now it names the command that does."""
        data = tmp_path / "data"
        wsg("init", "--insecure", "--data", str(data), "--principal", "bob:officer")
        again = wsg(
            "init", "--insecure", "--data", str(data), "--principal", "bob:officer", check=False
        )
        assert again.returncode == 0  # the same binding again changes nothing
        before = roles_file(data).read_bytes()
        proc = wsg(
            "init",
            "--data",
            str(data),
            "--principal",
            "carol:officer",
            "--principal",
            "bob:reviewer",
            check=False,
        )
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
        assert f"run `wsg roles add bob reviewer --data {data}`" in proc.stderr
        assert roles_file(data).read_bytes() == before
        assert not (data / "pki").exists()  # nothing half-written: no CA, no certificate
        listed = json.loads(wsg("roles", "list", "--data", str(data), "--json").stdout)
        assert listed == {"bob": ["officer"]}

    def test_roles_command_refuses_unknown_roles_and_names(self, tmp_path: pathlib.Path) -> None:
        data = tmp_path / "data"
        bad_role = wsg("roles", "add", "bob", "root", "--data", str(data), check=False)
        assert bad_role.returncode == 2 and "root" in bad_role.stderr
        bad_name = wsg("roles", "add", "bob smith", "officer", "--data", str(data), check=False)
        assert bad_name.returncode == 2 and "not a valid name" in bad_name.stderr
        assert "Traceback" not in bad_role.stderr + bad_name.stderr
