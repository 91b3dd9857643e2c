"""Apply-to-serving latency in watch mode: from the API call returning to the first 200 through
the load balancer, for 10 new services applied one after another. Prints median and worst.

    .venv/bin/python bench/agent_latency.py [--runs 10]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import time

from agent_host import bench_host, remove_services

PREFIX = "lat-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with bench_host() as host:
        remove_services(host, PREFIX)
        watcher = host.start_agent("watch")
        try:
            time.sleep(3)  # its first full pass
            latencies = [apply_and_time(host, f"{PREFIX}{i}") for i in range(args.runs)]
        finally:
            watcher.send_signal(signal.SIGTERM)
            try:
                watcher.communicate(timeout=120)
            except Exception:
                os.killpg(watcher.pid, signal.SIGKILL)
                watcher.communicate()
        remove_services(host, PREFIX)
    print(
        f"watch mode apply-to-serving over {len(latencies)} new services: "
        f"median {statistics.median(latencies):.2f} s, worst {max(latencies):.2f} s, "
        f"best {min(latencies):.2f} s"
    )


def apply_and_time(host, name: str) -> float:
    host.apply(name, env={"GREETING": name})
    started = time.monotonic()
    while time.monotonic() - started < 120:
        if host.get(name).status_code == 200:
            break
        time.sleep(0.05)
    took = time.monotonic() - started
    print(f"  {name}: {took:.2f} s", flush=True)
    return took


if __name__ == "__main__":
    main()
