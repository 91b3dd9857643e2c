"""A slowdown on token guesses (issue 25): wrong tokens from one client address, as the edge
sets it in X-Real-IP, block that address with 429 and Retry-After; others go on."""

import pytest

from swsapi import auth
from swsapi.app import create_app
from swsapi.guesses import MAX_ADDRESSES, GuessLimit
from tests.fixtures.apiserver import TestConfig, dispose
from tests.integration.test_api_sessions import key_file  # noqa: F401  (a fixture)

GUESSER = {"X-Real-IP": "203.0.113.7"}
NEIGHBOUR = {"X-Real-IP": "198.51.100.2"}
WRONG = "sws_" + "x" * 43


@pytest.fixture
def guarded(migrated_database_url, key_file):  # noqa: F811
    app = create_app(
        TestConfig(
            migrated_database_url,
            SWS_SECRET_KEY_FILE=key_file,
            SWS_AUTH_FAILURES="3",
            SWS_AUTH_WINDOW_SECONDS="60",
            SWS_AUTH_BLOCK_SECONDS="120",
        )
    )
    yield app
    dispose(app)


@pytest.fixture
def token(guarded) -> str:
    with guarded.app_context():
        return auth.create_user("alice")


def bearer(token: str, address: dict) -> dict:
    return {"Authorization": f"Bearer {token}", **address}


def test_wrong_tokens_block_their_address_and_no_other(guarded, token):
    client = guarded.test_client()
    for _ in range(3):
        assert client.get("/v1/whoami", headers=bearer(WRONG, GUESSER)).status_code == 401
    blocked = client.get("/v1/whoami", headers=bearer(token, GUESSER))  # even a valid one
    assert blocked.status_code == 429
    assert blocked.get_json()["error"]["code"] == "too_many_attempts"
    assert 118 <= int(blocked.headers["Retry-After"]) <= 120
    signing_in = client.post("/v1/session", json={"token": token}, headers=GUESSER)
    assert signing_in.status_code == 429 and "Retry-After" in signing_in.headers
    assert client.get("/v1/whoami", headers=bearer(token, NEIGHBOUR)).get_json()["name"] == (
        "alice"
    )


def test_sign_in_guesses_count_and_a_client_cannot_choose_its_address(guarded, token):
    client = guarded.test_client()
    for _ in range(3):
        # A client-sent X-SWS-Client changes nothing: the proxies clear it, and only X-Real-IP
        # (theirs) is read.
        headers = {**GUESSER, "X-SWS-Client": "192.0.2.99"}
        assert client.post("/v1/session", json={"token": WRONG}, headers=headers).status_code == 401
    assert client.get("/v1/whoami", headers=bearer(token, GUESSER)).status_code == 429
    # Without the edge's header (a test client, a direct connection) the TCP peer counts.
    assert client.get("/v1/whoami", headers=bearer(token, {})).status_code == 200


def test_a_missing_token_is_no_guess(guarded):
    client = guarded.test_client()
    for _ in range(5):
        assert client.get("/v1/whoami", headers=GUESSER).status_code == 401
    assert client.get("/v1/services", headers=GUESSER).status_code == 401  # not 429


def test_the_window_and_the_block_end():
    limit = GuessLimit(failures=3, window=60, block=120)
    limit.failed("a", now=0)
    limit.failed("a", now=10)
    limit.failed("a", now=80)  # the first two fell out of their window
    assert limit.retry_after("a", now=81) == 0
    limit.failed("a", now=90)
    limit.failed("a", now=100)
    assert limit.retry_after("a", now=100) == 120
    assert limit.retry_after("a", now=219.5) == 1
    assert limit.retry_after("a", now=220) == 0


def test_the_table_of_addresses_is_bounded():
    limit = GuessLimit(failures=2, window=60, block=60)
    limit.failed("first", now=0)
    limit.failed("first", now=0)
    for i in range(MAX_ADDRESSES):
        limit.failed(f"10.0.{i // 256}.{i % 256}", now=1)
    assert len(limit._seen) == MAX_ADDRESSES
    assert limit.retry_after("first", now=2) == 0  # the oldest went first
