"""A run's output from the store (job_run_lines, written by the log shipper): a page after a
cursor, or a stream that follows it until the run is over and its output read to the end.

As servicelogs.py: a connection per poll only, the stream slots of streamslots.py. The last
object of a stream says how the run ended, so `swsctl run` exits with the run's exit code.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import select

from swsapi.extensions import db
from swsapi.models import JOB_UNFINISHED, JobRun, JobRunLine
from swsapi.servicelogs import KEEPALIVE_SECONDS, serving
from swsapi.streamslots import keep_slot

MAX_PAGE = 1000
# The shipper marks a run's output read to its end. Without the mark (no shipper on the host),
# a stream ends all the same once the run is over this long and no line came for as long: a
# shipper that is merely slow (megabytes of output on a busy host) is still sending lines.
OUTPUT_GRACE = timedelta(seconds=10)
POLL_SECONDS = 0.25  # a run's first line should reach `swsctl run` well within a second


def read_page(conn, run_id: int, after: int, limit: int = MAX_PAGE) -> dict:
    rows = conn.execute(
        select(JobRunLine.id, JobRunLine.ts, JobRunLine.stream, JobRunLine.line)
        .where(JobRunLine.run_id == run_id, JobRunLine.id > after)
        .order_by(JobRunLine.id)
        .limit(limit + 1)
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    lines = [
        {"cursor": r.id, "time": r.ts.isoformat(), "stream": r.stream, "line": r.line} for r in rows
    ]
    return {"lines": lines, "cursor": rows[-1].id if rows else after, "more": more}


def ending(conn, run_id: int, quiet: timedelta = OUTPUT_GRACE) -> dict | None:
    """{"end": "finished", state, exit_code, message} once the run is over and its output
    read; {"end": "deleted"} when the run went (with its service); None while it goes on.

    `quiet`: how long the caller has seen no new line of the run."""
    run = conn.execute(
        select(
            JobRun.state, JobRun.exit_code, JobRun.message, JobRun.finished_at, JobRun.output_done
        ).where(JobRun.id == run_id)
    ).first()
    if run is None:
        return {"end": "deleted"}
    if run.state in JOB_UNFINISHED:
        return None
    over_long_ago = run.finished_at is None or datetime.now(UTC) - run.finished_at > OUTPUT_GRACE
    if not (run.output_done or (over_long_ago and quiet > OUTPUT_GRACE)):
        return None
    return {
        "end": "finished",
        "state": run.state,
        "exit_code": run.exit_code,
        "message": run.message,
    }


def follow(run_id: int, after: int, stream_id: int) -> Iterator[str]:
    """The stream's text: one JSON object per line, the run's ending last (with the cursor)."""
    deadline = time.monotonic() + current_app.config["SWS_STREAM_MAX_SECONDS"]
    last_sent = last_refresh = last_line = time.monotonic()
    cursor = after
    yield "\n"  # the headers go now: the caller sees the stream open before the first line
    while True:
        with db.engine.connect() as conn:
            last_refresh = keep_slot(conn, stream_id, last_refresh)
            if last_refresh is None:
                yield json.dumps({"end": "evicted", "cursor": cursor}) + "\n"
                return
            quiet = timedelta(seconds=time.monotonic() - last_line)
            end = ending(conn, run_id, quiet)  # read before the page: no line after it is missed
            page = read_page(conn, run_id, cursor)
            conn.commit()
        cursor = page["cursor"]
        if page["lines"]:
            yield "".join(json.dumps(line) + "\n" for line in page["lines"])
            last_sent = last_line = time.monotonic()
        if end is not None and not page["more"]:
            yield json.dumps({**end, "cursor": cursor}) + "\n"
            return
        now = time.monotonic()
        if now >= deadline or not serving():
            reason = "max_duration" if now >= deadline else "server_stopping"
            yield json.dumps({"end": reason, "cursor": cursor}) + "\n"
            return
        if page["more"]:
            continue
        if now - last_sent >= KEEPALIVE_SECONDS:
            yield "\n"
            last_sent = now
        time.sleep(POLL_SECONDS)
