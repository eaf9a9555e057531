"""Regenerate the committed gRPC/protobuf code under gateway/api/v1 from proto/.

One script so that the committed code and the proto sources cannot drift apart silently:
tests/test_protos.py runs it into a temporary folder and fails if the result differs.
"""

from __future__ import annotations

import pathlib
import re
import sys

from grpc_tools import protoc

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
DEFAULT_OUT = ROOT / "gateway" / "api" / "v1"


def _plugin(name: str) -> pathlib.Path:
    """A protoc plugin installed beside this Python (the venv's bin), found without PATH."""
    path = pathlib.Path(sys.executable).parent / name
    if not path.exists():
        raise SystemExit(f"{name} is missing: install the test extras (pip install -e '.[test]')")
    return path


def generate(out_dir: pathlib.Path) -> list[pathlib.Path]:
    """Generate *_pb2.py, *_pb2.pyi and *_pb2_grpc.py for every proto into out_dir (flat)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    protos = sorted(PROTO_DIR.rglob("*.proto"))
    import grpc_tools

    include = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    tmp = out_dir / "_gen"
    tmp.mkdir(exist_ok=True)
    args = [
        "protoc",
        f"-I{PROTO_DIR}",
        f"-I{include}",
        f"--python_out={tmp}",
        f"--grpc_python_out={tmp}",
        # Type stubs from mypy-protobuf (messages and gRPC stubs/servicers), so mypy --strict
        # checks our use of the generated code instead of seeing Any.
        f"--plugin=protoc-gen-mypy={_plugin('protoc-gen-mypy')}",
        f"--plugin=protoc-gen-mypy_grpc={_plugin('protoc-gen-mypy_grpc')}",
        f"--mypy_out={tmp}",
        f"--mypy_grpc_out={tmp}",
        *[str(p) for p in protos],
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    written = []
    for generated in sorted(tmp.rglob("*.py*")):
        text = generated.read_text()
        # protoc writes absolute imports (`from wsg.v1 import wsg_pb2`); the package lives in
        # gateway.api.v1, so make them relative.
        text = re.sub(r"^from wsg\.v1 import (\w+)", r"from . import \1", text, flags=re.M)
        target = out_dir / generated.name
        target.write_text(text)
        written.append(target)
    for p in sorted(tmp.rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    tmp.rmdir()
    return written


if __name__ == "__main__":
    out = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT
    for path in generate(out):
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
