"""Fixtures for the apiserver against a real PostgreSQL: an app, its test client, a live server.

`live_api` is also what swsctl's tests use: its interface (url, database_url, create_user,
issue_token, revoke_tokens, log) is kept stable. The helpers behind it live in
tests/fixtures/apiserver.py and are re-exported here.
"""

from __future__ import annotations

import pytest

from swsapi import auth
from swsapi.app import create_app
from tests.fixtures.apiserver import (  # noqa: F401  (re-exported for other test modules)
    LiveApi,
    TestConfig,
    dispose,
    migrated_app,
    start_live_api,
    stop_live_api,
)


@pytest.fixture(scope="session")
def migrated_template(pg_server) -> str:
    """A database migrated once per session; tests get copies (much faster than migrating)."""
    template = "sws_migrated_template"
    dispose(migrated_app(pg_server.create_database(template)))
    return template


@pytest.fixture
def migrated_database_url(pg_server, migrated_template, request) -> str:
    """A fresh database with the schema at the latest migration (dropped afterwards)."""
    name = "m_" + "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:50]
    yield pg_server.create_database(name, template=migrated_template)
    pg_server.drop_database(name)


@pytest.fixture
def app(migrated_database_url):
    """The apiserver app on a fresh, migrated database (SWS_RESERVED_DOMAINS=api.sws.test)."""
    app = create_app(TestConfig(migrated_database_url, SWS_RESERVED_DOMAINS="api.sws.test"))
    yield app
    dispose(app)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_user(app):
    """make_user(name, admin=False) -> {'Authorization': 'Bearer <token>'} for the test client."""

    def make(name: str, admin: bool = False) -> dict:
        with app.app_context():
            return {"Authorization": f"Bearer {auth.create_user(name, admin=admin)}"}

    return make


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def bob(make_user):
    return make_user("bob")


@pytest.fixture
def live_api(database_url):
    """A real apiserver (gunicorn, 2 workers) on a free port against a fresh database.

    Yields a LiveApi: `.url`, `.database_url`, `.create_user(name, admin=False) -> token`,
    `.issue_token(name) -> token`, `.revoke_tokens(name) -> int`, `.log()`.
    """
    live = start_live_api(database_url)
    yield live
    stop_live_api(live)
