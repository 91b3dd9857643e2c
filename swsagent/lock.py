"""One agent at a time: a PostgreSQL advisory lock held on a dedicated connection.

The lock lives as long as the connection, so an agent killed with SIGKILL releases it as soon
as the server notices the connection is gone; no stale lock file to clean up. The other side
of that: a store restarted mid-pass drops the lock, and another pass could start beside this
one. The pass therefore asks (held(), between its stages) whether it still holds the lock,
and stops before it changes anything more when it does not.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg2

from swsagent import store

# An arbitrary constant that names "the reconcile pass" among advisory locks ("sws" in ASCII).
PASS_LOCK_KEY = 0x737773


class LockBusy(RuntimeError):
    """Another agent holds the lock and we were told not to wait."""


class LockLost(RuntimeError):
    """The pass no longer holds the lock (the store restarted, the connection broke)."""


@contextlib.contextmanager
def pass_lock(
    database_url: str,
    wait: bool = False,
    timeout: float | None = None,
    store_timeout: float = store.DEFAULT_TIMEOUT,
) -> Iterator:
    """Hold the pass lock; yields the (autocommit) connection that holds it.

    wait: wait for a running pass, at most `timeout` seconds (None: as long as it runs).
    """
    conn = store.connect(database_url, "sws-agent lock", store_timeout)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            if wait:
                # The wait is for another pass, not for a slow store: bound it by `timeout`.
                conn.deadline = None if timeout is None else timeout + store_timeout
                cur.execute("SET statement_timeout = 0")
                if timeout is not None:
                    cur.execute("SET lock_timeout = %s", (f"{int(timeout * 1000)}ms",))
                try:
                    cur.execute("SELECT pg_advisory_lock(%s)", (PASS_LOCK_KEY,))
                except psycopg2.errors.LockNotAvailable:
                    raise LockBusy("another sws-agent pass held the lock too long") from None
                conn.deadline = store_timeout
            else:
                cur.execute("SELECT pg_try_advisory_lock(%s)", (PASS_LOCK_KEY,))
                if not cur.fetchone()[0]:
                    raise LockBusy("another sws-agent pass is running")
        try:
            yield conn
        finally:
            with contextlib.suppress(psycopg2.Error), conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(%s)", (PASS_LOCK_KEY,))
    finally:
        conn.close()


def check_held(conn) -> None:
    """Raise LockLost unless conn (from pass_lock) still holds the pass lock."""
    try:
        with conn.cursor() as cur:
            cur.execute(
                """SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted
                   AND pid = pg_backend_pid() AND classid = 0 AND objid = %s AND objsubid = 1""",
                (PASS_LOCK_KEY,),
            )
            held = cur.fetchone()[0] > 0
    except psycopg2.Error as err:
        raise LockLost(f"the pass lost its lock on the store: {str(err).strip()}") from None
    if not held:
        raise LockLost("the pass lost its lock on the store")
