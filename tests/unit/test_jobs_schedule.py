"""Cron schedules and scheduled runs (issue 26): the parser against a minute-by-minute walk,
the due-run decision with a driven clock, and spec.jobs against hostile values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swsagent.jobcontainer import create_body
from swsagent.jobschedule import due_run
from swscore import cron
from swscore.spec import SpecError, load_definition
from swscore.specjobs import JobSettings

T0 = datetime(2026, 12, 20, 3, 0, tzinfo=UTC)


def brute_latest(schedule, after, upto, zone):
    """The reference: every minute from upto back to after, matched one by one."""
    moment = upto.replace(second=0, microsecond=0)
    while moment > after:
        if schedule.matches(moment.astimezone(zone)):
            return moment
        moment -= timedelta(minutes=1)
    return None


def field_text(low, high, names=()):
    number = st.integers(low, high).map(str)
    if names:
        number = number | st.sampled_from(names)
    span = st.tuples(st.integers(low, high), st.integers(low, high)).map(
        lambda p: f"{min(p)}-{max(p)}"
    )
    item = st.one_of(st.just("*"), number, span)
    stepped = st.tuples(item, st.integers(1, 12)).map(lambda p: f"{p[0]}/{p[1]}")
    return st.lists(item | stepped, min_size=1, max_size=3).map(",".join)


schedules = st.tuples(
    field_text(0, 59),
    field_text(0, 23),
    field_text(1, 31),
    field_text(1, 12, cron.MONTHS),
    field_text(0, 7, cron.DAYS),
).map(" ".join)


@settings(max_examples=150, deadline=None)
@given(
    text=schedules,
    start=st.datetimes(datetime(2025, 1, 1), datetime(2028, 1, 1), timezones=st.just(UTC)),
    span=st.integers(0, 3 * 24 * 60),
    zone=st.sampled_from(["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"]),
)
def test_latest_fire_is_the_minute_walks_answer(text, start, span, zone):
    schedule = cron.parse(text)
    upto = start + timedelta(minutes=span)
    found = cron.latest_fire(schedule, start, upto, ZoneInfo(zone))
    assert found == brute_latest(schedule, start, upto, ZoneInfo(zone))


def test_fields_names_steps_and_the_two_day_fields():
    s = cron.parse("*/15 9-17 * jan,JUL mon-fri")
    assert s.minutes == {0, 15, 30, 45} and s.hours == set(range(9, 18))
    assert s.months == {1, 7} and s.weekdays == {1, 2, 3, 4, 5}
    # Both day fields restricted: either fires (the 1st, or any Sunday).
    either = cron.parse("0 0 1 * 7")
    assert either.matches(datetime(2026, 12, 6, tzinfo=UTC))  # a Sunday
    assert either.matches(datetime(2026, 12, 1, tzinfo=UTC))  # a Tuesday, the 1st
    assert not either.matches(datetime(2026, 12, 2, tzinfo=UTC))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "* * * *",
        "60 * * * *",
        "* 24 * * *",
        "* * 0 * *",
        "5-1 * * * *",
        "*/0 * * * *",
        "* * * foo *",
        "@daily",
        "1 2 3 4 5 6",
        "١ * * * *",
        "-1 * * * *",
        "x" * 300,
    ],
)
def test_bad_schedules_are_refused(text):
    with pytest.raises(cron.CronError):
        cron.parse(text)


def job(**kwargs) -> JobSettings:
    base = {"name": "nightly", "schedule": "30 3 * * *", "command": ("true",)}
    return JobSettings(**{**base, **kwargs})


def test_due_at_its_minute_once_and_not_again():
    now = T0 + timedelta(minutes=30, seconds=2)
    due = due_run(job(), None, None, now)
    assert due.scheduled_for == T0 + timedelta(minutes=30) and due.skip is None
    assert due_run(job(), due.scheduled_for, None, now + timedelta(seconds=40)) is None
    assert due_run(job(), due.scheduled_for, None, now + timedelta(days=1)).scheduled_for == (
        due.scheduled_for + timedelta(days=1)
    )


def test_a_missed_minute_runs_once_within_the_window_only():
    last = T0 + timedelta(minutes=30) - timedelta(days=1)
    back_soon = T0 + timedelta(minutes=75)  # the agent was down at 03:30, back at 04:15
    assert due_run(job(), last, None, back_soon).scheduled_for == T0 + timedelta(minutes=30)
    back_late = T0 + timedelta(hours=3)
    assert due_run(job(), last, None, back_late) is None
    # Every minute for an hour missed: one run, the latest minute.
    every = job(schedule="* * * * *")
    assert due_run(every, T0, None, T0 + timedelta(minutes=59)).scheduled_for == T0 + timedelta(
        minutes=59
    )


def test_forbid_skips_and_says_why_allow_runs_beside():
    now = T0 + timedelta(minutes=30)
    skipped = due_run(job(), None, 41, now)
    assert skipped.skip and "run 41 is still going" in skipped.skip
    assert due_run(job(concurrency="allow"), None, 41, now).skip is None


def test_time_zone_moves_the_minute():
    paris = job(time_zone="Europe/Paris")  # 03:30 in Paris is 02:30 UTC in winter
    assert due_run(paris, None, None, T0 - timedelta(minutes=30)).scheduled_for == T0 - timedelta(
        minutes=30
    )
    assert due_run(paris, None, None, T0 + timedelta(minutes=30)) is None


def spec_with(jobs, **more):
    spec = {"name": "web", "port": 80, "domain": "web.example.com", "image": "app:1"}
    return {"apiVersion": "v1", "spec": {**spec, **more, "jobs": jobs}}


hostile = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40
)


@settings(max_examples=100, deadline=None)
@given(args=st.lists(hostile, min_size=1, max_size=6).filter(lambda a: a[0]))
def test_commands_reach_the_container_literally(args):
    """Whatever the text ($(...), ;, quotes, newlines), it is an argv, never a shell line."""
    definition = load_definition(
        spec_with([{"name": "j", "schedule": "* * * * *", "command": args}])
    )
    (loaded,) = definition.jobs
    assert list(loaded.command) == args
    assert definition.spec_dict()["jobs"][0]["command"] == args
    service = {"Image": "sha256:x", "Config": {"Env": ["A=1"]}, "HostConfig": {}}
    body = create_body(service, list(loaded.command), {})
    assert [*body["Entrypoint"], *body["Cmd"]] == args
    assert "sh" not in body["Entrypoint"] or args[0] == "sh"


@pytest.mark.parametrize(
    "bad",
    [
        {"name": "j", "schedule": "* * * * *", "command": "rm -rf /"},  # a string, not a list
        {"name": "j", "schedule": "* * * * *", "command": ["a\x00b"]},
        {"name": "j", "schedule": "* * * * *", "command": [1, 2]},
        {"name": "j", "schedule": "* * * * *", "command": []},
        {"name": "j", "schedule": "* * * * *", "command": ["x"] * 65},
        {"name": "j", "schedule": "* * * * *", "command": ["x"], "timeZone": "../../etc/passwd"},
        {"name": "j", "schedule": "* * * * *", "command": ["x"], "timeout": "1d"},
        {"name": "j", "schedule": "* * * * *", "command": ["x"], "concurrency": "replace"},
        {"name": "J J", "schedule": "* * * * *", "command": ["x"]},
        {"name": "j", "schedule": "* * * * *\n", "command": ["x"]},
        {"name": "j", "schedule": "* * * * *", "command": ["x"], "extra": 1},
    ],
)
def test_hostile_jobs_are_refused(bad):
    with pytest.raises(SpecError):
        load_definition(spec_with([bad]))


def test_jobs_and_a_one_writer_volume():
    job_ = {"name": "j", "schedule": "* * * * *", "command": ["x"]}
    with pytest.raises(SpecError, match="one writer"):
        load_definition(spec_with([job_], volumeMount="/data"))
    shared = load_definition(spec_with([job_], volumeMount="/data", update="rolling"))
    assert shared.jobs[0].name == "j"
    with pytest.raises(SpecError, match="named twice"):
        load_definition(spec_with([job_, job_]))


def test_a_spec_without_jobs_keeps_its_digest():
    plain = {"apiVersion": "v1", "spec": {"name": "web", "port": 80, "image": "app:1"}}
    assert "jobs" not in load_definition(plain).spec_dict()
