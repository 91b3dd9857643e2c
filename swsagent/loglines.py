"""Turn a container's output into bounded log lines: split, cap the length, read the timestamp.

Output is user data: whatever bytes a service writes become text that PostgreSQL can store
(invalid UTF-8 replaced, NUL replaced), each line capped, and nothing in it is ever parsed
beyond the timestamp the engine itself put in front.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

TRUNCATED = " [truncated]"
# The engine's timestamp in front of each line ("2026-11-27T05:30:01.123456789Z "), and more.
TIMESTAMP_ROOM = 40


@dataclass(frozen=True)
class LogLine:
    service_id: int
    generation: int
    container: str
    ts: datetime
    stream: str
    line: str
    # A job run's line (issue 26): it goes to job_run_lines, not the service's log. With
    # stream END, no line: the run's output was read to its end.
    run_id: int | None = None


END = "end"


@dataclass
class ShippedMark:
    """Where a container's shipped output ends, so that a new read from there ships no line twice.

    The engine's `since` is inclusive and the store keeps microseconds, so a read that resumes
    at the newest shipped moment gets that moment's lines again: those, and only those, are
    skipped. Nothing else is compared: many lines share one microsecond, and stdout and stderr
    are not in time order between them, so "not newer than the last" is no test of "shipped".
    """

    last_ts: datetime | None = None
    at_last_ts: Counter = field(default_factory=Counter)  # (stream, text) shipped at last_ts
    replay_ts: datetime | None = None  # last_ts when this read began
    replayed: Counter = field(default_factory=Counter)  # of those, still to skip in this read

    def begin_read(self) -> None:
        self.replay_ts = self.last_ts
        self.replayed = Counter(self.at_last_ts)

    def ship(self, ts: datetime, stream: str, text: str) -> bool:
        """Whether this line is new; if it is, it counts as shipped from now on."""
        key = (stream, text)
        if ts == self.replay_ts and self.replayed[key] > 0:
            self.replayed[key] -= 1
            return False
        if self.last_ts is None or ts > self.last_ts:
            self.last_ts = ts
            self.at_last_ts = Counter()
        if ts == self.last_ts:
            self.at_last_ts[key] += 1
        return True


class LineSplitter:
    """Joins chunks into lines of at most max_bytes; the rest of a longer line is dropped."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.pending = b""
        self.overflowed = False  # the current line was cut already: skip to its end

    def feed(self, chunk: bytes) -> Iterator[bytes]:
        data = self.pending + chunk
        self.pending = b""
        while data:
            end = data.find(b"\n")
            if end < 0:
                if self.overflowed:
                    return
                if len(data) > self.max_bytes:
                    self.overflowed = True
                    yield data[: self.max_bytes] + TRUNCATED.encode()
                else:
                    self.pending = data
                return
            line, data = data[:end], data[end + 1 :]
            if self.overflowed:
                self.overflowed = False
                continue
            if len(line) > self.max_bytes:
                line = line[: self.max_bytes] + TRUNCATED.encode()
            yield line

    def flush(self) -> Iterator[bytes]:
        """What is left when the stream ends without a final newline."""
        if self.pending and not self.overflowed:
            yield self.pending
        self.pending = b""
        self.overflowed = False


def parse_timestamped(raw: bytes) -> tuple[datetime | None, str]:
    """Split the engine's `2026-11-27T05:30:01.123456789Z ` prefix from the text.

    A line without one (it cannot happen with timestamps=1, but the bytes are not ours)
    keeps all its text and gets no time; the caller stamps it with the time it arrived.
    """
    head, sep, rest = raw.partition(b" ")
    ts = parse_docker_time(head.decode("ascii", "replace")) if sep else None
    text = rest if ts is not None else raw
    return ts, clean_text(text)


def parse_docker_time(text: str) -> datetime | None:
    """RFC 3339 with up to nanoseconds, as the engine writes it; microseconds kept."""
    if not text.endswith("Z") or "T" not in text:
        return None
    main, _, fraction = text[:-1].partition(".")
    try:
        moment = datetime.strptime(main, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    if fraction:
        if not fraction.isdigit():
            return None
        moment = moment.replace(microsecond=int(fraction[:6].ljust(6, "0")))
    return moment


def docker_since(moment: datetime) -> str:
    """The engine's `since` parameter for a moment: seconds.nanoseconds since the epoch."""
    seconds = int(moment.replace(microsecond=0).timestamp())
    return f"{seconds}.{moment.microsecond:06d}000"


def clean_text(raw: bytes) -> str:
    return raw.rstrip(b"\r").decode("utf-8", "replace").replace("\x00", "\ufffd")


def cap(text: str, max_bytes: int) -> str:
    """At most max_bytes of UTF-8 text, marked when it was cut (here or by the splitter)."""
    cut = text.endswith(TRUNCATED)
    body = text.removesuffix(TRUNCATED) if cut else text
    data = body.encode()
    if len(data) > max_bytes:
        body = data[:max_bytes].decode("utf-8", "ignore")
        cut = True
    return body + TRUNCATED if cut else body
