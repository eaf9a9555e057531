"""The wheel, installed anywhere, runs: built from the checkout, installed in a fresh venv outside
it with every dependency at the floor pyproject.toml states (a constraints file pins each), and
`wsg demo` run from an empty directory, with the policies found inside the installed package.

Installing the floors takes minutes; the venv is kept keyed by the floors and the Python version
(in ~/.cache/wsg-tests, shared by every checkout and CI's clones on this machine, or in
WSG_TEST_CACHE), so later runs only reinstall the wheel.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tomllib

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = pathlib.Path(__file__).resolve().parent.parent
CACHE = pathlib.Path(
    os.environ.get("WSG_TEST_CACHE") or pathlib.Path.home() / ".cache" / "wsg-tests"
)
# The pieces a demo does not touch, exercised against the floors too.
SMOKE = """
import json, pathlib, sys
import gateway, gateway.settings as settings
from gateway.api.server import Gateway
from gateway.api.metrics import MetricsServer
from gateway.tracing import provider_from_env
provider = provider_from_env({"OTEL_TRACES_EXPORTER": "console"})
from gateway.api.server import _interceptors
from gateway.api.auth import InsecureMetadataAuthenticator
assert len(_interceptors(InsecureMetadataAuthenticator(), provider, lambda: None)) == 2
provider.shutdown()
print(json.dumps({"package": gateway.__file__, "policies": str(settings.DEFAULT_POLICY_DIR)}))
"""


def floors() -> list[str]:
    """`name==floor` for every dependency in pyproject.toml (each must state a floor)."""
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = []
    for dep in deps:
        found = re.match(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?>=([^,;\s]+)", dep)
        assert found, f"{dep!r} states no floor (>=)"
        pins.append(f"{found.group(1)}=={found.group(3)}")
    return pins


def run(*args: str | pathlib.Path, cwd: pathlib.Path | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    proc = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, f"{args[:3]}...: {proc.stdout[-2000:]}{proc.stderr[-4000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("wheel")
    run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "--quiet",
        "--wheel-dir",
        out,
        ROOT,
    )
    (built,) = out.glob("*.whl")
    return built


@pytest.fixture(scope="module")
def floors_venv(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A venv with every dependency at its floor, made once per set of floors."""
    pins = floors()
    key = hashlib.sha256(("\n".join(pins) + sys.version).encode()).hexdigest()[:16]
    venv = CACHE / f"floors-{key}"
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / f"floors-{key}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another session making the same venv: wait for it
        if not (venv / "ready").exists():
            make_floors_venv(venv, pins)
    return venv


def make_floors_venv(venv: pathlib.Path, pins: list[str]) -> None:
    """The dependencies alone (extras included), each pinned at its floor; our wheel later."""
    shutil.rmtree(venv, ignore_errors=True)
    run(sys.executable, "-m", "venv", venv)
    constraints = venv / "constraints.txt"
    constraints.write_text("\n".join(pins) + "\n")
    run(venv / "bin" / "pip", "install", "--quiet", "-c", constraints, *pyproject_deps())
    (venv / "ready").write_text("\n".join(pins) + "\n")


def pyproject_deps() -> list[str]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return [re.sub(r">=.*$", "", d) for d in deps]


def test_every_dependency_states_a_floor() -> None:
    """A dependency without `>=` could not be pinned for the test below."""
    assert len(floors()) == len(pyproject_deps()) >= 15


@pytest.mark.slow
def test_the_wheel_runs_anywhere_on_the_floors(
    wheel: pathlib.Path, floors_venv: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    """Installed at the floors, outside the checkout: the code imports, the policies are the
    package's own, and `wsg demo` tells the whole story from an empty directory."""
    bin_dir = floors_venv / "bin"
    run(bin_dir / "pip", "install", "--quiet", "--no-deps", "--force-reinstall", wheel)
    installed = {
        canonicalize_name(name): Version(version)
        for name, _, version in (
            line.partition("==") for line in run(bin_dir / "pip", "freeze").splitlines()
        )
        if version
    }
    for pin in floors():
        name, version = pin.split("==")
        assert installed.get(canonicalize_name(name)) == Version(version), pin
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    smoke = json.loads(run(bin_dir / "python", "-c", SMOKE, cwd=elsewhere).strip().splitlines()[-1])
    for path in smoke.values():  # the installed package's, not the checkout's
        resolved = pathlib.Path(path).resolve()
        assert floors_venv in resolved.parents and ROOT / "gateway" not in resolved.parents
    assert (pathlib.Path(smoke["policies"]) / "policy.csv").is_file()
    out = run(bin_dir / "wsg", "demo", "--accounts", "40", cwd=elsewhere)
    assert "released" in out.lower()
    assert not (elsewhere / "policies").exists()
