"""`sws-apiserver`: the Flask CLI group of the apiserver (serve, users, db).

`db` comes from Flask-Migrate (`sws-apiserver db upgrade`). Configuration is read from the
SWS_* environment variables, as in the server.
"""

from __future__ import annotations

import os
import sys
import time

import click
import flask_migrate
from flask import current_app
from flask.cli import FlaskGroup
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from swsapi import auth, store
from swsapi.app import create_app
from swsapi.config import Config, ConfigError
from swsapi.errors import ApiError
from swsapi.extensions import db


def _make_app():
    try:
        return create_app(Config())
    except ConfigError as err:
        raise click.ClickException(str(err)) from None


cli = FlaskGroup(
    create_app=_make_app,
    add_default_commands=False,
    load_dotenv=False,
    set_debug_flag=False,
    help="The SWS apiserver: serve the API, manage users and tokens, migrate the store.",
)


def _wait_for_database(seconds: float) -> None:
    """The apiserver may start before sws-confdb accepts connections: wait a little."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            db.session.execute(text("SELECT 1"))
            db.session.rollback()
            return
        except OperationalError as err:
            db.session.rollback()
            if time.monotonic() > deadline:
                raise click.ClickException(f"database unavailable: {err.orig}") from None
            time.sleep(1)


@cli.command()
@click.option(
    "--wait",
    default=30.0,
    show_default=True,
    envvar="SWS_DB_WAIT_SECONDS",
    help="Seconds to wait for the database to accept connections.",
)
def serve(wait):
    """Apply pending migrations, then run the API under gunicorn on SWS_BIND (space-separated).

    Example: SWS_DATABASE_URL=postgresql://sws:pw@sws-confdb/sws sws-apiserver serve
    """
    _wait_for_database(wait)
    flask_migrate.upgrade()
    config = current_app.config
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        # SWS_BIND may list several addresses: the host's proxies use a unix socket.
        *[arg for address in config["SWS_BIND"].split() for arg in ("--bind", address)],
        "--workers",
        str(config["SWS_WORKERS"]),
        # Threads: a log stream (GET .../logs?follow=true) holds one thread, not a worker.
        "--worker-class",
        "gthread",
        "--threads",
        str(config["SWS_THREADS"]),
        "--log-level",
        config["SWS_LOG_LEVEL"],
        "--access-logfile",
        "-",
        "--graceful-timeout",
        "10",
        "--config",
        "python:swsapi.gunicorn_conf",
        # Nothing uses gunicorn's control socket; one shared path would clash between servers.
        "--no-control-socket",
        "swsapi.wsgi:app",
    ]
    db.engine.dispose()  # gunicorn's workers open their own connections
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)


@cli.group()
def users():
    """Create users and manage their tokens."""


@users.command("create")
@click.argument("name")
@click.option("--admin", is_flag=True, help="Make the user an administrator.")
def users_create(name, admin):
    """Create a user and print its token (once; only the token goes to stdout).

    Example: TOKEN=$(sws-apiserver users create alice)
    """
    try:
        click.echo(auth.create_user(name, admin=admin))
    except ApiError as err:
        raise click.ClickException(err.message) from None


@users.command("token")
@click.argument("name")
def users_token(name):
    """Issue one more token for an existing user and print it (only the token).

    Example: TOKEN=$(sws-apiserver users token alice)
    """
    try:
        click.echo(auth.issue_token(name))
    except ApiError as err:
        raise click.ClickException(err.message) from None


@users.command("revoke")
@click.argument("name")
def users_revoke(name):
    """Revoke every token of a user.

    Example: sws-apiserver users revoke alice
    """
    try:
        count = auth.revoke_tokens(name)
    except ApiError as err:
        raise click.ClickException(err.message) from None
    click.echo(f"revoked {count} token(s) of {name}", err=True)


@users.command("quota")
@click.argument("name")
@click.argument("quota")
def users_quota(name, quota):
    """Set how many services a user may have: a number, or `default` for SWS_SERVICE_QUOTA.

    Example: sws-apiserver users quota alice 60
    """
    if quota == "default":
        value = None
    elif quota.isdigit():
        value = int(quota)
    else:
        raise click.BadParameter("a whole number, or default", param_hint="QUOTA")
    try:
        store.set_quota(name, value)
    except ApiError as err:
        raise click.ClickException(err.message) from None
    default = current_app.config["SWS_SERVICE_QUOTA"]
    shown = quota if value is not None else f"the default ({default})"
    click.echo(f"{name} may have {shown} services", err=True)


def main() -> None:
    cli(prog_name="sws-apiserver")
