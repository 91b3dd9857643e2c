"""Log queries: the API's parameters and swsctl's --since and follow loop (no server needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from werkzeug.datastructures import MultiDict

from swsapi.errors import ApiError
from swsapi.servicelogs import DEFAULT_TAIL, parse_query, parse_since
from swsctl import logs
from swsctl.errors import InvalidInput, NotFound, ServerError, Unreachable

NOW = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)


def test_no_parameter_means_the_last_hundred_lines():
    query = parse_query(MultiDict())
    assert (query.tail, query.after, query.since, query.follow) == (DEFAULT_TAIL, None, None, False)


def test_after_pages_forward_and_since_filters():
    query = parse_query(MultiDict({"after": "42", "limit": "10", "since": "60", "follow": "1"}))
    assert (query.after, query.limit, query.tail, query.follow) == (42, 10, None, True)
    assert datetime.now(UTC) - query.since < timedelta(seconds=120)


def test_every_bad_parameter_is_named_at_once():
    with pytest.raises(ApiError) as err:
        parse_query(MultiDict([("tail", "x"), ("after", "1.5"), ("follow", "yes")]))
    assert err.value.status == 400 and set(err.value.fields) == {"tail", "after", "follow"}


def test_since_is_seconds_before_now_or_an_iso_time():
    assert parse_since("90", NOW) == NOW - timedelta(seconds=90)
    assert parse_since("2026-11-27T05:00:00Z", NOW) == datetime(2026, 11, 27, 5, tzinfo=UTC)
    assert parse_since("2026-11-27T05:00:00", NOW) == datetime(2026, 11, 27, 5, tzinfo=UTC)
    for bad in ("-1", "nan", "inf", "1e99", "soon", ""):
        assert parse_since(bad, NOW) is None, bad


def test_swsctl_since_takes_durations_and_times():
    assert logs.since_parameter("10m") == "600"
    assert logs.since_parameter("1.5h") == "5400"
    assert logs.since_parameter("45") == "45"
    assert logs.since_parameter("2026-11-27T05:00:00Z") == "2026-11-27T05:00:00Z"
    assert logs.since_parameter(None) is None
    with pytest.raises(InvalidInput, match="--since"):
        logs.since_parameter("10 minutes")


class FakeClient:
    """Scripted follow streams: each call to follow_logs plays the next script."""

    def __init__(self, *scripts):
        self.scripts = list(scripts)
        self.afters: list[int] = []

    def follow_logs(self, name, after):
        self.afters.append(after)
        script = self.scripts.pop(0)
        if isinstance(script, Exception):
            raise script
        yield from script


def line(cursor: int) -> dict:
    return {"cursor": cursor, "line": f"line {cursor}"}


def test_follow_resumes_from_the_cursor_and_ends_when_the_service_is_deleted():
    client = FakeClient(
        [line(5), line(6), {"end": "max_duration", "cursor": 6}],
        Unreachable("dropped"),
        [line(7), {"end": "deleted", "cursor": 9}],
    )
    got = list(logs.follow(client, "web", 4, sleep=lambda s: None))
    assert [x["cursor"] for x in got] == [5, 6, 7]
    assert client.afters == [4, 6, 6]


def test_follow_gives_up_after_failing_again_and_again_and_says_not_found_at_once():
    failing = FakeClient(*[Unreachable("down")] * logs.TOLERATED_FAILED_STREAMS)
    with pytest.raises(Unreachable):
        list(logs.follow(failing, "web", 0, sleep=lambda s: None))
    with pytest.raises(NotFound):
        list(logs.follow(FakeClient(NotFound("gone")), "web", 0, sleep=lambda s: None))


def test_follow_stops_with_a_reason_when_its_slot_went_to_another_user():
    client = FakeClient([line(5), {"end": "evicted", "cursor": 5}], [line(6)])
    got = []
    with pytest.raises(ServerError, match="give its slot to a user who had none"):
        for item in logs.follow(client, "web", 4, sleep=lambda s: None):
            got.append(item)
    assert [x["cursor"] for x in got] == [5] and client.afters == [4]  # not followed again
