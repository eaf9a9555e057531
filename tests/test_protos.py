"""The committed generated code must be exactly what scripts/gen_protos.py makes from proto/."""

from __future__ import annotations

import importlib.util
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent


class TestGeneratedCode:
    def test_committed_code_is_not_stale(self, tmp_path: pathlib.Path) -> None:
        """Regenerating into a temporary folder gives byte-identical files."""
        spec = importlib.util.spec_from_file_location("gen_protos", ROOT / "scripts" / "gen_protos.py")
        assert spec and spec.loader
        gen = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(gen)
        fresh = {p.name: p.read_bytes() for p in gen.generate(tmp_path)}
        committed = {
            p.name: p.read_bytes() for p in (ROOT / "gateway" / "api").glob("wsg_pb2*")
        }
        assert fresh.keys() == committed.keys()
        stale = [name for name in fresh if fresh[name] != committed[name]]
        assert not stale, f"run `make protos`: {stale} differ from proto/"
