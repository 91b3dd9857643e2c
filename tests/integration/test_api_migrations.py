"""The schema comes from the migrations shipped in the package, and matches the models."""

from importlib import resources

import flask_migrate
import psycopg2
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from swsapi.extensions import db
from tests.fixtures.apiserver import dispose, migrated_app

# ARCHITECTURE.md, "The store": the agent and the dynamic inventory rely on these names.
TABLES = {
    "users": ["id", "name", "is_admin", "created_at", "service_quota"],
    "tokens": ["id", "user_id", "token_hash", "prefix", "created_at", "revoked_at", "last_used_at"],
    "services": [
        "id", "name", "domain", "owner_id", "spec", "spec_digest", "generation",
        "applied_generation", "status", "message", "last_log", "created_at", "updated_at",
        "purge_volume", "restart_count", "status_since", "served_domain", "stack", "stopped",
        "replicas_running", "volume_node",
    ],
    "agent_passes": ["id", "started_at", "finished_at", "outcome", "changed", "message"],
    "service_logs": ["id", "service_id", "generation", "container", "ts", "stream", "line"],
    "log_streams": ["id", "user_id", "started_at", "seen_at"],
    "volumes": ["name", "owner_id", "adopted", "purge_requested", "created_at", "node"],
    "service_generations": [
        "id", "service_id", "generation", "spec", "spec_digest", "cause", "rolled_back_to",
        "created_at",
    ],
    "certificates": [
        "service_id", "source", "domain", "chain_pem", "key_sealed", "fingerprint", "not_after",
        "state", "message", "attempts", "next_attempt_at", "created_at", "updated_at",
    ],
    "service_domains": ["domain", "service_id", "role"],
    "job_runs": [
        "id", "service_id", "job", "command", "timeout_seconds", "state", "scheduled_for",
        "requested_at", "started_at", "finished_at", "generation", "container", "exit_code",
        "message", "stop_requested", "output_done",
    ],
    "job_run_lines": ["id", "run_id", "ts", "stream", "line"],
    "registry_credentials": [
        "id",
        "user_id",
        "host",
        "username",
        "password_sealed",
        "created_at",
        "updated_at",
    ],
    "backups": [
        "id", "volume", "owner_id", "service", "cause", "command", "dump_run_id", "state",
        "held", "container", "size_bytes", "sha256", "message", "scheduled_for",
        "requested_at", "started_at", "finished_at",
    ],
    "restores": [
        "id", "volume", "owner_id", "service", "backup_id", "upload", "upload_bytes", "state",
        "container", "message", "requested_at", "started_at", "finished_at",
    ],
    "nodes": [
        "id", "name", "role", "state", "availability", "address", "labels", "cpus",
        "memory_bytes", "mem_free_bytes", "disk_free_bytes", "services", "reported_at",
        "registered_at", "last_seen_at", "updated_at",
    ],
}  # fmt: skip


def columns(url: str) -> dict[str, list[str]]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"
        )
        rows = cur.fetchall()
    conn.close()
    found: dict[str, list[str]] = {}
    for table, column in rows:
        found.setdefault(table, []).append(column)
    return found


def test_migrations_are_shipped_in_the_package():
    migrations = resources.files("swsapi").joinpath("migrations")
    assert migrations.joinpath("env.py").is_file()
    assert migrations.joinpath("alembic.ini").is_file()
    assert any(p.name.endswith(".py") for p in migrations.joinpath("versions").iterdir())


def test_upgrade_creates_the_tables_of_the_architecture(database_url):
    assert columns(database_url) == {}
    dispose(migrated_app(database_url))
    assert columns(database_url) == {**TABLES, "alembic_version": ["version_num"]}


def test_models_match_the_migrations(database_url):
    app = migrated_app(database_url)
    try:
        with app.app_context(), db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
        assert diff == []
    finally:
        dispose(app)


def test_downgrade_and_upgrade_again(database_url):
    app = migrated_app(database_url)
    try:
        with app.app_context():
            flask_migrate.downgrade(revision="base")
            db.engine.dispose()
            assert columns(database_url) == {"alembic_version": ["version_num"]}
            flask_migrate.upgrade()
        assert set(columns(database_url)) == {*TABLES, "alembic_version"}
    finally:
        dispose(app)


