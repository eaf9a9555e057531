"""The benchmarks work (on a tiny store): they are not timed tests, so only shape and sanity."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def bench(*args: str, workdir: pathlib.Path) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--workdir", str(workdir), *args, "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def assert_ratio_of_rounded(
    ratio: float, top: float, bottom: float, *, digits: int, inputs: int = 0
) -> None:
    """`ratio` is round(t / b, digits) for some t, b that round (to `inputs` decimals) to
    `top` and `bottom`: rounding the inputs can move their ratio further than rounding it."""
    half = 0.5 * 10**-inputs
    low = (top - half) / (bottom + half) - 0.5 * 10**-digits
    high = (top + half) / max(bottom - half, 1e-12) + 0.5 * 10**-digits
    assert low <= ratio <= high, (ratio, top, bottom)


def test_release_benchmark_reports_every_figure(tmp_path: pathlib.Path) -> None:
    r = bench("release", "--messages", "3000", "--naive-limit", "50", workdir=tmp_path)
    assert r["messages"] == 3000 and r["target_records"] == 300
    for key in ("raw_rps", "naive_rps", "gateway_rps", "peak_rss_mb", "idle_rss_mb"):
        assert r[key] > 0, key
    # Ratios come from the unrounded rates: within what rounding the printed rates allows.
    assert_ratio_of_rounded(r["gateway_over_raw"], r["gateway_rps"], r["raw_rps"], digits=3)
    assert_ratio_of_rounded(r["gateway_over_naive"], r["gateway_rps"], r["naive_rps"], digits=1)
    assert r["naive_records_measured"] == 50
    assert r["peak_rss_mb"] >= r["idle_rss_mb"]
    assert r["scale_10x_ratio"] > 0
    assert {p.name for p in tmp_path.glob("store-*.db")} == {  # built once, cached, 10x beside it
        "store-v5-t300-p60-o2640-s1.db",
        "store-v5-t300-p60-o26400-s1.db",
    }
    m = r["minimizer"]  # the text minimizer on the target's bodies, ~10% of which name someone
    assert m["bodies"] == 300 and 0 < m["bodies_with_identifiers"] < m["bodies"]
    assert m["us_per_body"] > 0 and m["directory_people"] > 1


def test_unary_benchmark_reports_percentiles(tmp_path: pathlib.Path) -> None:
    r = bench("unary", "--clients", "2", "--calls", "5", "--rate", "50", workdir=tmp_path)
    assert (
        r["clients"] == 2 and r["calls_per_client"] == 5 and r["pairs_per_second_per_client"] == 50
    )
    for name in ("get", "submit"):
        assert 0 < r[f"{name}_p50_ms"] <= r[f"{name}_p99_ms"], name


def test_postgres_benchmark_compares_against_sqlite_in_the_same_run(tmp_path: pathlib.Path) -> None:
    from pg import SERVER, require

    require()
    r = bench("postgres", "--messages", "3000", "--database", SERVER, workdir=tmp_path)
    assert r["target_records"] == 300 and r["sqlite_rps"] > 0 and r["postgres_rps"] > 0
    assert_ratio_of_rounded(r["postgres_over_sqlite"], r["postgres_rps"], r["sqlite_rps"], digits=3)


def test_hold_benchmark_writes_the_copy_both_ways(tmp_path: pathlib.Path) -> None:
    from pg import SERVER, require

    require()
    r = bench("hold", "--records", "500", "--database", SERVER, workdir=tmp_path)
    assert r["records"] == 500 and r["megabytes"] > 0
    assert r["insert_each_seconds"] > 0 and r["copy_seconds"] > 0
    assert_ratio_of_rounded(
        r["copy_over_insert_each"],
        r["copy_seconds"],
        r["insert_each_seconds"],
        digits=3,
        inputs=3,
    )
