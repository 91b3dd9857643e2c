"""A slowdown on token guesses (issue 25): after SWS_AUTH_FAILURES wrong tokens from one client
address within SWS_AUTH_WINDOW_SECONDS, that address gets 429 with Retry-After on every
attempt to authenticate with a token for SWS_AUTH_BLOCK_SECONDS.

Tokens are 256-bit, so this is defence in depth, and it is kept per gunicorn worker, in memory,
rather than in the store: a worker counts only the guesses it saw, so an address gets at most
SWS_WORKERS times the limit before every worker refuses it, which still turns about 200
guesses a second into a handful a minute. A store-backed count would make every wrong guess a
write to the database that all tenants share, handing a guesser a way to load it instead.
The client address is the edge's (swsapi/edge.py), never a header a client chose.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

from flask import current_app

from swsapi.edge import client_address
from swsapi.errors import ApiError

# Addresses remembered at once, per worker: a guesser with many addresses cannot grow the
# table without bound; past it the oldest entries go first.
MAX_ADDRESSES = 10_000


@dataclass
class _Failures:
    since: float  # the first failure of the current window
    count: int
    blocked_until: float = 0.0


class GuessLimit:
    """Failed token attempts per client address, in this worker."""

    def __init__(self, failures: int, window: float, block: float):
        self.failures, self.window, self.block = failures, window, block
        self._lock = threading.Lock()
        self._seen: dict[str, _Failures] = {}

    def retry_after(self, address: str, now: float | None = None) -> int:
        """Seconds until the address may try again (0: it may now)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            entry = self._seen.get(address)
            if entry is None or entry.blocked_until <= now:
                return 0
            return max(1, math.ceil(entry.blocked_until - now))

    def failed(self, address: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            entry = self._seen.pop(address, None)  # re-inserted last: the newest
            if entry is None or now - entry.since > self.window:
                entry = _Failures(since=now, count=0)
            entry.count += 1
            if entry.count >= self.failures:
                entry.blocked_until = now + self.block
                entry.since, entry.count = now, 0  # a new window once the block ends
            self._seen[address] = entry
            while len(self._seen) > MAX_ADDRESSES:
                self._seen.pop(next(iter(self._seen)))


def _limit() -> GuessLimit:
    return current_app.extensions["sws_guess_limit"]


def refuse_if_blocked() -> None:
    """429 with Retry-After when this client address guessed too many tokens lately."""
    wait = _limit().retry_after(client_address())
    if wait:
        raise ApiError(
            429,
            "too_many_attempts",
            f"too many wrong tokens from your address; try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )


def note_failure() -> None:
    _limit().failed(client_address())


def init_app(app) -> None:
    config = app.config
    app.extensions["sws_guess_limit"] = GuessLimit(
        config["SWS_AUTH_FAILURES"],
        config["SWS_AUTH_WINDOW_SECONDS"],
        config["SWS_AUTH_BLOCK_SECONDS"],
    )
