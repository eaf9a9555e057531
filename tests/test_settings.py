"""The typed settings: one place, three sources in a fixed order, every bad value named at start."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pydantic
import pytest

from gateway.settings import DEFAULT_LISTEN, Settings, SettingsError, load_settings

WSG = [sys.executable, "-m", "gateway"]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("WSG_"):
            monkeypatch.delenv(name)


def toml(tmp_path: pathlib.Path, text: str) -> pathlib.Path:
    path = tmp_path / "wsg.toml"
    path.write_text(text)
    return path


def test_defaults_need_no_file_and_no_environment() -> None:
    s = load_settings()
    assert s.listen == DEFAULT_LISTEN and s.database is None and not s.uses_postgres
    assert s.max_targets == 20 and s.export_every_entries == 1000


def test_flags_beat_environment_beat_file(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = toml(
        tmp_path,
        'listen = "0.0.0.0:1"\nmax_targets = 5\norigin = "file.example/log"\npool_size = 3\n',
    )
    monkeypatch.setenv("WSG_LISTEN", "0.0.0.0:2")
    monkeypatch.setenv("WSG_MAX_TARGETS", "6")
    s = load_settings(path, listen="0.0.0.0:3", max_targets=None)  # None = flag not given
    assert s.listen == "0.0.0.0:3"  # flag
    assert s.max_targets == 6  # environment
    assert s.origin == "file.example/log" and s.pool_size == 3  # file


def test_config_file_from_the_environment(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WSG_CONFIG", str(toml(tmp_path, 'database = "postgresql://db/wsg"\n')))
    monkeypatch.setenv("WSG_AUDITORS", "ann, bo")
    monkeypatch.setenv("WSG_PHONE_REGIONS", "jp, KR")
    s = load_settings()
    assert s.database == "postgresql://db/wsg" and s.uses_postgres
    assert s.auditors == frozenset({"ann", "bo"})
    assert s.phone_regions == ("JP", "KR")


@pytest.mark.parametrize(
    "text, env, named",
    [
        ("export_every_entries = 0\n", {}, "export_every_entries (config"),
        ("bogus = 1\n", {}, "bogus (config"),
        ("", {"WSG_MAX_TARGETS": "many"}, "max_targets (env WSG_MAX_TARGETS)"),
        ("", {"WSG_DATABASE": "mysql://x"}, "database (env WSG_DATABASE)"),
        ('listen = "nowhere"\n', {}, "listen (config"),
        ('policy_dir = "/no/such/dir"\n', {}, "policy_dir (config"),
        ('phone_regions = ["KR", "XX"]\n', {}, "phone_regions (config"),
        ("", {"WSG_PHONE_REGIONS": ","}, "phone_regions (env WSG_PHONE_REGIONS)"),
    ],
)
def test_each_bad_value_is_named_with_its_source(
    tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    env: dict[str, str],
    named: str,
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SettingsError) as err:
        load_settings(toml(tmp_path, text))
    assert named in str(err.value)


def test_every_problem_is_reported_at_once(tmp_path: pathlib.Path) -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(toml(tmp_path, "pool_size = 0\nmax_workers = 0\n"), listen="x")
    message = str(err.value)
    assert all(name in message for name in ("pool_size", "max_workers", "listen (flag)"))


def test_a_missing_or_broken_file_is_refused(tmp_path: pathlib.Path) -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(tmp_path / "absent.toml")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(toml(tmp_path, "listen = \n"))


def test_settings_are_frozen() -> None:
    s = Settings()
    with pytest.raises(pydantic.ValidationError):
        s.listen = "0.0.0.0:9"  # type: ignore[misc]


def test_wsg_serve_refuses_bad_settings_in_one_line(tmp_path: pathlib.Path) -> None:
    path = toml(tmp_path, "max_targets = -1\nnot_a_setting = true\n")
    proc = subprocess.run(
        [*WSG, "serve", "--config", str(path), "--data", str(tmp_path / "d")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "max_targets" in proc.stderr and "not_a_setting" in proc.stderr
    assert not (tmp_path / "d").exists()  # nothing was started or written


def test_max_targets_setting_reaches_warrant_validation(
    start_gateway: object, clock: object
) -> None:
    import datetime as dt

    from fixtures_small import FEB1, JAN1, ROWS

    from gateway.api.client import ClientError
    from gateway.testing import make_spec

    run = start_gateway(ROWS, max_targets=1)  # type: ignore[operator]
    spec = make_spec(
        ["account:u1", "account:u2"], ["logins"], JAN1, FEB1, clock.now + dt.timedelta(days=1)
    )  # type: ignore[attr-defined]
    with run.client("alice") as officer, pytest.raises(ClientError) as err:
        officer.submit(spec)
    assert "at most 1 targets" in err.value.message


def test_serve_help_lists_every_setting() -> None:
    proc = subprocess.run([*WSG, "serve", "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    for name in Settings.model_fields:
        if name != "clock":
            assert f"{name} [WSG_{name.upper()}]" in proc.stdout, name
