"""The application factory of the apiserver."""

from __future__ import annotations

import os

from flask import Flask

from swsapi.config import Config
from swsapi.extensions import db, migrate

MIGRATIONS = os.path.join(os.path.dirname(__file__), "migrations")


def create_app(config: Config | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_object(config if config is not None else Config())
    app.json.sort_keys = False
    # A path with '//' (a name holding an encoded '/') is no resource: 404, not a redirect
    # to another path the client never asked for.
    app.url_map.merge_slashes = False

    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS)

    from swsapi import edge, guesses, models  # noqa: F401  (models: tables for migrations)
    from swsapi.errors import register_error_handlers
    from swsapi.routes import agent, health, history, logs, services, session, users, volumes, web
    from swsapi.streamslots import WorkerThreads

    register_error_handlers(app)
    edge.init_app(app)
    guesses.init_app(app)
    blueprints = (health.bp, users.bp, services.bp, logs.bp, history.bp, session.bp, web.bp)
    from swsapi.routes import backups, certificates, jobs, nodes, registries, stacks

    blueprints += (volumes.bp, agent.bp, certificates.bp, stacks.bp, jobs.bp, registries.bp)
    blueprints += (backups.bp, nodes.bp)
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    app.extensions["sws_stream_threads"] = WorkerThreads(app.config["SWS_WORKER_STREAM_THREADS"])
    return app
