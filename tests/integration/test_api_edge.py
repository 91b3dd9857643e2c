"""What the edge tells the apiserver (issue 25): over HTTPS the session cookie is Secure and
answers carry HSTS; over plain HTTP the API still answers, its cookie without Secure."""

import pytest

from swsapi import auth
from swsapi.app import create_app
from tests.fixtures.apiserver import TestConfig, dispose
from tests.integration.test_api_sessions import key_file  # noqa: F401  (a fixture)

HTTPS = {"X-Forwarded-Proto": "https"}


@pytest.fixture
def edge_app(migrated_database_url, key_file):  # noqa: F811
    app = create_app(TestConfig(migrated_database_url, SWS_SECRET_KEY_FILE=key_file))
    yield app
    dispose(app)


@pytest.fixture
def token(edge_app) -> str:
    with edge_app.app_context():
        return auth.create_user("alice")


def test_over_https_the_cookie_is_secure_and_hsts_is_sent(edge_app, token):
    browser = edge_app.test_client()
    response = browser.post("/v1/session", json={"token": token}, headers=HTTPS)
    assert response.status_code == 200
    cookie = response.headers["Set-Cookie"]
    assert "; Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
    health = browser.get("/v1/health", headers=HTTPS)
    assert health.headers["Strict-Transport-Security"] == "max-age=31536000"
    signed_out = browser.delete("/v1/session", headers=HTTPS)
    assert "; Secure" in signed_out.headers["Set-Cookie"]  # the clearing cookie matches it


def test_over_plain_http_the_api_answers_and_the_cookie_is_not_secure(edge_app, token):
    browser = edge_app.test_client()
    for headers in ({}, {"X-Forwarded-Proto": "http"}):
        response = browser.post("/v1/session", json={"token": token}, headers=headers)
        assert response.status_code == 200
        assert "Secure" not in response.headers["Set-Cookie"]
        assert "Strict-Transport-Security" not in response.headers
    assert browser.get("/v1/session").get_json()["name"] == "alice"  # the cookie works


def test_the_hsts_max_age_is_a_setting(migrated_database_url):
    app = create_app(TestConfig(migrated_database_url, SWS_HSTS_SECONDS="600"))
    try:
        answer = app.test_client().get("/v1/health", headers=HTTPS)
        assert answer.headers["Strict-Transport-Security"] == "max-age=600"
    finally:
        dispose(app)
    app = create_app(TestConfig(migrated_database_url, SWS_HSTS_SECONDS="0"))
    try:
        answer = app.test_client().get("/v1/health", headers=HTTPS)
        assert "Strict-Transport-Security" not in answer.headers
    finally:
        dispose(app)
