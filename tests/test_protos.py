"""The protos: committed generated code is what scripts/gen_protos.py makes, and buf's lint and
breaking-change checks (buf.yaml) pass. buf is installed by `make test` (tools/package.json)."""

from __future__ import annotations

import importlib.util
import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
BUF = ROOT / "tools" / "node_modules" / ".bin" / "buf"
PROTO = ROOT / "proto" / "wsg" / "v1" / "wsg.proto"
GIT = shutil.which("git") or "/usr/bin/git"


def buf(*args: str, cwd: pathlib.Path = ROOT) -> subprocess.CompletedProcess[str]:
    if not BUF.exists():
        pytest.fail(f"{BUF} is missing: `make test` installs it (npm ci in tools/)")
    return subprocess.run(
        [str(BUF), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def git(*args: str, cwd: pathlib.Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GIT, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


class TestGeneratedCode:
    def test_committed_code_is_not_stale(self, tmp_path: pathlib.Path) -> None:
        """Regenerating into a temporary folder gives byte-identical files."""
        spec = importlib.util.spec_from_file_location(
            "gen_protos", ROOT / "scripts" / "gen_protos.py"
        )
        assert spec and spec.loader
        gen = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(gen)
        fresh = {p.name: p.read_bytes() for p in gen.generate(tmp_path)}
        committed = {
            p.name: p.read_bytes() for p in (ROOT / "gateway" / "api" / "v1").glob("wsg_pb2*")
        }
        assert fresh.keys() == committed.keys()
        stale = [name for name in fresh if fresh[name] != committed[name]]
        assert not stale, f"run `make protos`: {stale} differ from proto/"


class TestBuf:
    def test_lint_is_clean(self) -> None:
        """buf lint (STANDARD and COMMENTS, exceptions stated in the proto) finds nothing."""
        result = buf("lint")
        assert result.returncode == 0, result.stdout + result.stderr

    def test_lint_catches_an_undocumented_field(self, tmp_path: pathlib.Path) -> None:
        """The lint set is strict enough to refuse a field without a doc comment."""
        shutil.copy(ROOT / "buf.yaml", tmp_path / "buf.yaml")
        target = tmp_path / "proto" / "wsg" / "v1" / "wsg.proto"
        target.parent.mkdir(parents=True)
        text = PROTO.read_text()
        text = text.replace(
            "  // The warrant's id. Required.\n  string id = 1;\n}",
            "  // The warrant's id. Required.\n  string id = 1;\n  string extra = 2;\n}",
            1,
        )
        target.write_text(text)
        result = buf("lint", cwd=tmp_path)
        assert result.returncode != 0
        assert "extra" in result.stdout

    def test_no_breaking_change_against_main(self) -> None:
        """proto/ keeps every promise main's proto/ made (buf breaking, FILE rules)."""
        if git("rev-parse", "--verify", "-q", "main^{commit}").returncode != 0:
            pytest.fail("no local branch main to compare with (git fetch origin main:main)")
        if git("cat-file", "-e", "main:buf.yaml").returncode != 0:
            pytest.skip("main has no buf.yaml yet: the check starts once it does")
        result = buf("breaking", "--against", ".git#branch=main")
        assert result.returncode == 0, result.stdout + result.stderr

    def test_breaking_check_catches_a_renamed_field(self, tmp_path: pathlib.Path) -> None:
        """Against a repository whose main holds today's protos, renaming a field is refused."""
        shutil.copy(ROOT / "buf.yaml", tmp_path / "buf.yaml")
        shutil.copytree(ROOT / "proto", tmp_path / "proto")
        for args in (
            ("init", "-q", "-b", "main"),
            ("add", "."),
            ("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "protos"),
        ):
            assert git(*args, cwd=tmp_path).returncode == 0
        copy = tmp_path / "proto" / "wsg" / "v1" / "wsg.proto"
        copy.write_text(copy.read_text().replace("string case_number = 1;", "string case = 1;"))
        result = buf("breaking", "--against", ".git#branch=main", cwd=tmp_path)
        assert result.returncode != 0
        assert "case_number" in result.stdout
