"""The log shipper against a real Docker engine and a real store.

Containers here carry their own label prefix, so the shipper under test follows only them
(a bootstrapped host's own shipper and services on the same engine are left alone).
"""

from __future__ import annotations

import subprocess
import threading
import time
import uuid

import psycopg2
import pytest

from swsagent.logship import Shipper, ShipperSettings
from tests.fixtures.store import Store
from tests.integration.conftest import migrated_app

WAIT = 60  # seconds an eventual state may take on a loaded machine (not a timing assertion)


def docker(*args, check=True) -> str:
    return subprocess.run(["docker", *args], check=check, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def image():
    for candidate in ("sws-local/hello:2", "sws-local/python:3.11-1"):
        if docker("images", "-q", candidate, check=False).strip():
            return candidate
    pytest.skip("no local Python image on this engine (run the bootstrap)")


@pytest.fixture
def writer(database_url, image):
    """The store with alice's service web applied and running, written as the API and the
    agent write it."""
    writer = Store(migrated_app(database_url), database_url, owns_app=True)
    writer.create_user("alice")
    spec = {"name": "web", "port": 8080, "domain": "web.example.com", "image": image}
    writer.apply("alice", spec)
    writer.mark_running("web", 1)
    yield writer
    writer.close()


@pytest.fixture
def store(writer, database_url):
    """A connection that reads the store (autocommit: each query sees the latest lines)."""
    conn = psycopg2.connect(database_url)
    conn.autocommit = True
    yield conn
    conn.close()


@pytest.fixture
def prefix():
    prefix = "swslogtest" + uuid.uuid4().hex[:8]
    yield prefix
    for cid in docker("ps", "-aq", "--filter", f"label={prefix}.service").split():
        docker("rm", "-f", cid, check=False)


def run_container(image, prefix, generation, script, *extra):
    return docker(
        "run", "-d", "--name", f"{prefix}-web-{generation}",
        "--label", f"{prefix}.service=web", "--label", f"{prefix}.generation={generation}",
        *extra, image, "sh", "-c", script,
    ).strip()  # fmt: skip


def until(query, conn, check, what):
    deadline = time.monotonic() + WAIT
    while True:
        with conn.cursor() as cur:
            cur.execute(query)
            rows = cur.fetchall()
        if check(rows):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}; last seen: {rows[-5:]}")
        time.sleep(0.2)


@pytest.fixture
def shipper(database_url, prefix):
    settings = ShipperSettings(
        database_url=database_url, label_prefix=prefix, lines_kept=20, line_max_bytes=100
    )
    shipper = Shipper(settings)
    thread = threading.Thread(target=shipper.run, daemon=True)
    thread.start()
    yield shipper
    shipper.stop.set()
    thread.join(timeout=30)
    assert not thread.is_alive()


def test_output_is_shipped_bounded_and_followed_to_the_next_generation(
    store, image, prefix, shipper
):
    run_container(
        image, prefix, 1,
        "echo first; echo oops >&2; head -c 300 /dev/zero | tr '\\0' x; echo;"
        " i=0; while [ $i -lt 150 ]; do echo line $i; i=$((i+1)); done; sleep 600",
    )  # fmt: skip
    rows = until(
        "SELECT generation, container, stream, line FROM service_logs ORDER BY id",
        store,
        lambda rows: rows and rows[-1][3] == "line 149",
        "the first generation's last line is not shipped",
    )
    # Trimmed to the last lines_kept, plus at most the lines that arrived since the last trim.
    assert 20 <= len(rows) <= 20 + 50
    assert all(r[:2] == (1, f"{prefix}-web-1") for r in rows)
    until("SELECT last_log FROM services", store, lambda r: r == [("line 149",)], "no last_log")

    run_container(
        image, prefix, 2,
        "echo gen2 $(cat /proc/sys/kernel/random/uuid); sleep 1; exit 3",
        "--restart", "on-failure:2",
    )  # fmt: skip
    rows = until(
        "SELECT line FROM service_logs WHERE generation = 2 ORDER BY id",
        store,
        lambda rows: len(rows) == 3,
        "the second generation's three runs are not all shipped",
    )
    assert len({r[0] for r in rows}) == 3, "a restarted container's lines were shipped twice"
    until(
        "SELECT last_log LIKE 'gen2 %%', restart_count >= 1 FROM services",
        store,
        lambda r: r == [(True, True)],
        "last_log and restart_count do not follow the newest generation",
    )


def test_streams_and_long_lines_are_kept_apart_and_capped(store, image, prefix, shipper):
    run_container(
        image, prefix, 1,
        "echo to-out; echo to-err >&2; head -c 300 /dev/zero | tr '\\0' x; echo; sleep 600",
    )  # fmt: skip
    rows = until(
        "SELECT stream, line FROM service_logs ORDER BY id",
        store,
        lambda rows: len(rows) == 3,
        "three lines are not shipped",
    )
    assert ("stdout", "to-out") in rows and ("stderr", "to-err") in rows
    assert ("stdout", "x" * 100 + " [truncated]") in rows


def test_the_lines_of_a_deleted_service_go_with_it(store, writer, image, prefix, shipper):
    run_container(image, prefix, 1, "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done")
    until("SELECT 1 FROM service_logs", store, bool, "no line shipped")
    writer.delete("alice", "web")
    assert writer.forget("web")  # the agent removed it: its record goes
    time.sleep(1)  # let the shipper write what it had queued: the join must drop it
    with store.cursor() as cur:
        cur.execute("SELECT count(*) FROM service_logs")
        assert cur.fetchone() == (0,)
