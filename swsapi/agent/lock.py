"""One agent at a time: a PostgreSQL advisory lock held on a dedicated connection.

The lock lives as long as the connection, so an agent killed with SIGKILL releases it as soon
as the server notices the connection is gone; no stale lock file to clean up.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg2

# An arbitrary constant that names "the reconcile pass" among advisory locks ("sws" in ASCII).
PASS_LOCK_KEY = 0x737773


class LockBusy(RuntimeError):
    """Another agent holds the lock and we were told not to wait."""


@contextlib.contextmanager
def pass_lock(database_url: str, wait: bool = False, timeout: float | None = None) -> Iterator:
    """Hold the pass lock; yields the (autocommit) connection that holds it."""
    conn = psycopg2.connect(database_url, application_name="sws-agent lock")
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            if wait:
                if timeout is not None:
                    cur.execute("SET lock_timeout = %s", (f"{int(timeout * 1000)}ms",))
                try:
                    cur.execute("SELECT pg_advisory_lock(%s)", (PASS_LOCK_KEY,))
                except psycopg2.errors.LockNotAvailable:
                    raise LockBusy("another sws-agent pass held the lock too long") from None
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
