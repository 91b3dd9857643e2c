"""Measure the apiserver: apply and list throughput and latency on a real server.

Starts a throwaway PostgreSQL and `sws-apiserver serve` (gunicorn) on loopback, stores
--services services through the API, then times applies (create, unchanged, update), gets and
lists of all of them from --clients concurrent clients. Prints median, p95 and requests/s.

    .venv/bin/python bench/api_bench.py [--services 1000] [--clients 4] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import requests

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.fixtures.apiserver import start_live_api, stop_live_api  # noqa: E402
from tests.fixtures.postgres import remove_postgres, start_postgres  # noqa: E402


@dataclass
class Figures:
    name: str
    latencies: list[float]
    wall: float
    note: str = ""

    def row(self) -> str:
        ms = sorted(x * 1000 for x in self.latencies)
        p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
        return (
            f"{self.name:<22} {len(ms):>6} {statistics.median(ms):>9.1f} {p95:>9.1f}"
            f" {len(ms) / self.wall:>9.0f}  {self.note}"
        )


def definition(i: int, image: str = "nginx:1.25") -> dict:
    name = f"svc-{i:05d}"
    return {
        "apiVersion": "v1",
        "spec": {
            "name": name,
            "port": 8080,
            "domain": f"{name}.bench.example",
            "image": image,
            "env": [{"name": "INDEX", "value": i}, {"name": "MODE", "value": "bench"}],
        },
    }


def timed(name: str, clients: int, jobs: list, send, expect: set[int]) -> Figures:
    """Run send(session, job) for every job on `clients` threads; time each call."""
    chunks = [jobs[i::clients] for i in range(clients)]

    def worker(chunk):
        times = []
        with requests.Session() as session:
            for job in chunk:
                start = time.perf_counter()
                response = send(session, job)
                times.append(time.perf_counter() - start)
                if response.status_code not in expect:
                    raise RuntimeError(f"{name}: {response.status_code} {response.text[:200]}")
        return times

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = [t for times in pool.map(worker, chunks) for t in times]
    return Figures(name, latencies, time.perf_counter() - start)


PAGE = 500  # the API's largest page (swsapi.store.PAGE_MAX)


def run(args) -> list[Figures]:
    server = start_postgres()
    live = None
    try:
        live = start_live_api(
            server.create_database("bench"),
            workers=args.workers,
            SWS_SERVICE_QUOTA=str(args.services),  # one user holds them all
        )
        headers = {"Authorization": f"Bearer {live.create_user('bench')}"}
        url = live.url + "/v1/services/"
        indexes = list(range(args.services))

        def put(image):
            return lambda s, i: s.put(
                url + f"svc-{i:05d}", json=definition(i, image), headers=headers
            )

        figures = [
            timed("apply (create)", args.clients, indexes, put("nginx:1.25"), {201}),
            timed("apply (unchanged)", args.clients, indexes, put("nginx:1.25"), {200}),
            timed("apply (update)", args.clients, indexes, put("nginx:1.26"), {200}),
            timed(
                "get one",
                args.clients,
                indexes,
                lambda s, i: s.get(url + f"svc-{i:05d}", headers=headers),
                {200},
            ),
        ]
        # The list comes in pages: time the largest page the API gives (500).
        page = f"{live.url}/v1/services?limit={PAGE}"
        listing = timed(
            f"list (a page of {min(PAGE, args.services)} of {args.services} services)",
            args.clients,
            list(range(args.lists)),
            lambda s, _: s.get(page, headers=headers),
            {200},
        )
        body = requests.get(page, headers=headers, timeout=30)
        assert len(body.json()["services"]) == min(PAGE, args.services)
        listing.note = f"{len(body.content) / 1024:.0f} KiB a response"
        figures.append(listing)
        return figures
    finally:
        if live is not None:
            stop_live_api(live)
        remove_postgres(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=4, help="concurrent client threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (SWS_WORKERS)")
    parser.add_argument("--lists", type=int, default=200, help="list requests to time")
    args = parser.parse_args()
    print(
        f"sws-apiserver bench: gunicorn {args.workers} sync workers, PostgreSQL on loopback, "
        f"{args.clients} clients, {os.cpu_count()} cores"
    )
    figures = run(args)
    print(f"{'operation':<22} {'reqs':>6} {'median ms':>9} {'p95 ms':>9} {'req/s':>9}")
    for f in figures:
        print(f.row())


if __name__ == "__main__":
    main()
