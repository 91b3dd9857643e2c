"""GET /v1/services/<name>/logs against a real PostgreSQL: pages, parameters, owner-only, and
follow streams through a live gunicorn (gthread), with the per-user stream limit.

Lines are written with the log shipper's own insert (swsagent.logstore.insert_lines): the
shipper itself is tested against Docker in test_logship.py.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from datetime import UTC, datetime, timedelta

import psycopg2
import pytest
import requests

from swsagent.loglines import LogLine
from swsagent.logstore import insert_lines, refresh_last_log
from swsapi import auth
from swsapi.app import create_app
from swsapi.streamslots import WorkerThreads
from tests.integration.conftest import TestConfig, dispose, start_live_api, stop_live_api

WAIT = 30  # seconds an eventual state may take (not a timing assertion)


def definition(name="web"):
    return {
        "apiVersion": "v1",
        "spec": {"name": name, "port": 8080, "domain": f"{name}.example.com", "image": "nginx"},
    }


def add_lines(database_url, texts, name="web", generation=1, ts=None, stream="stdout"):
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id FROM services WHERE name = %s", (name,))
            service_id = cur.fetchone()[0]
            ts = ts or datetime.now(UTC)
            insert_lines(
                cur,
                [
                    LogLine(service_id, generation, f"sws-svc-{name}-{generation}", ts, stream, t)
                    for t in texts
                ],
            )
            refresh_last_log(cur, [service_id])
        conn.commit()
    finally:
        conn.close()


@pytest.fixture
def web(client, alice):
    assert client.put("/v1/services/web", json=definition(), headers=alice).status_code == 201


def test_tail_gives_the_last_lines_oldest_first(client, alice, web, migrated_database_url):
    add_lines(migrated_database_url, [f"line {i}" for i in range(10)])
    page = client.get("/v1/services/web/logs?tail=3", headers=alice).get_json()
    assert [x["line"] for x in page["lines"]] == ["line 7", "line 8", "line 9"]
    assert page["more"] is False and page["cursor"] == page["lines"][-1]["cursor"]
    first = page["lines"][0]
    assert first["generation"] == 1 and first["container"] == "sws-svc-web-1"
    assert first["stream"] == "stdout" and datetime.fromisoformat(first["time"])
    default = client.get("/v1/services/web/logs", headers=alice).get_json()
    assert len(default["lines"]) == 10  # the last 100 by default


def test_a_large_log_is_read_in_pages(client, alice, web, migrated_database_url):
    add_lines(migrated_database_url, [f"line {i}" for i in range(2500)])
    seen, cursor, pages = [], 0, 0
    while True:
        page = client.get(f"/v1/services/web/logs?after={cursor}", headers=alice).get_json()
        pages += 1
        seen += [x["line"] for x in page["lines"]]
        assert len(page["lines"]) <= 1000
        cursor = page["cursor"]
        if not page["more"]:
            break
    assert seen == [f"line {i}" for i in range(2500)] and pages == 3
    again = client.get(f"/v1/services/web/logs?after={cursor}&limit=5", headers=alice)
    assert again.get_json() == {"lines": [], "cursor": cursor, "more": False}


def test_since_takes_seconds_or_a_time(client, alice, web, migrated_database_url):
    old = datetime.now(UTC) - timedelta(hours=2)
    add_lines(migrated_database_url, ["old"], ts=old)
    add_lines(migrated_database_url, ["new"])
    recent = client.get("/v1/services/web/logs?since=600", headers=alice).get_json()
    assert [x["line"] for x in recent["lines"]] == ["new"]
    since = (old - timedelta(minutes=1)).isoformat()
    both = client.get("/v1/services/web/logs", query_string={"since": since}, headers=alice)
    assert [x["line"] for x in both.get_json()["lines"]] == ["old", "new"]


@pytest.mark.parametrize(
    "query, field",
    [
        ("tail=0", "tail"),
        ("tail=1001", "tail"),
        ("tail=abc", "tail"),
        ("after=-1", "after"),
        ("limit=0", "limit"),
        ("since=yesterday", "since"),
        ("since=-5", "since"),
        ("follow=maybe", "follow"),
        ("tail=5&after=3", "tail"),
        ("tail=5&tail=6", "tail"),
    ],
)
def test_a_bad_parameter_is_a_400_naming_it(client, alice, web, query, field):
    answer = client.get(f"/v1/services/web/logs?{query}", headers=alice)
    assert answer.status_code == 400
    error = answer.get_json()["error"]
    assert error["code"] == "invalid_request" and field in error["fields"]
    assert field in error["message"]


def test_only_the_owner_reads_a_services_logs(client, alice, bob, web, migrated_database_url):
    add_lines(migrated_database_url, ["alice's secret line"])
    for path in ("/v1/services/web/logs", "/v1/services/web/logs?follow=true"):
        answer = client.get(path, headers=bob)
        assert answer.status_code == 404 and "secret" not in answer.get_data(as_text=True)
    assert client.get("/v1/services/nope/logs", headers=alice).status_code == 404
    assert client.get("/v1/services/web/logs").status_code == 401


def test_the_service_shows_its_last_line_restarts_and_status_since(
    client, alice, web, migrated_database_url
):
    add_lines(migrated_database_url, ["booting", "ready on :8080"])
    service = client.get("/v1/services/web", headers=alice).get_json()
    assert service["last_log"] == "ready on :8080"
    assert service["restart_count"] == 0
    assert datetime.fromisoformat(service["status_since"]) <= datetime.now(UTC)


def test_streams_per_user_are_limited_and_freed_when_a_stream_ends(
    app, client, alice, bob, web, migrated_database_url
):
    app.config["SWS_MAX_STREAMS_PER_USER"] = 1
    first = client.get("/v1/services/web/logs?follow=true", headers=alice)
    assert first.status_code == 200  # the test client leaves the stream open until closed
    second = client.get("/v1/services/web/logs?follow=1", headers=alice)
    assert second.status_code == 429
    error = second.get_json()["error"]
    assert error["code"] == "too_many_streams" and "SWS_MAX_STREAMS_PER_USER=1" in error["message"]
    assert client.get("/v1/services/web/logs", headers=alice).status_code == 200  # pages: fine
    first.close()
    third = client.get("/v1/services/web/logs?follow=true", headers=alice)
    assert third.status_code == 200
    third.close()


def test_streams_never_take_every_thread_of_a_worker(app, client, make_user, web):
    app.extensions["sws_stream_threads"] = WorkerThreads(1)  # as with SWS_THREADS=2
    carol = make_user("carol")
    client.put("/v1/services/other", json=definition("other"), headers=carol)
    first = client.get("/v1/services/other/logs?follow=true", headers=carol)
    busy = client.get("/v1/services/other/logs?follow=true", headers=carol)
    assert busy.status_code == 503 and busy.get_json()["error"]["code"] == "busy"
    first.close()
    again = client.get("/v1/services/other/logs?follow=true", headers=carol)
    assert again.status_code == 200
    again.close()


@pytest.fixture
def one_worker_app(migrated_database_url):
    """One worker of 8 threads: 4 stream slots in all, so each user may hold 1."""
    app = create_app(TestConfig(migrated_database_url, SWS_WORKERS="1", SWS_THREADS="8"))
    yield app
    dispose(app)


def test_a_fourth_user_still_gets_a_slot_while_three_hold_their_most(one_worker_app):
    client = one_worker_app.test_client()
    assert one_worker_app.config["SWS_MAX_STREAMS_PER_USER"] == 1
    held = []
    for name in ("ann", "ben", "cat", "dan"):
        with one_worker_app.app_context():
            headers = {"Authorization": f"Bearer {auth.create_user(name)}"}
        service = f"{name}-web"
        assert client.put(f"/v1/services/{service}", json=definition(service), headers=headers)
        stream = client.get(f"/v1/services/{service}/logs?follow=true", headers=headers)
        assert stream.status_code == 200, f"{name}: {stream.data}"  # dan too: the fourth slot
        held.append(stream)
        more = client.get(f"/v1/services/{service}/logs?follow=true", headers=headers)
        assert more.status_code == 429  # each at their most
    # Every slot of the host held, one each: no one has a stream to spare, so a fifth waits.
    with one_worker_app.app_context():
        eve = {"Authorization": f"Bearer {auth.create_user('eve')}"}
    assert client.put("/v1/services/eve-web", json=definition("eve-web"), headers=eve)
    full = client.get("/v1/services/eve-web/logs?follow=true", headers=eve)
    assert full.status_code == 503
    assert full.get_json()["error"]["message"].startswith("all 4 log stream slots of this host")
    for stream in reversed(held):  # each holds a request context: the last one goes first
        stream.close()


# --- Through a live gunicorn -------------------------------------------------------------------


@pytest.fixture
def streaming_api(database_url):
    live = start_live_api(
        database_url,
        SWS_STREAM_POLL_SECONDS="0.1",
        SWS_STREAM_MAX_SECONDS="20",
        SWS_MAX_STREAMS_PER_USER="2",
        SWS_THREADS="8",
    )
    yield live
    stop_live_api(live)


class Stream:
    """A follow stream read on a thread: its objects land in .items as they arrive."""

    def __init__(self, url, headers):
        self.response = requests.get(url, headers=headers, stream=True, timeout=WAIT)
        self.items: list[dict] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            for raw in self.response.iter_lines():
                if raw.strip():
                    self.items.append(json.loads(raw))
        except (requests.RequestException, AttributeError, OSError, ValueError):
            pass  # closed by the test

    def wait_for(self, check, what):
        deadline = time.monotonic() + WAIT
        while not check(self.items):
            assert time.monotonic() < deadline, f"{what}; got {self.items[-5:]}"
            time.sleep(0.05)

    def close(self):
        # Shut the socket first: closing a response another thread is reading waits for
        # that read (the server's next keep-alive line) otherwise.
        connection = getattr(self.response.raw, "connection", None)
        if connection is not None and connection.sock is not None:
            connection.sock.shutdown(socket.SHUT_RDWR)
        self.response.close()
        self.thread.join(timeout=WAIT)


def test_follow_streams_new_lines_and_ends_when_the_service_goes(streaming_api):
    live = streaming_api
    alice = {"Authorization": f"Bearer {live.create_user('alice')}"}
    bob = {"Authorization": f"Bearer {live.create_user('bob')}"}
    url = live.url + "/v1/services/web"
    assert requests.put(url, json=definition(), headers=alice, timeout=WAIT).status_code == 201
    add_lines(live.database_url, ["before 1", "before 2"])

    stream = Stream(url + "/logs?follow=true&tail=1", alice)
    assert stream.response.headers["Content-Type"] == "application/x-ndjson"
    stream.wait_for(lambda items: len(items) == 1, "the tail is not sent first")
    assert stream.items[0]["line"] == "before 2"
    add_lines(live.database_url, ["after 1"], generation=2, stream="stderr")
    stream.wait_for(lambda items: len(items) == 2, "a new line is not streamed")
    assert stream.items[1]["line"] == "after 1" and stream.items[1]["generation"] == 2

    # Two streams is alice's limit here; bob and plain requests are not held up by them.
    other = Stream(url + "/logs?follow=true", alice)
    third = requests.get(url + "/logs?follow=true", headers=alice, timeout=WAIT)
    assert third.status_code == 429
    assert requests.get(url, headers=alice, timeout=WAIT).status_code == 200
    assert requests.put(
        live.url + "/v1/services/bweb", json=definition("bweb"), headers=bob, timeout=WAIT
    ).ok
    bobs = Stream(live.url + "/v1/services/bweb/logs?follow=true", bob)
    assert bobs.response.status_code == 200
    bobs.close()
    other.close()

    assert requests.delete(url, headers=alice, timeout=WAIT).status_code == 202
    stream.wait_for(lambda items: "end" in items[-1], "the stream does not end on delete")
    assert stream.items[-1] == {"end": "deleted", "cursor": stream.items[1]["cursor"]}
    stream.close()


def test_a_stream_ends_after_its_longest_duration_and_goes_on_from_its_cursor(
    app, client, alice, web, migrated_database_url
):
    app.config.update(SWS_STREAM_MAX_SECONDS=1, SWS_STREAM_POLL_SECONDS=0.1)
    add_lines(migrated_database_url, ["one"])
    answer = client.get("/v1/services/web/logs?follow=true", headers=alice)
    items = [json.loads(x) for x in answer.get_data(as_text=True).splitlines() if x.strip()]
    assert items[0]["line"] == "one"
    assert items[-1] == {"end": "max_duration", "cursor": items[0]["cursor"]}
    add_lines(migrated_database_url, ["two"])
    rest = client.get(f"/v1/services/web/logs?after={items[-1]['cursor']}", headers=alice)
    assert [x["line"] for x in rest.get_json()["lines"]] == ["two"]
