"""Reading a service's log through the API: every page of what is kept, then (follow) the
stream, resumed from its cursor whenever the server ends it or the connection drops, so
`swsctl logs -f` goes on across an update, a proxy roll or an apiserver restart.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from datetime import datetime

from swsctl.client import ApiClient
from swsctl.errors import InvalidInput, ServerError, Unreachable

SINCE_RE = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$")
UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
# Like --wait: a few failed reconnects in a row are tolerated, more mean the API is gone.
TOLERATED_FAILED_STREAMS = 5


def since_parameter(value: str | None) -> str | None:
    """--since as the API takes it: 10m, 2h, 30s, 1d become seconds; an ISO time stays."""
    if value is None:
        return None
    text = value.strip()
    match = SINCE_RE.match(text)
    if match:
        return f"{float(match[1]) * UNITS[match[2]]:g}"
    try:
        datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"--since {value!r}: give a duration (30s, 10m, 2h, 1d) or an ISO 8601 time "
            "(2026-11-27T05:30:00Z)"
        ) from None
    return text


def read(client: ApiClient, name: str, tail: int | None, since: str | None):
    """The lines kept now (the last `tail`, or every page); returns (lines, cursor)."""
    if tail is not None:
        page = client.logs(name, tail=tail, since=since)
        return page["lines"], page["cursor"]
    lines: list[dict] = []
    cursor = 0
    while True:
        page = client.logs(name, after=cursor, since=since)
        lines += page["lines"]
        cursor = page["cursor"]
        if not page["more"]:
            return lines, cursor


def follow(
    client: ApiClient,
    name: str,
    cursor: int,
    sleep: Callable[[float], None] = time.sleep,
    pause: float = 1.0,
) -> Iterator[dict]:
    """Every line after the cursor, as it comes, until the service is deleted (or the server
    gives the stream's slot to another user: ServerError)."""
    failures = 0
    evicted = False
    while not evicted:
        try:
            for item in client.follow_logs(name, after=cursor):
                if "end" in item:
                    cursor = item.get("cursor", cursor)
                    if item["end"] == "deleted":
                        return
                    evicted = item["end"] == "evicted"
                    break  # the server's longest stream, or a restart: go on from the cursor
                cursor = item["cursor"]
                failures = 0
                yield item
        except (Unreachable, ServerError):
            failures += 1
            if failures >= TOLERATED_FAILED_STREAMS:
                raise
            sleep(pause)
    # Following again would only take the slot back from the user it was given to.
    raise ServerError(
        "the server ended this log stream to give its slot to a user who had none (every "
        "log stream slot of the host is taken): follow fewer services at once, or try later"
    )