def test_status_is_constrained_to_the_four_states(app, migrated_database_url):
    from swsapi import auth

    with app.app_context():
        auth.create_user("alice")
    with psycopg2.connect(migrated_database_url) as conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO services (name, domain, owner_id, spec, spec_digest, status)"
            " SELECT 'web', 'web.example.com', id, '{}', 'x', 'running' FROM users"
        )
        try:
            cur.execute("UPDATE services SET status = 'exploded'")
            raise AssertionError("status accepted a value outside the four states")
        except psycopg2.errors.CheckViolation:
            pass
    conn.close()


def test_purge_volume_is_added_false_to_existing_services_and_dropped_again(database_url):
    app = migrated_app(database_url)
    try:
        with app.app_context():
            flask_migrate.downgrade(revision="0001")
            db.engine.dispose()
            assert "purge_volume" not in columns(database_url)["services"]
            with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
                cur.execute("INSERT INTO users (name) VALUES ('alice')")
                cur.execute(
                    "INSERT INTO services (name, domain, owner_id, spec, spec_digest, status)"
                    " SELECT 'web', 'web.example.com', id, '{}', 'x', 'deleting' FROM users"
                )
            conn.close()
            flask_migrate.upgrade()
            db.engine.dispose()
        with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
            cur.execute("SELECT name, purge_volume FROM services")
            assert cur.fetchall() == [("web", False)]
        conn.close()
    finally:
        dispose(app)


def test_status_since_moves_with_the_status_only_and_logs_go_with_the_service(database_url):
    """0004: the trigger keeps status_since; a service's log lines cascade with its record."""
    app = migrated_app(database_url)
    try:
        with app.app_context():
            flask_migrate.downgrade(revision="0002")
            db.engine.dispose()
            with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
                cur.execute("INSERT INTO users (name) VALUES ('alice')")
                cur.execute(
                    "INSERT INTO services (name, domain, owner_id, spec, spec_digest, status)"
                    " SELECT 'web', 'web.example.com', id, '{}', 'x', 'running' FROM users"
                )
            conn.close()
            flask_migrate.upgrade()
            db.engine.dispose()
        with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
            cur.execute("SELECT restart_count, status_since = updated_at FROM services")
            assert cur.fetchone() == (0, True)
            cur.execute("UPDATE services SET status_since = now() - interval '1 hour'")
            cur.execute("UPDATE services SET status = 'running', message = 'same status'")
            cur.execute("SELECT now() - status_since > interval '59 minutes' FROM services")
            assert cur.fetchone() == (True,)
            cur.execute("UPDATE services SET status = 'failed'")
            cur.execute("SELECT status_since = now() FROM services")
            assert cur.fetchone() == (True,)
            cur.execute(
                "INSERT INTO service_logs (service_id, generation, container, ts, stream, line)"
                " SELECT id, 1, 'sws-svc-web-1', now(), 'stdout', 'hello' FROM services"
            )
            cur.execute("DELETE FROM services")
            cur.execute("SELECT count(*) FROM service_logs")
            assert cur.fetchone() == (0,)
        conn.close()
    finally:
        dispose(app)


def test_history_starts_with_each_stored_services_current_spec_and_goes_again(database_url):
    app = migrated_app(database_url)
    try:
        with app.app_context():
            flask_migrate.downgrade(revision="0002")
            db.engine.dispose()
            assert "service_generations" not in columns(database_url)
            with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
                cur.execute("INSERT INTO users (name) VALUES ('alice')")
                cur.execute(
                    "INSERT INTO services (name, domain, owner_id, spec, spec_digest, generation)"
                    """ SELECT 'web', 'web.example.com', id, '{"name": "web"}', 'x', 7 FROM users"""
                )
            conn.close()
            flask_migrate.upgrade()
            db.engine.dispose()
        with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
            cur.execute("SELECT generation, spec, spec_digest, cause FROM service_generations")
            assert cur.fetchall() == [(7, {"name": "web"}, "x", "apply")]
            # The history goes with the service's record (the agent's forget).
            cur.execute("DELETE FROM services")
            cur.execute("SELECT count(*) FROM service_generations")
            assert cur.fetchone() == (0,)
        conn.close()
        with app.app_context():
            flask_migrate.downgrade(revision="0002")
            db.engine.dispose()
        assert "service_generations" not in columns(database_url)
    finally:
        dispose(app)


