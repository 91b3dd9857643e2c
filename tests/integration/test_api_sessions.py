"""The web view's session: sign in with a token, a signed HttpOnly SameSite cookie, CSRF on
every change made with it, sign out; and the page served from the package."""

import pytest
from flask import Flask

from swsapi import auth
from swsapi.app import create_app
from swsapi.config import Config, ConfigError
from tests.fixtures.apiserver import TestConfig, dispose
from tests.integration.test_api_services import definition, error

KEY = "k" * 48


@pytest.fixture
def key_file(tmp_path):
    path = tmp_path / "secret-key"
    path.write_text(KEY + "\n")
    return str(path)


@pytest.fixture
def web_app(migrated_database_url, key_file) -> Flask:
    app = create_app(TestConfig(migrated_database_url, SWS_SECRET_KEY_FILE=key_file))
    yield app
    dispose(app)


@pytest.fixture
def browser(web_app):
    """A test client that keeps cookies, as a browser does."""
    return web_app.test_client()


@pytest.fixture
def token(web_app) -> str:
    with web_app.app_context():
        return auth.create_user("alice")


def sign_in(browser, token) -> str:
    response = browser.post("/v1/session", json={"token": token})
    assert response.status_code == 200, response.data
    return response.get_json()["csrf_token"]


def put_web(browser, csrf=None, **spec):
    headers = {"X-CSRF-Token": csrf} if csrf else {}
    return browser.put("/v1/services/web", json=definition(**spec), headers=headers)


