"""Measure the log path: shipper throughput into the store, and reading it back through the API.

Starts a throwaway PostgreSQL and `sws-apiserver serve` (gunicorn, gthread), runs the log
shipper on this machine's Docker engine (with its own label prefix: a live host is left
alone), starts one container that prints --lines lines as fast as it can, and reports how long
until the last one is in the store (lines/s). Then times pages of 1,000 lines (tail and
after) and the delay from a line entering the store to a follow stream delivering it.

    .venv/bin/python bench/logship_bench.py [--lines 50000] [--image sws-local/hello:2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid

import psycopg2
import requests

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from swsagent.logship import Shipper, ShipperSettings  # noqa: E402
from tests.fixtures.apiserver import start_live_api, stop_live_api  # noqa: E402
from tests.fixtures.postgres import remove_postgres, start_postgres  # noqa: E402


def query(url: str, sql: str, *params):
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=50_000)
    parser.add_argument("--image", default="sws-local/hello:2")
    args = parser.parse_args()

    server = start_postgres()
    prefix = "swslogbench" + uuid.uuid4().hex[:6]
    container = f"{prefix}-web-1"
    live = None
    try:
        url = server.create_database("logbench")
        live = start_live_api(url, SWS_STREAM_POLL_SECONDS="0.2")
        headers = {"Authorization": f"Bearer {live.create_user('bench')}"}
        spec = {"name": "web", "port": 8080, "domain": "web.bench.example", "image": "nginx"}
        requests.put(
            live.url + "/v1/services/web", json={"apiVersion": "v1", "spec": spec},
            headers=headers, timeout=30,
        ).raise_for_status()  # fmt: skip
        settings = ShipperSettings(
            database_url=url, label_prefix=prefix, lines_kept=args.lines + 1000
        )
        shipper = Shipper(settings)
        thread = threading.Thread(target=shipper.run, daemon=True)
        thread.start()

        script = (
            f"i=0; while [ $i -lt {args.lines} ]; do echo line $i; i=$((i+1)); done; sleep 3600"
        )
        started = time.monotonic()
        subprocess.run(
            ["docker", "run", "-d", "--name", container, "--label", f"{prefix}.service=web",
             "--label", f"{prefix}.generation=1", args.image, "sh", "-c", script],
            check=True, capture_output=True,
        )  # fmt: skip
        last = f"line {args.lines - 1}"
        while not query(url, "SELECT 1 FROM service_logs WHERE line = %s", last):
            time.sleep(0.1)
        shipped = time.monotonic() - started
        count = query(url, "SELECT count(*) FROM service_logs")[0][0]
        print(f"shipped {count} lines in {shipped:.2f} s: {count / shipped:,.0f} lines/s")
        print("  (includes starting the container and the shell printing them)")

        logs = live.url + "/v1/services/web/logs"
        for name, params in (("tail=1000", {"tail": 1000}), ("after, 1000", {"after": 0})):
            times = []
            for _ in range(20):
                t = time.monotonic()
                page = requests.get(logs, params=params, headers=headers, timeout=30).json()
                times.append(time.monotonic() - t)
                assert len(page["lines"]) == 1000
            print(f"page {name:<12} median {statistics.median(times) * 1000:.1f} ms")

        stream = requests.get(
            logs, params={"follow": "true", "tail": 1}, headers=headers, stream=True, timeout=30
        )
        lines = stream.iter_lines()
        next(lines)
        delays = []
        for i in range(10):
            marker = f"marker {i}"
            query(
                url,
                "INSERT INTO service_logs (service_id, generation, container, ts, stream, line)"
                " SELECT id, 1, 'bench', now(), 'stdout', %s FROM services",
                marker,
            )
            t = time.monotonic()
            for raw in lines:
                if raw.strip() and json.loads(raw).get("line") == marker:
                    break
            delays.append(time.monotonic() - t)
        stream.close()
        print(
            f"store -> follow stream: median {statistics.median(delays) * 1000:.0f} ms, "
            f"worst {max(delays) * 1000:.0f} ms (poll 0.2 s; the default is 1 s)"
        )
        shipper.stop.set()
        thread.join(timeout=30)
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True)
        if live is not None:
            stop_live_api(live)
        remove_postgres(server)


if __name__ == "__main__":
    main()
