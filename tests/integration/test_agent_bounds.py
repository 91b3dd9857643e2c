"""The agent's bounds against a real PostgreSQL: a paused server cannot hold a store call, a
lost lock stops the pass before it changes anything, and the pause switch stops passes.

The "paused server" is the backend process serving our connection, stopped with SIGSTOP: what
`docker pause sws-confdb` does to every process of the store (its kernel still answers TCP).
"""

from __future__ import annotations

import os
import signal

import psycopg2
import pytest

from swsagent import pause, store
from swsagent.cli import one_pass
from swsagent.config import config_from_mapping
from swsagent.lock import LockLost, check_held, pass_lock
from swsagent.reconcile import reconcile_once
from tests.fixtures.contract import in_repo
from tests.integration.conftest import dispose, migrated_app


@pytest.fixture
def config(database_url, tmp_path):
    app = migrated_app(database_url)
    dispose(app)
    return config_from_mapping(
        in_repo(
            {
                "database_url": database_url,
                "state_dir": str(tmp_path / "state"),
                "store_timeout": 1,
                "names": {"proxies": [], "label_prefix": "swsboundstest"},
            }
        )
    )


def test_a_call_to_a_paused_store_ends_at_its_deadline(config):
    conn = store.connect(config.database_url, "test", timeout=1)
    with conn.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        backend = cur.fetchone()[0]
    conn.commit()
    os.kill(backend, signal.SIGSTOP)
    try:
        with pytest.raises(psycopg2.OperationalError), conn.cursor() as cur:
            cur.execute("SELECT 1")
    finally:
        os.kill(backend, signal.SIGCONT)
    assert conn.closed


def test_a_lost_lock_is_noticed(config):
    with pass_lock(config.database_url, store_timeout=1) as held:
        check_held(held)
        with held.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            backend = cur.fetchone()[0]
        other = psycopg2.connect(config.database_url)
        other.autocommit = True
        with other.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(%s)", (backend,))
        other.close()
        with pytest.raises(LockLost):
            check_held(held)


def test_a_pass_that_lost_its_lock_stops_and_says_so(config):
    conn = store.connect(config.database_url, "test", timeout=1)

    def lost():
        raise LockLost("the pass lost its lock on the store")

    report = reconcile_once(config, conn, still_locked=lost)
    assert report.outcome == "aborted"
    assert "lost its lock" in report.problems[0]
    with conn.cursor() as cur:
        cur.execute("SELECT outcome, message FROM agent_passes ORDER BY id DESC LIMIT 1")
        outcome, message = cur.fetchone()
    conn.close()
    assert outcome == "aborted" and "stopped before" in message


def test_a_paused_agent_runs_no_pass(config):
    pause.pause(config.state_dir, "testing")
    assert one_pass(config, wait=False) is None
    assert pause.resume(config.state_dir)
    assert one_pass(config, wait=False).outcome == "noop"


def test_a_killed_pass_s_run_directory_goes_at_the_next_pass(config):
    # What a SIGKILLed pass leaves: its private run directory, env values in its inventory.
    stale = config.state_dir / "runs" / "run-killed"
    stale.mkdir(parents=True)
    (stale / "inventory").write_text("TOKEN: s3cret\n")
    report = one_pass(config, wait=False)
    assert report.changed["stale_runs_removed"] == ["run-killed"]
    assert not stale.exists()
