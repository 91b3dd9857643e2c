"""The host's log-follow slots through a live gunicorn (2 gthread workers x 8 threads: 8 slots,
2 a user) against the real PostgreSQL, with real users and concurrent follow requests
(issue 25: the slots were each worker's, and three users at 3 streams took all 8).

- the slots are counted across the workers: the host holds 8 streams whichever worker each
  landed on, and a user's third is refused (429) wherever it lands;
- three users hold at most 6, so a fourth user follows too;
- with every slot held and a user holding two, a user with none gets one: the greediest
  user's newest stream ends with {"end": "evicted"}; a user who already holds one is refused
  (503), and slots given back are taken at once.
"""

from __future__ import annotations

import time

import psycopg2
import pytest
import requests

from tests.integration.conftest import start_live_api, stop_live_api
from tests.integration.test_api_logs import WAIT, Stream, definition


@pytest.fixture
def two_workers(database_url):
    live = start_live_api(
        database_url,
        workers=2,
        SWS_THREADS="8",
        SWS_STREAM_POLL_SECONDS="0.1",
        SWS_STREAM_MAX_SECONDS="60",
    )
    yield live
    stop_live_api(live)


class Follower:
    """A user with a service, following its log."""

    def __init__(self, live, name: str):
        self.name = name
        self.headers = {"Authorization": f"Bearer {live.create_user(name)}"}
        self.url = f"{live.url}/v1/services/{name}-web"
        answer = requests.put(self.url, json=definition(f"{name}-web"), headers=self.headers)
        assert answer.status_code == 201, answer.text
        self.streams: list[Stream] = []

    def follow(self) -> Stream:
        """A new stream; a worker whose stream threads are all lent says 503 and the next try
        may land on the other, as swsctl tries again."""
        for _ in range(50):
            stream = Stream(self.url + "/logs?follow=true", self.headers)
            if not worker_busy(stream):
                self.streams.append(stream)
                return stream
            stream.close()
            time.sleep(0.05)
        raise AssertionError("every try landed on a worker without a free thread")

    def refused(self) -> requests.Response:
        """The host's answer to one more stream (a worker without a free thread: try again)."""
        for _ in range(50):
            answer = requests.get(
                self.url + "/logs?follow=true", headers=self.headers, timeout=WAIT
            )
            assert answer.status_code in (429, 503), answer.text
            if "worker" not in answer.json()["error"]["message"]:
                return answer
            time.sleep(0.05)
        raise AssertionError("every try landed on a worker without a free thread")


def worker_busy(stream: Stream) -> bool:
    if stream.response.status_code != 503:
        return False
    stream.thread.join(WAIT)  # the error's body, read by the stream's own thread
    return "worker" in stream.items[0]["error"]["message"]


def host_streams(live) -> int:
    conn = psycopg2.connect(live.database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM log_streams")
            return cur.fetchone()[0]
    finally:
        conn.close()


def test_the_hosts_slots_are_shared_fairly_across_workers(two_workers):
    live = two_workers
    ann, ben, cat, dan, eve = (Follower(live, n) for n in ("ann", "ben", "cat", "dan", "eve"))
    try:
        for user in (ann, ben, cat):
            assert user.follow().response.status_code == 200
            assert user.follow().response.status_code == 200
            third = user.refused()
            assert third.status_code == 429 and third.json()["error"]["code"] == "too_many_streams"
        # Three users hold 6 of the host's 8: a fourth follows as well, twice.
        assert dan.follow().response.status_code == 200
        last = dan.follow()
        assert last.response.status_code == 200
        assert host_streams(live) == 8  # across both workers
        assert requests.get(ann.url, headers=ann.headers, timeout=WAIT).status_code == 200

        # Every slot held: eve, who holds none, takes dan's newest (he opened last).
        first = eve.follow()
        assert first.response.status_code == 200
        last.wait_for(lambda items: items and "end" in items[-1], "dan's stream goes on")
        assert last.items[-1]["end"] == "evicted"
        others = [s for u in (ann, ben, cat, dan) for s in u.streams if s is not last]
        assert not any("end" in item for s in others for item in s.items)
        # eve and dan now hold one each and the host is full: neither takes another's slot.
        for user in (eve, dan):
            full = user.refused()
            assert full.status_code == 503 and "all 8 log stream slots" in full.text
        # Slots given back are there for the next one: ann's service goes, and her streams
        # end (a client's disconnect is only seen at the stream's next write).
        assert requests.delete(ann.url, headers=ann.headers, timeout=WAIT).status_code == 202
        for stream in ann.streams:
            stream.wait_for(lambda items: items and "end" in items[-1], "ann's stream goes on")
        deadline = time.monotonic() + WAIT
        while host_streams(live) > 6:
            assert time.monotonic() < deadline, "ann's ended streams still hold their slots"
            time.sleep(0.05)
        assert dan.follow().response.status_code == 200
    finally:
        for user in (ann, ben, cat, dan, eve):
            for stream in user.streams:
                stream.close()