def test_sign_in_sets_a_signed_httponly_samesite_cookie_without_the_token(browser, token):
    response = browser.post("/v1/session", json={"token": token})
    assert response.status_code == 200
    body = response.get_json()
    assert body["name"] == "alice" and body["admin"] is False
    assert len(body["csrf_token"]) >= 32
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("sws_session=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "Expires=" in cookie
    assert token not in cookie and token[4:20] not in cookie
    assert browser.get("/v1/session").get_json()["csrf_token"] == body["csrf_token"]


def test_the_cookie_reads_and_with_csrf_changes(browser, token):
    csrf = sign_in(browser, token)
    assert browser.get("/v1/services").status_code == 200
    assert browser.get("/v1/whoami").get_json()["name"] == "alice"
    assert put_web(browser, csrf).status_code == 201
    assert put_web(browser, csrf, port=9000).get_json()["generation"] == 2
    rolled = browser.post(
        "/v1/services/web/rollback", json={"generation": 1}, headers={"X-CSRF-Token": csrf}
    )
    assert rolled.status_code == 200 and rolled.get_json()["generation"] == 3


def test_a_change_with_the_cookie_but_without_csrf_is_403_and_changes_nothing(browser, token):
    csrf = sign_in(browser, token)
    put_web(browser, csrf)
    put_web(browser, csrf, port=9000)
    for headers in ({}, {"X-CSRF-Token": ""}, {"X-CSRF-Token": csrf[:-1] + "x"}):
        for response in (
            browser.put("/v1/services/web", json=definition(port=9100), headers=headers),
            browser.post("/v1/services/web/rollback", headers=headers),
            browser.post("/v1/services/web/restart", headers=headers),
            browser.delete("/v1/services/web", headers=headers),
            browser.delete("/v1/session", headers=headers),
        ):
            assert response.status_code == 403, response.data
            assert error(response)["code"] == "forbidden"
            assert "X-CSRF-Token" in error(response)["message"]
    service = browser.get("/v1/services/web").get_json()
    assert (service["generation"], service["status"]) == (2, "pending")


def test_a_bearer_token_needs_no_csrf_even_next_to_a_cookie(browser, token):
    sign_in(browser, token)
    bearer = {"Authorization": f"Bearer {token}"}
    response = browser.put("/v1/services/web", json=definition(), headers=bearer)
    assert response.status_code == 201
    # A wrong bearer token is not rescued by the cookie.
    wrong = {"Authorization": "Bearer sws_wrong"}
    assert browser.get("/v1/services", headers=wrong).status_code == 401


def test_sign_out_clears_the_cookie(browser, token):
    csrf = sign_in(browser, token)
    response = browser.delete("/v1/session", headers={"X-CSRF-Token": csrf})
    assert response.status_code == 204
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("sws_session=;") and "Expires=Thu, 01 Jan 1970" in cookie
    assert browser.get("/v1/services").status_code == 401
    assert browser.get("/v1/session").status_code == 401


def test_revoking_the_token_ends_the_session(browser, token, web_app):
    sign_in(browser, token)
    with web_app.app_context():
        auth.revoke_tokens("alice")
    response = browser.get("/v1/services")
    assert response.status_code == 401 and "revoked" in error(response)["message"]
    assert browser.get("/v1/services").status_code == 401


@pytest.mark.parametrize(
    "body",
    [{}, {"token": ""}, {"token": 1}, {"token": None}, {"token": "x", "extra": 1}, {"tok": "x"}],
)
def test_sign_in_with_a_bad_body_is_400_naming_token(browser, body):
    response = browser.post("/v1/session", json=body)
    assert response.status_code == 400
    assert "token" in error(response)["fields"]


def test_sign_in_with_a_wrong_token_or_a_form_is_refused_and_sets_no_cookie(browser, token):
    wrong = browser.post("/v1/session", json={"token": "sws_" + "x" * 43})
    assert wrong.status_code == 401 and "Set-Cookie" not in wrong.headers
    form = browser.post("/v1/session", data={"token": token})
    assert form.status_code == 415 and "Set-Cookie" not in form.headers
    # A token in the URL is no way in either.
    assert browser.get(f"/v1/services?token={token}").status_code == 401


def test_a_cookie_signed_with_another_key_is_ignored(
    browser, token, migrated_database_url, tmp_path
):
    sign_in(browser, token)
    cookie = browser.get_cookie("sws_session").value
    other_key = tmp_path / "other-key"
    other_key.write_text("o" * 48)
    other = create_app(TestConfig(migrated_database_url, SWS_SECRET_KEY_FILE=str(other_key)))
    try:
        client = other.test_client()
        client.set_cookie("sws_session", cookie)
        assert client.get("/v1/services").status_code == 401
    finally:
        dispose(other)


def test_without_a_secret_key_there_is_no_web_sign_in(client, token_for_client):
    response = client.post("/v1/session", json={"token": token_for_client})
    assert response.status_code == 503
    assert error(response)["code"] == "not_configured"
    assert "SWS_SECRET_KEY_FILE" in error(response)["message"]


def test_a_bearer_caller_can_sign_out_with_or_without_a_key(
    client, token_for_client, browser, token
):
    assert client.delete("/v1/session", headers=bearer(token_for_client)).status_code == 204
    assert browser.delete("/v1/session", headers=bearer(token)).status_code == 204
    session = client.get("/v1/session", headers=bearer(token_for_client)).get_json()
    assert session == {"name": "carol", "admin": False, "csrf_token": None}


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def token_for_client(app) -> str:
    with app.app_context():
        return auth.create_user("carol")


def test_a_missing_or_short_secret_key_file_stops_start_up(tmp_path):
    with pytest.raises(ConfigError, match="SWS_SECRET_KEY_FILE: cannot read"):
        Config({"SWS_SECRET_KEY_FILE": str(tmp_path / "missing")})
    short = tmp_path / "short"
    short.write_text("abc")
    with pytest.raises(ConfigError, match="at least 32 characters"):
        Config({"SWS_SECRET_KEY_FILE": str(short)})


def fetch(browser, path):
    """GET a file and close it (the test client hands files over open)."""
    with browser.get(path) as response:
        return response.status_code, response.mimetype, response.headers, response.get_data()


def test_the_page_and_its_files_are_served_with_a_strict_policy(browser):
    for path in ("/", "/ui"):
        status, mimetype, headers, data = fetch(browser, path)
        assert status == 200 and mimetype == "text/html"
        assert b'src="/ui/static/app.js"' in data
        policy = headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert headers["X-Content-Type-Options"] == "nosniff"
    status, _, _, script = fetch(browser, "/ui/static/app.js")
    assert status == 200 and b"X-CSRF-Token" in script
    assert fetch(browser, "/ui/static/style.css")[1] == "text/css"
    assert fetch(browser, "/ui/static/../config.py")[0] == 404
    assert fetch(browser, "/ui/static/nope.js")[0] == 404
