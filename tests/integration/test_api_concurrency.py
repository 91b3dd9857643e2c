"""Concurrent applies of the same name or domain, on a real gunicorn with several workers.

Whoever commits first wins; every other request gets a 409 (another owner) or sees the winner's
row (same owner), never a 500, and the store holds exactly one row.
"""

import threading

import psycopg2
import pytest
import requests

from tests.fixtures.apiserver import start_live_api, stop_live_api

ROUNDS = 12
RACERS = 4


@pytest.fixture
def busy_api(database_url):
    live = start_live_api(database_url, workers=RACERS)
    yield live
    stop_live_api(live)


def race(url: str, jobs: list[tuple[str, dict, dict]]) -> list[requests.Response]:
    """Send PUTs at once (released together by a barrier); return the responses in order."""
    barrier = threading.Barrier(len(jobs))
    responses: list = [None] * len(jobs)

    def send(i, path, body, headers):
        with requests.Session() as session:
            barrier.wait()
            responses[i] = session.put(url + path, json=body, headers=headers, timeout=30)

    threads = [threading.Thread(target=send, args=(i, *job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return responses


def doc(name: str, domain: str) -> dict:
    return {
        "apiVersion": "v1",
        "spec": {"name": name, "port": 80, "domain": domain, "image": "nginx"},
    }


def rows(url: str, query: str) -> list:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(query)
        found = cur.fetchall()
    conn.close()
    return found


@pytest.fixture
def racers(busy_api):
    return [{"Authorization": f"Bearer {busy_api.create_user(f'user-{i}')}"} for i in range(RACERS)]


def test_racing_for_one_name_gives_one_winner_and_409s(busy_api, racers):
    for n in range(ROUNDS):
        name = f"svc-{n}"
        jobs = [
            (f"/v1/services/{name}", doc(name, f"{name}-{i}.example.com"), headers)
            for i, headers in enumerate(racers)
        ]
        statuses = sorted(r.status_code for r in race(busy_api.url, jobs))
        assert statuses == [201] + [409] * (RACERS - 1), statuses
    assert len(rows(busy_api.database_url, "SELECT name FROM services")) == ROUNDS


def test_racing_for_one_domain_gives_one_winner_and_409s(busy_api, racers):
    for n in range(ROUNDS):
        domain = f"shared-{n}.example.com"
        jobs = [
            (f"/v1/services/r{n}-{i}", doc(f"r{n}-{i}", domain), headers)
            for i, headers in enumerate(racers)
        ]
        responses = race(busy_api.url, jobs)
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [201] + [409] * (RACERS - 1), statuses
        for r in responses:
            if r.status_code == 409:
                assert r.json()["error"]["code"] == "conflict"
                assert (
                    domain in r.json()["error"]["message"]
                    or "domain" in r.json()["error"]["message"]
                )
    assert len(rows(busy_api.database_url, "SELECT DISTINCT domain FROM services")) == ROUNDS


def test_one_user_racing_with_itself_creates_once(busy_api, racers):
    headers = racers[0]
    for n in range(ROUNDS):
        name = f"self-{n}"
        jobs = [(f"/v1/services/{name}", doc(name, f"{name}.example.com"), headers)] * RACERS
        responses = race(busy_api.url, jobs)
        assert sorted(r.status_code for r in responses) == [200] * (RACERS - 1) + [201]
        assert sorted(r.json()["result"] for r in responses) == ["created"] + ["unchanged"] * (
            RACERS - 1
        )
        assert {r.json()["generation"] for r in responses} == {1}
    assert "Traceback" not in busy_api.log()


def test_one_users_racing_creates_stop_at_the_quota(database_url):
    live = start_live_api(database_url, workers=RACERS, SWS_SERVICE_QUOTA="2")
    try:
        headers = {"Authorization": f"Bearer {live.create_user('greedy')}"}
        for n in range(3):
            jobs = [
                (f"/v1/services/q{n}-{i}", doc(f"q{n}-{i}", f"q{n}-{i}.example.com"), headers)
                for i in range(RACERS)
            ]
            race(live.url, jobs)
        # However the creates interleave, the owner's row lock counts them one at a time.
        assert rows(live.database_url, "SELECT count(*) FROM services") == [(2,)]
        assert "Traceback" not in live.log()
    finally:
        stop_live_api(live)
