"""The agent's connections to sws-confdb: every call has a deadline that holds on this side.

A paused server still has its kernel answer TCP (keepalives, ACKs), so neither
statement_timeout (the server's) nor TCP keepalives notice it. Every statement, commit and
rollback therefore runs under a watchdog: past the deadline it shuts the connection's socket
down, the blocked call returns with psycopg2.OperationalError, and the pass stops there.
connect_timeout bounds the connection itself; keepalives and tcp_user_timeout catch a peer
that vanished; statement_timeout bounds what the server does once it answers.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading

import psycopg2
import psycopg2.extensions

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


def connect(
    database_url: str, application_name: str, timeout: float = DEFAULT_TIMEOUT
) -> BoundedConnection:
    """A connection whose every call ends within about `timeout` seconds."""
    seconds = max(1, int(timeout))
    conn = psycopg2.connect(
        database_url,
        application_name=application_name,
        connection_factory=BoundedConnection,
        connect_timeout=seconds,
        keepalives=1,
        keepalives_idle=max(1, seconds // 2),
        keepalives_interval=1,
        keepalives_count=3,
        tcp_user_timeout=seconds * 1000,
        options=f"-c statement_timeout={seconds * 1000}",
    )
    conn.deadline = timeout
    return conn
