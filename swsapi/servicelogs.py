"""Reading a service's logs from the store: pages by cursor, and the follow stream.

The log shipper on the host writes the lines (service_logs, trimmed per service); the
apiserver only reads them, so it needs neither the Docker socket nor Docker's container
directories. A page is one indexed query of at most MAX_PAGE lines; nothing loads a log whole.
A stream polls for lines past its cursor, checking a database connection out per poll only,
so open streams hold threads but never a pooled connection. Who may hold a stream is
streamslots.py's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import func, select

from swsapi.errors import invalid_request
from swsapi.extensions import db
from swsapi.models import Service, ServiceLog
from swsapi.queryargs import whole_number
from swsapi.streamslots import keep_slot
from swscore.contract import ServiceStatus

MAX_PAGE = 1000
DEFAULT_TAIL = 100
KEEPALIVE_SECONDS = 15  # a blank line when nothing else was sent: proxies keep the stream open
BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


def serving() -> bool:
    """False once the server shuts down (gunicorn_conf replaces this in each worker)."""
    return True


@dataclass(frozen=True)
class LogQuery:
    """What the caller asked for: a page after a cursor, the last lines, or lines since."""

    after: int | None = None
    since: datetime | None = None
    tail: int | None = None
    limit: int = MAX_PAGE
    follow: bool = False


def parse_query(args) -> LogQuery:
    """The query string, each bad parameter a 400 naming it."""
    problems: dict[str, str] = {}

    def one(name: str) -> str | None:
        values = args.getlist(name)
        if len(values) > 1:
            problems[name] = "give it once"
            return None
        return values[0] if values else None

    def whole(name: str, low: int, high: int) -> int | None:
        raw = one(name)
        if raw is None:
            return None
        value = whole_number(raw, low, high)
        if value is None:
            problems[name] = f"must be a whole number from {low} to {high}"
        return value

    after = whole("after", 0, 2**63 - 1)
    tail = whole("tail", 1, MAX_PAGE)
    limit = whole("limit", 1, MAX_PAGE)
    since = None
    raw_since = one("since")
    if raw_since is not None:
        since = parse_since(raw_since)
        if since is None:
            problems["since"] = (
                "must be seconds before now (e.g. 600) or an ISO 8601 time "
                "(e.g. 2026-11-27T05:30:00Z)"
            )
    follow = False
    raw_follow = one("follow")
    if raw_follow is not None:
        if raw_follow not in BOOLEANS:
            problems["follow"] = "must be true, false, 1 or 0"
        else:
            follow = BOOLEANS[raw_follow]
    if after is not None and tail is not None:
        problems["tail"] = "cannot be combined with after (after pages forward from a cursor)"
    if problems:
        names = ", ".join(sorted(problems))
        raise invalid_request(f"invalid log query parameter(s): {names}", problems)
    if after is None and tail is None and since is None:
        tail = DEFAULT_TAIL
    return LogQuery(after=after, since=since, tail=tail, limit=limit or MAX_PAGE, follow=follow)


def parse_since(raw: str, now: datetime | None = None) -> datetime | None:
    """Seconds before now (`600`, `2.5`) or an ISO 8601 time (UTC when it names no zone)."""
    now = now or datetime.now(UTC)
    try:
        seconds = float(raw)
    except ValueError:
        seconds = None
    if seconds is not None:
        if not 0 <= seconds <= 10 * 365 * 86400:
            return None
        return now - timedelta(seconds=seconds)
    try:
        moment = datetime.fromisoformat(raw)
        # In UTC, as the store compares it: a time near year 1 or 9999 with an offset has none.
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        return None


def line_dict(row) -> dict:
    return {
        "cursor": row.id,
        "time": row.ts.isoformat(),
        "generation": row.generation,
        "container": row.container,
        "stream": row.stream,
        "line": row.line,
    }


COLUMNS = (
    ServiceLog.id,
    ServiceLog.ts,
    ServiceLog.generation,
    ServiceLog.container,
    ServiceLog.stream,
    ServiceLog.line,
)


def read_page(conn, service_id: int, query: LogQuery) -> dict:
    """One page: {"lines": [...oldest first], "cursor": the last line's, "more": bool}."""
    where = [ServiceLog.service_id == service_id]
    if query.since is not None:
        where.append(ServiceLog.ts >= query.since)
    if query.tail is not None and query.after is None:
        rows = conn.execute(
            select(*COLUMNS).where(*where).order_by(ServiceLog.id.desc()).limit(query.tail)
        ).all()
        rows.reverse()
        more = False
        cursor = rows[-1].id if rows else latest_cursor(conn, service_id)
    else:
        if query.after is not None:
            where.append(ServiceLog.id > query.after)
        rows = conn.execute(
            select(*COLUMNS).where(*where).order_by(ServiceLog.id).limit(query.limit + 1)
        ).all()
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        if rows:
            cursor = rows[-1].id
        elif query.after is not None:
            cursor = query.after
        else:
            cursor = latest_cursor(conn, service_id)
    return {"lines": [line_dict(r) for r in rows], "cursor": cursor, "more": more}


def latest_cursor(conn, service_id: int) -> int:
    """The newest line's cursor (0 when there is none): following starts after it."""
    return conn.execute(
        select(func.coalesce(func.max(ServiceLog.id), 0)).where(ServiceLog.service_id == service_id)
    ).scalar_one()


# --- Streams ---------------------------------------------------------------------------------


def follow(service_id: int, owner_id: int, query: LogQuery, stream_id: int) -> Iterator[str]:
    """The stream's text: one JSON object per line, then lines as they come, until the
    service is deleted, its slot goes to another user or SWS_STREAM_MAX_SECONDS pass
    ({"end": reason, "cursor": n} last)."""
    config = current_app.config
    poll = config["SWS_STREAM_POLL_SECONDS"]
    started = last_sent = last_refresh = time.monotonic()
    deadline = started + config["SWS_STREAM_MAX_SECONDS"]
    with db.engine.connect() as conn:
        page = read_page(conn, service_id, query)
        conn.rollback()
    cursor = page["cursor"]
    # Something at once, even a blank line: gunicorn sends the headers with the first chunk,
    # and a client should not wait for a quiet service's next line to see the stream open.
    yield "".join(json.dumps(line) + "\n" for line in page["lines"]) or "\n"
    while True:
        now = time.monotonic()
        if now >= deadline or not serving():
            reason = "max_duration" if now >= deadline else "server_stopping"
            yield json.dumps({"end": reason, "cursor": cursor}) + "\n"
            return
        time.sleep(min(poll, deadline - now))
        with db.engine.connect() as conn:
            if not service_exists(conn, service_id, owner_id):
                yield json.dumps({"end": "deleted", "cursor": cursor}) + "\n"
                return
            last_refresh = keep_slot(conn, stream_id, last_refresh)
            if last_refresh is None:  # its slot went to a user who had none
                yield json.dumps({"end": "evicted", "cursor": cursor}) + "\n"
                return
            page = read_page(conn, service_id, LogQuery(after=cursor, limit=MAX_PAGE))
            conn.commit()
        cursor = page["cursor"]
        if page["lines"]:
            yield "".join(json.dumps(line) + "\n" for line in page["lines"])
            last_sent = time.monotonic()
        elif time.monotonic() - last_sent >= KEEPALIVE_SECONDS:
            yield "\n"
            last_sent = time.monotonic()


def service_exists(conn, service_id: int, owner_id: int) -> bool:
    """Still the same service of the same owner (deleted, its lines went with it)."""
    return (
        conn.execute(
            select(Service.id).where(
                Service.id == service_id,
                Service.owner_id == owner_id,
                Service.status != ServiceStatus.DELETING,
            )
        ).first()
        is not None
    )
