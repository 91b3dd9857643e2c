"""Config: the SWS_* environment variables and what a bad value says."""

import socket

import pytest

from swsapi.config import Config, ConfigError


def test_defaults():
    config = Config({})
    assert config.SQLALCHEMY_DATABASE_URI == "postgresql+psycopg2://sws@127.0.0.1:5432/sws"
    assert config.SWS_BIND == "0.0.0.0:8000"
    assert config.SWS_WORKERS == 2
    assert config.MAX_CONTENT_LENGTH == 65536
    # Unset, the host's own names are reserved (set, only what it lists).
    assert config.SWS_RESERVED_DOMAINS == {socket.gethostname().lower(), socket.getfqdn().lower()}
    assert config.SQLALCHEMY_ENGINE_OPTIONS["pool_pre_ping"] is True
    assert config.SWS_SERVICE_QUOTA == 20
    assert (config.SWS_MAX_MEMORY, str(config.SWS_MAX_CPUS)) == (2**30, "1")


def test_the_fair_share_settings():
    config = Config({"SWS_SERVICE_QUOTA": "0", "SWS_MAX_MEMORY": "2G", "SWS_MAX_CPUS": "1.5"})
    assert config.SWS_SERVICE_QUOTA == 0  # no user may create a service
    assert (config.SWS_MAX_MEMORY, str(config.SWS_MAX_CPUS)) == (2 * 10**9, "1.5")


@pytest.mark.parametrize(
    "env, per_user",
    [
        ({}, 2),  # 2 workers x 4 stream slots: a quarter of 8
        ({"SWS_MAX_STREAMS_PER_USER": "3"}, 2),  # the bootstrap's old 3 is cut to the share
        ({"SWS_MAX_STREAMS_PER_USER": "1"}, 1),
        ({"SWS_WORKERS": "4", "SWS_THREADS": "16"}, 3),  # a quarter of 32, but never over 3
        ({"SWS_WORKERS": "4", "SWS_THREADS": "16", "SWS_MAX_STREAMS_PER_USER": "2"}, 2),
        ({"SWS_WORKERS": "1", "SWS_THREADS": "2"}, 1),  # one slot: still one stream
    ],
)
def test_no_user_holds_more_than_a_quarter_of_the_stream_slots(env, per_user):
    assert Config(env).SWS_MAX_STREAMS_PER_USER == per_user


@pytest.mark.parametrize(
    "threads, host_slots, worker_threads",
    [("8", 8, 6), ("4", 4, 3), ("2", 2, 1), ("1", 2, 1), ("16", 16, 12)],
)
def test_the_slots_are_the_hosts_and_a_worker_keeps_a_quarter_of_its_threads(
    threads, host_slots, worker_threads
):
    config = Config({"SWS_WORKERS": "2", "SWS_THREADS": threads})
    assert config.SWS_STREAM_SLOTS_TOTAL == host_slots
    assert config.SWS_WORKER_STREAM_THREADS == worker_threads


def test_values_from_the_environment():
    config = Config(
        {
            "SWS_DATABASE_URL": "postgres://u:p@db:6543/store",
            "SWS_BIND": "127.0.0.1:9000",
            "SWS_WORKERS": "4",
            "SWS_MAX_BODY_BYTES": "1024",
            "SWS_RESERVED_DOMAINS": " API.example.com., sws.example.com ,,",
            "SWS_DB_CONNECT_TIMEOUT": "7",
            "SWS_DB_STATEMENT_TIMEOUT_MS": "500",
        }
    )
    assert config.SQLALCHEMY_DATABASE_URI == "postgresql+psycopg2://u:p@db:6543/store"
    assert config.SWS_BIND == "127.0.0.1:9000" and config.SWS_WORKERS == 4
    assert config.MAX_CONTENT_LENGTH == 1024
    assert config.SWS_RESERVED_DOMAINS == {"api.example.com", "sws.example.com"}
    connect_args = config.SQLALCHEMY_ENGINE_OPTIONS["connect_args"]
    assert connect_args["connect_timeout"] == 7
    assert connect_args["options"] == "-c statement_timeout=500"


