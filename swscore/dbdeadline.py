"""Deadlines on this side of a store connection, for the agent and the apiserver alike.

A paused server still has its kernel answer TCP (keepalives, ACKs), so neither
statement_timeout (the server's) nor TCP keepalives notice it. Every statement, commit and
rollback therefore runs under a watchdog: past the deadline it shuts the connection's socket
down, and the blocked call returns with psycopg2.OperationalError.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading

import psycopg2
import psycopg2.extensions

# sws-confdb never speaks GSSAPI, and libpq otherwise probes for Kerberos credentials on every
# connect (gssencmode=prefer): reported to crash threaded clients (psycopg/psycopg#1213), and
# the apiserver's gunicorn threads and the log shipper connect from threads.
NO_GSSAPI = {"gssencmode": "disable"}

DEFAULT_TIMEOUT = 10.0


@contextlib.contextmanager
def watchdog(conn, seconds: float | None):
    """Shut conn's socket down if the block takes longer than `seconds`."""
    if not seconds:
        yield
        return
    timer = threading.Timer(seconds, cut, (conn,))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def cut(conn) -> None:
    """Shut the connection's socket down under libpq (a blocked call then fails at once)."""
    with contextlib.suppress(OSError, psycopg2.Error, ValueError):
        sock = socket.socket(fileno=os.dup(conn.fileno()))
        try:
            sock.shutdown(socket.SHUT_RDWR)
        finally:
            sock.close()


class BoundedCursor(psycopg2.extensions.cursor):
    def execute(self, query, vars=None):
        with watchdog(self.connection, self.connection.deadline):
            return super().execute(query, vars)


class BoundedConnection(psycopg2.extensions.connection):
    deadline: float | None = DEFAULT_TIMEOUT

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.cursor_factory = BoundedCursor

    def commit(self):
        with watchdog(self, self.deadline):
            return super().commit()

    def rollback(self):
        with watchdog(self, self.deadline):
            return super().rollback()


def bounded_connection(seconds: float) -> type[BoundedConnection]:
    """A connection class (psycopg2's connection_factory) whose calls end within `seconds`."""
    return type("BoundedConnection", (BoundedConnection,), {"deadline": seconds})
