"""Apply-to-serving latency in watch mode, through the load balancer, timed from the API call
returning: 10 new services applied one after another (first 200), an env update of each (first
answer with the new value), a delete of each (first 404), and a burst of 20 applies at once
(until all serve). Prints median and worst against the targets of issue 13.

    .venv/bin/python bench/agent_latency.py [--runs 10] [--burst 20]
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
    parser.add_argument("--burst", type=int, default=20)
    args = parser.parse_args()
    with bench_host() as host:
        remove_services(host, PREFIX)
        watcher = host.start_agent("watch")
        try:
            time.sleep(3)  # its first full pass
            names = [f"{PREFIX}{i}" for i in range(args.runs)]
            new = [
                timed(host, n, lambda n=n: host.apply(n, env={"GREETING": n}), 200) for n in names
            ]
            update = [
                timed(host, n, lambda n=n: host.apply(n, env={"GREETING": n + "-v2"}), n + "-v2")
                for n in names
            ]
            delete = [timed(host, n, lambda n=n: host.delete(n), 404) for n in names]
            burst = burst_seconds(host, args.burst)
        finally:
            watcher.send_signal(signal.SIGTERM)
            try:
                watcher.communicate(timeout=120)
            except Exception:
                os.killpg(watcher.pid, signal.SIGKILL)
                watcher.communicate()
        remove_services(host, PREFIX)
    print(f"watch mode, {len(new)} services one after another (target in brackets):")
    report("new service, first 200", new, "p50 <= 3 s, worst <= 5 s")
    report("env update, new value first served", update, "p50 <= 4 s")
    report("delete, first 404", delete, "<= 3 s")
    print(f"  {args.burst} applies in a burst, all served after {burst:.2f} s [<= 30 s]")


def report(label: str, seconds: list[float], target: str) -> None:
    print(
        f"  {label}: median {statistics.median(seconds):.2f} s, worst {max(seconds):.2f} s,"
        f" best {min(seconds):.2f} s [{target}]"
    )


def timed(host, name: str, act, expect) -> float:
    """Seconds from act() returning to the first answer that is `expect` (a status code, or a
    text the 200's body must hold)."""
    act()
    started = time.monotonic()
    while time.monotonic() - started < 120:
        answer = host.get(name)
        if answer.status_code == expect or (
            isinstance(expect, str) and answer.status_code == 200 and expect in answer.text
        ):
            break
        time.sleep(0.05)
    took = time.monotonic() - started
    print(f"  {name} -> {expect}: {took:.2f} s", flush=True)
    return took


def burst_seconds(host, count: int) -> float:
    names = [f"{PREFIX}burst-{i}" for i in range(count)]
    started = time.monotonic()  # from the first apply
    for name in names:
        host.apply(name, env={"GREETING": name})
    waiting = set(names)
    while waiting and time.monotonic() - started < 300:
        waiting = {n for n in waiting if host.get(n).status_code != 200}
        time.sleep(0.1)
    took = time.monotonic() - started
    for name in names:
        host.delete(name)
    return took if not waiting else float("inf")


if __name__ == "__main__":
    main()