def test_password_file_fills_in_the_password(tmp_path):
    secret = tmp_path / "confdb-password"
    secret.write_text("s3cr@t/:pw\n")
    config = Config(
        {
            "SWS_DATABASE_URL": "postgresql://sws@sws-confdb:5432/sws",
            "SWS_DATABASE_PASSWORD_FILE": str(secret),
        }
    )
    assert config.SQLALCHEMY_DATABASE_URI == (
        "postgresql+psycopg2://sws:s3cr%40t%2F%3Apw@sws-confdb:5432/sws"
    )


def test_a_missing_password_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="SWS_DATABASE_PASSWORD_FILE: cannot read"):
        Config({"SWS_DATABASE_PASSWORD_FILE": str(tmp_path / "missing")})


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("SWS_WORKERS", "two", "SWS_WORKERS must be a whole number, not 'two'"),
        ("SWS_WORKERS", "0", "SWS_WORKERS must be at least 1, not 0"),
        ("SWS_HSTS_SECONDS", "-1", "SWS_HSTS_SECONDS must be at least 0, not -1"),
        ("SWS_AUTH_FAILURES", "many", "SWS_AUTH_FAILURES must be a whole number"),
        ("SWS_AUTH_BLOCK_SECONDS", "0", "SWS_AUTH_BLOCK_SECONDS must be at least 1, not 0"),
        ("SWS_MAX_BODY_BYTES", "1e6", "SWS_MAX_BODY_BYTES must be a whole number"),
        ("SWS_DB_POOL_SIZE", "-3", "SWS_DB_POOL_SIZE must be at least 1"),
        ("SWS_SERVICE_QUOTA", "lots", "SWS_SERVICE_QUOTA must be a whole number"),
        ("SWS_MAX_MEMORY", "1TB", "SWS_MAX_MEMORY must be a memory size"),
        ("SWS_MAX_CPUS", "0", "SWS_MAX_CPUS must be more than 0"),
        ("SWS_MAX_CPUS", "two", "SWS_MAX_CPUS must be a number of CPUs"),
    ],
)
def test_bad_values_name_the_variable(name, value, says):
    with pytest.raises(ConfigError, match=says):
        Config({name: value})


def test_test_config_ignores_the_environment(monkeypatch):
    from tests.fixtures.apiserver import TestConfig

    monkeypatch.setenv("SWS_RESERVED_DOMAINS", "from.environment")
    config = TestConfig("postgresql://sws@127.0.0.1/x", SWS_RESERVED_DOMAINS="api.sws.test")
    assert config.TESTING is True
    assert config.SWS_RESERVED_DOMAINS == {"api.sws.test"}


def test_history_and_web_session_settings(tmp_path):
    defaults = Config({})
    assert defaults.SWS_HISTORY_KEPT == 10
    assert defaults.SECRET_KEY is None and defaults.SESSION_COOKIE_SECURE is False
    assert defaults.SESSION_COOKIE_HTTPONLY and defaults.SESSION_COOKIE_SAMESITE == "Strict"
    key = tmp_path / "key"
    key.write_text("x" * 40 + "\n")
    config = Config(
        {
            "SWS_HISTORY_KEPT": "3",
            "SWS_SECRET_KEY_FILE": str(key),
            "SWS_SESSION_HOURS": "2",
            "SWS_COOKIE_SECURE": "true",
        }
    )
    assert config.SWS_HISTORY_KEPT == 3 and config.SECRET_KEY == "x" * 40
    assert config.PERMANENT_SESSION_LIFETIME.total_seconds() == 7200
    assert config.SESSION_COOKIE_SECURE is True


@pytest.mark.parametrize(
    "name, value, says",
    [
        ("SWS_HISTORY_KEPT", "0", "SWS_HISTORY_KEPT must be at least 1"),
        ("SWS_HISTORY_KEPT", "many", "SWS_HISTORY_KEPT must be a whole number"),
        ("SWS_SESSION_HOURS", "0", "SWS_SESSION_HOURS must be at least 1"),
        ("SWS_COOKIE_SECURE", "maybe", "SWS_COOKIE_SECURE must be true or false"),
    ],
)
def test_bad_history_and_session_settings_name_the_variable(name, value, says):
    with pytest.raises(ConfigError, match=says):
        Config({name: value})
