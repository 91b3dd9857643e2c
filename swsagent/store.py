"""The agent's connections to sws-confdb: every call has a deadline that holds on this side.

A paused server still has its kernel answer TCP (keepalives, ACKs), so neither
statement_timeout (the server's) nor TCP keepalives notice it. Every statement, commit and
rollback therefore runs under a watchdog: past the deadline it shuts the connection's socket
down, the blocked call returns with psycopg2.OperationalError, and the pass stops there.
connect_timeout bounds the connection itself; keepalives and tcp_user_timeout catch a peer
that vanished; statement_timeout bounds what the server does once it answers.
"""

from __future__ import annotations

import psycopg2

from swscore.dbdeadline import DEFAULT_TIMEOUT, NO_GSSAPI, BoundedConnection, cut, watchdog

__all__ = ["DEFAULT_TIMEOUT", "BoundedConnection", "connect", "cut", "watchdog"]


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
        **NO_GSSAPI,
    )
    conn.deadline = timeout
    return conn
