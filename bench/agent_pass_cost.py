"""The cost of a pass: a no-op pass, and a pass that changes one service, with 1 and with 100
services stored (and running). Shows that a pass touches only what changed.

    .venv/bin/python bench/agent_pass_cost.py [--many 100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

from agent_host import bench_host, remove_services

PREFIX = "cost-"


def timed_pass(host) -> float:
    started = time.monotonic()
    host.run_pass()
    return time.monotonic() - started


def measure(host, stored: int, repeat: int) -> tuple[float, float]:
    noop = statistics.median(timed_pass(host) for _ in range(repeat))
    changes = []
    for i in range(repeat):
        host.apply(f"{PREFIX}0", env={"GREETING": f"change {stored}-{i}"})
        changes.append(timed_pass(host))
    return noop, statistics.median(changes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--many", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = []
    with bench_host(forks=20) as host:
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
    print(f"{'services stored':>16} {'no-op pass':>12} {'one-service change':>20}")
    for stored, noop, change in rows:
        print(f"{stored:>16} {noop:>11.2f}s {change:>19.2f}s")


if __name__ == "__main__":
    main()