def test_0005_gives_existing_volumes_their_owner_and_serving_domains_their_service(
    database_url,
):
    app = migrated_app(database_url)
    try:
        with app.app_context():
            flask_migrate.downgrade(revision="0002")
            db.engine.dispose()
            assert "volumes" not in columns(database_url)
            with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
                cur.execute("INSERT INTO users (name) VALUES ('alice'), ('bob')")
                rows = [
                    # name, owner, spec, status, generation, applied
                    ("web", "alice", '{"volumeMount": "/data"}', "running", 2, 2),
                    ("shop", "bob", '{"volumeMount": "/srv"}', "pending", 3, 2),
                    ("plain", "bob", "{}", "running", 1, 1),
                ]
                for name, owner, spec, status, generation, applied in rows:
                    cur.execute(
                        """INSERT INTO services (name, domain, owner_id, spec, spec_digest,
                               status, generation, applied_generation)
                           SELECT %s, %s, id, %s, 'x', %s, %s, %s FROM users WHERE name = %s""",
                        (name, f"{name}.test", spec, status, generation, applied, owner),
                    )
            conn.close()
            flask_migrate.upgrade()
            db.engine.dispose()
        with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT v.name, u.name, v.adopted FROM volumes v JOIN users u"
                " ON u.id = v.owner_id ORDER BY v.name"
            )
            assert cur.fetchall() == [("shop-volume", "bob", True), ("web-volume", "alice", True)]
            cur.execute("SELECT name, served_domain FROM services ORDER BY name")
            # shop's update has not gone live: the store does not know the domain that
            # serves; the agent sets it when a generation goes live.
            assert cur.fetchall() == [
                ("plain", "plain.test"),
                ("shop", None),
                ("web", "web.test"),
            ]
            cur.execute("SELECT service_quota FROM users")
            assert cur.fetchall() == [(None,), (None,)]
        conn.close()
    finally:
        dispose(app)


def test_0008_claims_every_stored_domain_and_refuses_to_drop_aliases(database_url):
    app = migrated_app(database_url)
    try:
        with app.app_context():
            flask_migrate.downgrade(revision="0007")
            db.engine.dispose()
            assert "service_domains" not in columns(database_url)
            with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
                cur.execute("INSERT INTO users (name) VALUES ('alice')")
                for name, domain in (("web", "web.test"), ("private", None)):
                    cur.execute(
                        "INSERT INTO services (name, domain, owner_id, spec, spec_digest)"
                        " SELECT %s, %s, id, '{}', 'x' FROM users",
                        (name, domain),
                    )
            conn.close()
            flask_migrate.upgrade()
            db.engine.dispose()
            with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
                cur.execute(
                    "SELECT d.domain, s.name, d.role FROM service_domains d"
                    " JOIN services s ON s.id = d.service_id"
                )
                assert cur.fetchall() == [("web.test", "web", "domain")]
                cur.execute(
                    "INSERT INTO service_domains SELECT 'www.web.test', id, 'alias'"
                    " FROM services WHERE name = 'web'"
                )
            conn.close()
            # Flask-Migrate logs the migration's RuntimeError and exits.
            with pytest.raises(SystemExit):
                flask_migrate.downgrade(revision="0007")
            db.engine.dispose()
            assert "service_domains" in columns(database_url)
    finally:
        dispose(app)


def test_0014_counts_one_replica_for_each_running_service_and_goes_again(database_url):
    app = migrated_app(database_url)
    try:
        with app.app_context():
            flask_migrate.downgrade(revision="0013")
            db.engine.dispose()
            assert "replicas_running" not in columns(database_url)["services"]
            with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
                cur.execute("INSERT INTO users (name) VALUES ('alice')")
                cur.execute(
                    "INSERT INTO services (name, domain, owner_id, spec, spec_digest, status)"
                    " SELECT s.name, s.name || '.test', u.id, '{}', 'x', s.status FROM users u,"
                    " (VALUES ('up', 'running'), ('new', 'pending')) AS s(name, status)"
                )
            conn.close()
            flask_migrate.upgrade()
            db.engine.dispose()
        with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
            cur.execute("SELECT name, replicas_running FROM services ORDER BY name")
            assert cur.fetchall() == [("new", 0), ("up", 1)]
        conn.close()
    finally:
        dispose(app)


def test_0015_adds_the_volume_node_empty_and_goes_again(database_url):
    app = migrated_app(database_url)
    try:
        with app.app_context():
            flask_migrate.downgrade(revision="0014")
            db.engine.dispose()
            assert "volume_node" not in columns(database_url)["services"]
            flask_migrate.upgrade()
            db.engine.dispose()
        assert "volume_node" in columns(database_url)["services"]
    finally:
        dispose(app)
