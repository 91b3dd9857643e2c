"""Who may follow a log now: the host's log-stream slots, counted in the store and shared fairly.

A follow stream holds a gunicorn thread for minutes. The slots are the host's, not a worker's
(issue 25): every worker counts the same `log_streams` rows, so a stream is refused only when
the host's slots (SWS_WORKERS x SWS_STREAM_SLOTS) are all held, whichever worker took it. A
user may hold SWS_MAX_STREAMS_PER_USER of them (429 past it; at most a quarter of the slots, so
three users can never hold them all), and a user who holds none always gets one while anyone
holds more than one: the greediest user's newest stream is ended for it ({"end": "evicted"}).
Evicting rather than refusing is what makes that a promise: a refusal would leave the newcomer
waiting for streams that last up to SWS_STREAM_MAX_SECONDS, while the evicted user keeps at
least one stream and can see why the other ended.

Opening a stream is serialised host-wide by a transaction-level advisory lock (streams open
seldom; counting and inserting must be one step, or two workers could both take the last
slot). A row counts while its stream refreshes it (STREAM_REFRESH); a killed worker's rows stop
counting after STREAM_STALE. Each worker also keeps a quarter of its threads (at least one)
from streams, so plain requests always find a thread there (WorkerThreads).
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, func, insert, select, update

from swsapi.errors import ApiError
from swsapi.extensions import db
from swsapi.models import LogStream

STREAM_REFRESH = timedelta(seconds=10)
STREAM_STALE = timedelta(seconds=30)
# pg_advisory_xact_lock's key for opening streams ("SWSL" in ASCII); no other lock uses it.
ADMISSION_LOCK = 0x5357534C


class WorkerThreads:
    """This worker's threads that streams may hold: all but a quarter (at least one), so a
    worker that took more than its share of the host's streams still answers plain requests."""

    def __init__(self, threads: int):
        self.threads = threading.BoundedSemaphore(threads)

    def take(self) -> None:
        if not self.threads.acquire(blocking=False):
            raise ApiError(
                503,
                "busy",
                "this apiserver worker holds as many log streams as it can; try again shortly",
            )

    def give_back(self) -> None:
        self.threads.release()


def held_streams(conn) -> dict[int, list[int]]:
    """Each user's live streams, newest first (at most the host's slots: a small read)."""
    held: dict[int, list[int]] = {}
    rows = conn.execute(select(LogStream.user_id, LogStream.id).order_by(LogStream.id.desc()))
    for user_id, stream_id in rows:
        held.setdefault(user_id, []).append(stream_id)
    return held


def stream_to_evict(held: dict[int, list[int]], newcomer: int) -> int | None:
    """The stream that makes room for a user who holds none: the newest one of the user who
    holds the most (of two as greedy, the one who opened last), or None when no one holds more
    than one (or the asker already holds one: they do not take another's)."""
    if held.get(newcomer):
        return None
    greedy = [streams for streams in held.values() if len(streams) > 1]
    if not greedy:
        return None
    return max(greedy, key=lambda streams: (len(streams), streams[0]))[0]


def open_stream(user_id: int) -> int:
    """Take one of the host's slots for the user's new stream (its row id): 429 past the
    user's share, 503 when every slot is held and no one holds more than one."""
    config = current_app.config
    share, slots = config["SWS_MAX_STREAMS_PER_USER"], config["SWS_STREAM_SLOTS_TOTAL"]
    with db.engine.begin() as conn:
        conn.execute(select(func.pg_advisory_xact_lock(ADMISSION_LOCK)))
        conn.execute(delete(LogStream).where(LogStream.seen_at < func.now() - STREAM_STALE))
        held = held_streams(conn)
        mine = len(held.get(user_id, ()))
        if mine >= share:
            raise ApiError(
                429,
                "too_many_streams",
                f"you already follow {mine} log stream(s), the most allowed "
                f"(SWS_MAX_STREAMS_PER_USER={share}, at most a quarter of the host's "
                f"{slots} stream slots); end one and try again",
            )
        if sum(map(len, held.values())) >= slots:
            evicted = stream_to_evict(held, user_id)
            if evicted is None:
                raise ApiError(
                    503,
                    "busy",
                    f"all {slots} log stream slots of this host are taken; try again shortly",
                )
            # Its stream sees the row gone at its next poll and ends with "evicted".
            conn.execute(delete(LogStream).where(LogStream.id == evicted))
        return conn.execute(
            insert(LogStream).values(user_id=user_id).returning(LogStream.id)
        ).scalar_one()


def close_stream(stream_id: int) -> None:
    with db.engine.begin() as conn:
        conn.execute(delete(LogStream).where(LogStream.id == stream_id))


def keep_slot(conn, stream_id: int, last_refresh: float) -> float | None:
    """A following stream's check at each poll: None once its slot went to a user who had
    none (the stream ends `evicted`; the transaction is rolled back), else the monotonic time
    its slot was last marked seen (every STREAM_REFRESH, so a dead worker's slots expire).
    The caller commits."""
    if not still_held(conn, stream_id):
        conn.rollback()
        return None
    if time.monotonic() - last_refresh >= STREAM_REFRESH.total_seconds():
        conn.execute(update(LogStream).where(LogStream.id == stream_id).values(seen_at=func.now()))
        return time.monotonic()
    return last_refresh


def still_held(conn, stream_id: int) -> bool:
    """False once the stream's slot went to another user (or its row went stale)."""
    return conn.execute(select(LogStream.id).where(LogStream.id == stream_id)).first() is not None
