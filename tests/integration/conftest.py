"""Fixtures for the apiserver against a real PostgreSQL: an app, its test client, a live server.

`live_api` is also what swsctl's tests use: its interface (url, database_url, create_user,
issue_token, revoke_tokens) is kept stable.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

import flask_migrate
import pytest
import requests
from flask import Flask

from swsapi import auth
from swsapi.app import create_app
from swsapi.config import Config
from swsapi.extensions import db
from tests.fixtures.postgres import free_port

SERVE_TIMEOUT = 30


class TestConfig(Config):
    """Config for tests: the environment is ignored, only what the test passes counts."""

    TESTING = True

    def __init__(self, database_url: str, **env: str):
        super().__init__({"SWS_DATABASE_URL": database_url, **env})


def migrated_app(database_url: str, **env: str) -> Flask:
    app = create_app(TestConfig(database_url, **env))
    with app.app_context():
        flask_migrate.upgrade()
    return app


def dispose(app: Flask) -> None:
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="session")
def migrated_template(pg_server) -> str:
    """A database migrated once per session; tests get copies (much faster than migrating)."""
    template = "sws_migrated_template"
    dispose(migrated_app(pg_server.create_database(template)))
    return template


@pytest.fixture
def migrated_database_url(pg_server, migrated_template, request) -> str:
    """A fresh database with the schema at the latest migration."""
    name = "m_" + "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:50]
    return pg_server.create_database(name, template=migrated_template)


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


@dataclass
class LiveApi:
    """A running apiserver: `sws-apiserver serve` (migrations, then gunicorn) on a free port.

    url:            base URL, e.g. http://127.0.0.1:40123 (paths start with /v1)
    database_url:   the fresh database it serves from
    create_user(name, admin=False) -> token   a new user and its first token
    issue_token(name) -> token                one more token for an existing user
    revoke_tokens(name) -> int                revoke every token of a user
    log() -> str                              what the server printed so far
    """

    url: str
    database_url: str
    process: subprocess.Popen
    logfile: str
    app: Flask = field(repr=False)

    def create_user(self, name: str, admin: bool = False) -> str:
        with self.app.app_context():
            return auth.create_user(name, admin=admin)

    def issue_token(self, name: str) -> str:
        with self.app.app_context():
            return auth.issue_token(name)

    def revoke_tokens(self, name: str) -> int:
        with self.app.app_context():
            return auth.revoke_tokens(name)

    def log(self) -> str:
        with open(self.logfile, errors="replace") as f:
            return f.read()


def serve_command() -> list[str]:
    script = os.path.join(os.path.dirname(sys.executable), "sws-apiserver")
    return [script, "serve"]


def start_live_api(database_url: str, workers: int = 2, **env: str) -> LiveApi:
    """Start `sws-apiserver serve` and wait until /v1/health answers 200."""
    port = free_port()
    logfile = tempfile.NamedTemporaryFile(prefix="sws-apiserver-", suffix=".log", delete=False)
    server_env = {
        **os.environ,
        "SWS_DATABASE_URL": database_url,
        "SWS_BIND": f"127.0.0.1:{port}",
        "SWS_WORKERS": str(workers),
        "SWS_LOG_LEVEL": "warning",
        **env,
    }
    with logfile:
        process = subprocess.Popen(
            serve_command(), env=server_env, stdout=logfile, stderr=subprocess.STDOUT
        )
    live = LiveApi(
        url=f"http://127.0.0.1:{port}",
        database_url=database_url,
        process=process,
        logfile=logfile.name,
        app=create_app(TestConfig(database_url)),
    )
    deadline = time.monotonic() + SERVE_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = live.log()
            stop_live_api(live)
            raise RuntimeError(f"sws-apiserver serve exited {process.returncode}:\n{log}")
        try:
            if requests.get(live.url + "/v1/health", timeout=1).status_code == 200:
                return live
        except requests.RequestException:
            pass  # not listening yet, or a worker still booting
        time.sleep(0.1)
    log = live.log()
    stop_live_api(live)
    raise RuntimeError(f"sws-apiserver did not answer within {SERVE_TIMEOUT}s:\n{log}")


def stop_live_api(live: LiveApi) -> None:
    live.process.terminate()
    try:
        live.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        live.process.kill()
        live.process.wait()
    dispose(live.app)
    os.unlink(live.logfile)


@pytest.fixture
def live_api(database_url):
    """A real apiserver (gunicorn, 2 workers) on a free port against a fresh database.

    Yields a LiveApi: `.url`, `.database_url`, `.create_user(name, admin=False) -> token`,
    `.issue_token(name) -> token`, `.revoke_tokens(name) -> int`, `.log()`.
    """
    live = start_live_api(database_url)
    yield live
    stop_live_api(live)
