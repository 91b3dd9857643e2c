"""How long `swsctl run` of a trivial command takes to its first output line (target <= 3 s),
on the bootstrapped host with its watching agent and log shipper running.

    .venv/bin/python bench/jobs.py --service NAME [--rounds 5]

NAME: a running service of the caller (SWS_URL and SWS_TOKEN, or swsctl's configuration)
whose image has `echo`. Prints each round's time and the median.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

SWSCTL = os.path.join(os.path.dirname(sys.executable), "swsctl")


def first_line_seconds(service: str) -> float:
    started = time.monotonic()
    with subprocess.Popen(
        [SWSCTL, "run", service, "--", "echo", "first"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as process:
        line = process.stdout.readline()
        took = time.monotonic() - started
        process.wait(timeout=60)
    if line.strip() != "first":
        raise SystemExit(f"unexpected output {line!r} (exit {process.returncode})")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--service", required=True)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    times = []
    for n in range(args.rounds):
        took = first_line_seconds(args.service)
        times.append(took)
        print(f"round {n + 1}: {took:.2f} s to the first line")
    print(f"median: {statistics.median(times):.2f} s (target <= 3 s)")


if __name__ == "__main__":
    main()
