"""Five-field cron schedules (spec.jobs[].schedule): parse, match a minute, find the latest
minute a schedule fired in a span.

Our own, small: minute hour day-of-month month day-of-week; `*`, numbers, ranges `a-b`, steps
`*/n` and `a-b/n`, lists `a,b`, month and day names (jan-dec, sun-sat), 7 for Sunday as well
as 0. As Vixie cron: when both day fields are restricted, a day matching either fires. No
`@hourly` or `L`/`W`/`#`: a schedule reaches the store as written and is read by the agent, so
one grammar, small enough to test against a minute-by-minute walk (tests/unit/test_cron.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# (name, low, high, names whose index + offset is the number)
FIELDS = (
    ("minute", 0, 59, (), 0),
    ("hour", 0, 23, (), 0),
    ("day of month", 1, 31, (), 0),
    ("month", 1, 12, MONTHS, 1),
    ("day of week", 0, 7, DAYS, 0),
)
MAX_SCHEDULE = 200
MINUTE = timedelta(minutes=1)


class CronError(ValueError):
    """A schedule that does not parse; the message says which field and why."""


@dataclass(frozen=True)
class Schedule:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday (7 folded onto it)
    any_day: bool  # day of month was `*`
    any_weekday: bool  # day of week was `*`

    def day_matches(self, moment: datetime) -> bool:
        if moment.month not in self.months:
            return False
        by_day = moment.day in self.days
        by_weekday = (moment.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return by_day and by_weekday
        return by_day or by_weekday

    def matches(self, moment: datetime) -> bool:
        """Whether the schedule fires at this minute (in the moment's own time zone)."""
        return (
            moment.minute in self.minutes and moment.hour in self.hours and self.day_matches(moment)
        )


def parse(text: str) -> Schedule:
    """'30 3 * * mon-fri' -> Schedule; CronError naming the field for anything else."""
    if not isinstance(text, str) or len(text) > MAX_SCHEDULE:
        raise CronError(f"must be a string of at most {MAX_SCHEDULE} characters")
    parts = text.split()
    if len(parts) != 5:
        raise CronError("must have five fields: minute hour day-of-month month day-of-week")
    sets = [_field(part, *spec) for part, spec in zip(parts, FIELDS, strict=True)]
    weekdays = frozenset(d % 7 for d in sets[4])
    return Schedule(*sets[:4], weekdays, parts[2] == "*", parts[4] == "*")


def _field(text: str, name: str, low: int, high: int, names: tuple, offset: int) -> frozenset:
    values: set[int] = set()
    for item in text.split(","):
        values |= _item(item, name, low, high, names, offset)
    return frozenset(values)


def _item(item: str, name: str, low: int, high: int, names: tuple, offset: int) -> set[int]:
    span, _, step_text = item.partition("/")
    step = 1
    if step_text:
        step = _number(step_text, name, names=(), offset=0)
        if step < 1:
            raise CronError(f"{name}: step {step_text!r} must be at least 1")
    if span == "*":
        start, end = low, high
    elif "-" in span:
        first, _, last = span.partition("-")
        start, end = _number(first, name, names, offset), _number(last, name, names, offset)
    else:
        start = _number(span, name, names, offset)
        # `5/15` is cron's `5-<high>/15`; a lone number without a step is itself.
        end = high if step_text else start
    if not (low <= start <= high and low <= end <= high):
        raise CronError(f"{name}: {item!r} is outside {low}-{high}")
    if start > end:
        raise CronError(f"{name}: {item!r} is a range that ends before it starts")
    return set(range(start, end + 1, step))


def _number(text: str, name: str, names: tuple, offset: int) -> int:
    if text.lower() in names:
        return names.index(text.lower()) + offset
    if not text.isascii() or not text.isdigit() or len(text) > 2:
        raise CronError(f"{name}: {text!r} is not a number" + (" or a name" if names else ""))
    return int(text)


def latest_fire(
    schedule: Schedule, after: datetime, upto: datetime, zone: tzinfo
) -> datetime | None:
    """The latest minute in (after, upto] at which the schedule fires, its fields read in
    `zone`; None when it does not fire in that span. The walk goes by real minutes (UTC), so a
    local time that a DST change skips never fires and one it repeats fires twice; days that
    cannot match are skipped whole, so a span of weeks costs days, not minutes."""
    moment = upto.astimezone(UTC).replace(second=0, microsecond=0)
    while moment > after:
        local = moment.astimezone(zone)
        if not schedule.day_matches(local):
            midnight = local.replace(hour=0, minute=0).astimezone(UTC)
            moment = min(midnight, moment) - MINUTE
            continue
        if schedule.matches(local):
            return moment
        moment -= MINUTE
    return None
