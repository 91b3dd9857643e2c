"""How long `swsctl run` of a trivial command takes to its first output line (target <= 3 s),
and how late a scheduled run starts after its minute (target <= 5 s), on the bootstrapped host
with its watching agent and log shipper running.

    .venv/bin/python bench/jobs.py --service NAME [--rounds 5] [--scheduled 3]

NAME: a running service of the caller (SWS_URL and SWS_TOKEN, or swsctl's configuration)
whose image has `echo`. Prints each round's time and the median. --scheduled N adds a job
`* * * * *` to the service's spec, waits for N of its runs (N minutes) and prints, for each,
its container's start (`started_at`) after its minute (`scheduled_for`); the job is removed
again at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime

from swsctl.client import ApiClient
from swsctl.config import Settings
from swsctl.jobs import list_runs

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


def client() -> ApiClient:
    return ApiClient(Settings(url=os.environ["SWS_URL"], token=os.environ["SWS_TOKEN"]))


def scheduled_delays(service: str, runs: int) -> list[float]:
    """Seconds from each scheduled minute to its run's container start, for `runs` minutes."""
    api = client()
    spec = api.get_service(service)["spec"]
    job = {"name": "bench-tick", "schedule": "* * * * *", "command": ["echo", "tick"]}
    api.apply({"apiVersion": "v1", "spec": {**spec, "jobs": [*spec.get("jobs", []), job]}})
    applied = time.time()
    delays: dict[str, float] = {}
    try:
        while len(delays) < runs:
            assert time.time() - applied < 70 * (runs + 1), "scheduled runs did not come"
            for run in list_runs(api, service, limit=50)["runs"]:
                if run["job"] != job["name"] or not run["started_at"]:
                    continue
                if run["scheduled_for"] in delays:
                    continue
                minute = datetime.fromisoformat(run["scheduled_for"])
                if minute.timestamp() < applied:
                    continue  # the minute the job was added in: a catch-up, not on time
                started = datetime.fromisoformat(run["started_at"])
                late = delays[run["scheduled_for"]] = (started - minute).total_seconds()
                print(f"run of {minute:%H:%M}: started {late:.2f} s after its minute")
            time.sleep(1)
    finally:
        api.apply({"apiVersion": "v1", "spec": spec})
    return list(delays.values())[:runs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--service", required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--scheduled", type=int, default=0, metavar="N")
    args = parser.parse_args()
    times = []
    for n in range(args.rounds):
        took = first_line_seconds(args.service)
        times.append(took)
        print(f"round {n + 1}: {took:.2f} s to the first line")
    print(f"median: {statistics.median(times):.2f} s (target <= 3 s)")
    if args.scheduled:
        delays = scheduled_delays(args.service, args.scheduled)
        print(
            f"scheduled start after its minute: median {statistics.median(delays):.2f} s, "
            f"worst {max(delays):.2f} s (target <= 5 s)"
        )


if __name__ == "__main__":
    main()
