"""The cost of a pass: a no-op pass, and a pass that changes one service, with 1 and with 100
services stored (and running). Shows that a pass touches only what changed.

    .venv/bin/python bench/agent_pass_cost.py [--many 100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import psycopg2
from agent_host import bench_host, remove_services

PREFIX = "cost-"


def timed_pass(host) -> tuple[float, float]:
    """(seconds of the `sws-agent run` process, seconds of the pass it recorded): the process
    adds the interpreter's start and imports, which a watching agent pays once."""
    started = time.monotonic()
    host.run_pass()
    process = time.monotonic() - started
    with psycopg2.connect(host.database_url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT extract(epoch FROM finished_at - started_at) FROM agent_passes"
            " ORDER BY id DESC LIMIT 1"
        )
        recorded = float(cur.fetchone()[0])
    conn.close()
    return process, recorded


def measure(host, stored: int, repeat: int) -> tuple:
    noops = [timed_pass(host) for _ in range(repeat)]
    changes = []
    for i in range(repeat):
        host.apply(f"{PREFIX}0", env={"GREETING": f"change {stored}-{i}"})
        changes.append(timed_pass(host))
    return (
        statistics.median(p for p, _ in noops),
        statistics.median(r for _, r in noops),
        statistics.median(p for p, _ in changes),
        statistics.median(r for _, r in changes),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--many", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = []
    # Every service in one pass (no per-user share): the no-op passes must have nothing left.
    with bench_host(forks=20, deploys_per_user=0) as host:
        remove_services(host, PREFIX)
        host.apply(f"{PREFIX}0")
        host.run_pass()
        rows.append((1, *measure(host, 1, args.repeat)))
        for i in range(1, args.many):
            host.apply(f"{PREFIX}{i}")
        started = time.monotonic()
        host.run_pass()
        print(
            f"deploying {args.many - 1} services in one pass took "
            f"{time.monotonic() - started:.1f} s",
            flush=True,
        )
        rows.append((args.many, *measure(host, args.many, args.repeat)))
        remove_services(host, PREFIX)
    print("medians; process = `sws-agent run` from start to exit, pass = the pass it recorded")
    print(
        f"{'services stored':>16} {'no-op process':>14} {'no-op pass':>11}"
        f" {'change process':>15} {'change pass':>12}"
    )
    for stored, noop_p, noop_r, change_p, change_r in rows:
        print(
            f"{stored:>16} {noop_p:>13.2f}s {noop_r:>10.2f}s {change_p:>14.2f}s {change_r:>11.2f}s"
        )
    print(
        f"targets: no-op pass at {rows[-1][0]} <= 0.3 s (is {rows[-1][2]:.2f} s); one change with"
        f" {rows[-1][0]} stored <= 1.2x with 1 (is {rows[-1][4] / rows[0][4]:.2f}x)"
    )


if __name__ == "__main__":
    main()
