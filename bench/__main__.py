"""Benchmarks for wsg; see bench/README.md for what they measure and the latest results.

python -m bench release [--messages N] [--json] [--profile]   release throughput vs raw and naive
python -m bench unary [--clients 8] [--rate R] [--json]   p50/p99 of Get and Submit
python -m bench postgres [--database URL] [--json]   the gateway on PostgreSQL vs on SQLite
python -m bench hold [--records N] [--database URL] [--json]   a frozen copy: COPY vs INSERTs
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

from bench import hold, postgres, release, unary

DEFAULT_WORKDIR = pathlib.Path(__file__).resolve().parent.parent / ".bench-cache"
DEFAULT_DATABASE = "postgresql://postgres@127.0.0.1:5432/test"  # the CI machine's server


def _log(quiet: bool):  # type: ignore[no-untyped-def]
    return (
        (lambda message: None)
        if quiet
        else (lambda message: print(message, file=sys.stderr, flush=True))
    )


def _table(rows: list[tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--workdir",
        type=pathlib.Path,
        default=DEFAULT_WORKDIR,
        help="where stores are built and cached, and servers keep state (default %(default)s)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    rel = sub.add_parser("release", help="release throughput: gateway vs raw and naive pipelines")
    rel.add_argument(
        "--messages",
        type=int,
        default=1_000_000,
        help="store size in messages; the target wrote 10%% of them (default %(default)s)",
    )
    rel.add_argument(
        "--naive-limit",
        type=int,
        default=20_000,
        help="records the naive pipeline streams before its rate is taken (default %(default)s)",
    )
    rel.add_argument("--no-scale", action="store_true", help="skip the 10x-larger-store run")
    rel.add_argument("--json", action="store_true", help="print one JSON object")
    rel.add_argument(
        "--profile",
        action="store_true",
        help="then release once more with py-spy sampling the gateway: collapsed stacks in "
        "WORKDIR/profile/gateway.txt, cost per record by stage in the output",
    )
    una = sub.add_parser("unary", help="p50/p99 latency of Get and Submit with concurrent clients")
    una.add_argument("--clients", type=int, default=8)
    una.add_argument(
        "--calls", type=int, default=200, help="Get+Submit pairs per client (default %(default)s)"
    )
    una.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="Get+Submit pairs per second per client; 0: as fast as answers come (default)",
    )
    una.add_argument(
        "--database",
        metavar="URL",
        help="run the gateway on this PostgreSQL (a scratch schema) instead of SQLite",
    )
    una.add_argument("--json", action="store_true", help="print one JSON object")
    pg = sub.add_parser(
        "postgres", help="release throughput: the gateway on PostgreSQL vs on SQLite"
    )
    pg.add_argument(
        "--database",
        default=DEFAULT_DATABASE,
        help="a PostgreSQL database to make a scratch schema in (default %(default)s)",
    )
    pg.add_argument(
        "--messages",
        type=int,
        default=1_000_000,
        help="store size in messages; the target wrote 10%% of them (default %(default)s)",
    )
    pg.add_argument("--json", action="store_true", help="print one JSON object")
    pg.add_argument(
        "--profile",
        action="store_true",
        help="then release once more on PostgreSQL with py-spy sampling the gateway "
        "(WORKDIR/profile/gateway-postgres.txt)",
    )
    hol = sub.add_parser(
        "hold",
        help="how long a preservation's approval holds the PostgreSQL log lock: COPY vs INSERTs",
    )
    hol.add_argument(
        "--records",
        type=int,
        default=200_000,
        help="lines in the frozen copy (default %(default)s)",
    )
    hol.add_argument(
        "--database",
        default=DEFAULT_DATABASE,
        help="a PostgreSQL database to make a scratch schema in (default %(default)s)",
    )
    hol.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    log = _log(args.json)

    if args.command == "release":
        results = release.run(
            args.messages, args.workdir, args.naive_limit, not args.no_scale, log, args.profile
        ).as_dict()
        if args.json:
            print(json.dumps(results, indent=2))
            return 0
        r = results
        rows = [
            ("machine", str(r["machine"])),
            (
                "store",
                f"{r['messages']:,} messages; target's released records: {r['target_records']:,}",
            ),
            ("raw (no policy, no audit)", f"{r['raw_rps']:>10,} records/s   1.00 x raw"),
            (
                "naive (enforce+msg+fsync each)",
                f"{r['naive_rps']:>10,} records/s   {r['naive_rps'] / r['raw_rps']:.3f} x raw",
            ),
            (
                "gateway (wsg release)",
                f"{r['gateway_rps']:>10,} records/s   {r['gateway_over_raw']:.3f} x raw, "
                f"{r['gateway_over_naive']:.1f} x naive",
            ),
            (
                "gateway server memory",
                f"idle {r['idle_rss_mb']} MB, peak {r['peak_rss_mb']} MB "
                f"(+{r['peak_above_idle_mb']} MB)",
            ),
        ]
        m = r["minimizer"]
        rows.append(
            (
                "text minimizer (in process)",
                f"{m['us_per_body']} µs/body ({m['us_per_plain_body']} plain, "
                f"{m['us_per_identifier_body']} naming someone: "
                f"{m['bodies_with_identifiers']:,} of {m['bodies']:,}); directory of "
                f"{m['directory_people']:,} in {m['directory_ms']} ms",
            )
        )
        if r.get("profile"):
            p = r["profile"]
            rows.append(("profile (py-spy)", f"{p['file']}, {p['samples']:,} samples"))
            for stage, us in p["us_per_record"].items():
                rows.append((f"  {stage}", f"{us:5.2f} µs/record"))
            rows.append(("  total (measured)", f"{p['us_per_record_total']:5.2f} µs/record"))
        if r.get("scale_10x_ratio") is not None:
            rows.append(
                (
                    "same target, 10x store",
                    f"{r['scale_10x_seconds']} s vs {r['gateway_seconds']} s: "
                    f"{r['scale_10x_ratio']:.2f} x the time",
                )
            )
        print(_table(rows))
    elif args.command == "hold":
        results = hold.run(args.records, args.database, log)
        if args.json:
            print(json.dumps(results, indent=2))
            return 0
        print(_table([(k, str(v)) for k, v in results.items()]))
    elif args.command == "postgres":
        results = postgres.run(args.messages, args.database, args.workdir, log, args.profile)
        if args.json:
            print(json.dumps(results, indent=2))
            return 0
        print(_table([(k, str(v)) for k, v in results.items()]))
    else:
        results = unary.run(args.clients, args.calls, args.workdir, args.rate, args.database)
        if args.json:
            print(json.dumps(results, indent=2))
            return 0
        print(_table([(k, str(v)) for k, v in results.items()]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
