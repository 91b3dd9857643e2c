"""The shipper's parsing of container output: frames, lines, caps and the engine's timestamps."""

from __future__ import annotations

import io
import struct
from datetime import UTC, datetime

from swsagent.dockerapi import frames
from swsagent.loglines import (
    TRUNCATED,
    LineSplitter,
    ShippedMark,
    cap,
    clean_text,
    docker_since,
    parse_docker_time,
    parse_timestamped,
)


def frame(kind: int, data: bytes) -> bytes:
    return bytes([kind, 0, 0, 0]) + struct.pack(">I", len(data)) + data


def test_frames_demultiplex_stdout_and_stderr():
    stream = io.BytesIO(frame(1, b"out\n") + frame(2, b"err\n") + frame(1, b""))
    assert list(frames(stream)) == [("stdout", b"out\n"), ("stderr", b"err\n")]


def test_a_frame_cut_short_ends_the_stream_without_an_error():
    stream = io.BytesIO(frame(1, b"whole\n") + frame(2, b"half of it")[:-4])
    assert list(frames(stream)) == [("stdout", b"whole\n"), ("stderr", b"half o")]


def test_lines_are_joined_across_chunks_and_split_within_them():
    splitter = LineSplitter(100)
    assert list(splitter.feed(b"one\ntw")) == [b"one"]
    assert list(splitter.feed(b"o\nthree\nfo")) == [b"two", b"three"]
    assert list(splitter.flush()) == [b"fo"]


def test_a_long_line_is_cut_once_and_its_rest_is_dropped():
    splitter = LineSplitter(10)
    out = list(splitter.feed(b"x" * 25))
    out += list(splitter.feed(b"y" * 40))
    out += list(splitter.feed(b"zz\nnext\n"))
    assert out == [b"x" * 10 + TRUNCATED.encode(), b"next"]


def test_a_long_line_in_one_chunk_is_cut_too():
    assert list(LineSplitter(4).feed(b"abcdefgh\nok\n")) == [b"abcd" + TRUNCATED.encode(), b"ok"]


def test_timestamps_keep_microseconds_and_the_text_stays_as_written():
    ts, text = parse_timestamped(b"2026-11-27T05:30:01.123456789Z GET / 200 \x00\xff\r")
    assert ts == datetime(2026, 11, 27, 5, 30, 1, 123456, tzinfo=UTC)
    assert text == "GET / 200 \ufffd\ufffd"


def test_a_line_without_a_timestamp_keeps_all_its_text():
    assert parse_timestamped(b"no time here") == (None, "no time here")
    assert parse_timestamped(b"2026-13-99T00:00:00Z x") == (None, "2026-13-99T00:00:00Z x")
    assert parse_docker_time("2026-11-27T05:30:01Z") == datetime(2026, 11, 27, 5, 30, 1, tzinfo=UTC)
    assert parse_docker_time("2026-11-27T05:30:01.5Z").microsecond == 500000
    assert parse_docker_time("2026-11-27T05:30:01.x5Z") is None


def test_since_is_seconds_and_nanoseconds():
    moment = datetime(2026, 11, 27, 5, 30, 1, 123456, tzinfo=UTC)
    assert docker_since(moment) == f"{int(moment.timestamp())}.123456000"


def test_text_that_postgresql_cannot_store_is_replaced():
    assert clean_text(b"a\x00b") == "a\ufffdb"


def test_cap_cuts_text_to_its_byte_budget_and_marks_it_once():
    assert cap("short", 10) == "short"
    assert cap("x" * 12, 10) == "x" * 10 + TRUNCATED
    assert cap("y" * 20 + TRUNCATED, 10) == "y" * 10 + TRUNCATED
    assert cap("é" * 6, 5) == "éé" + TRUNCATED  # never half a character


def test_lines_of_one_microsecond_and_out_of_order_streams_are_all_shipped():
    # The engine stamps each line; on a fast machine many share a microsecond, and stderr's
    # lines may come before stdout's older ones. Every one is new.
    t = datetime(2026, 12, 6, 10, 0, 0, 5, tzinfo=UTC)
    mark = ShippedMark()
    mark.begin_read()
    assert mark.ship(t, "stdout", "line 1")
    assert mark.ship(t, "stdout", "line 1")  # the same text twice in one microsecond
    assert mark.ship(t, "stdout", "line 2")
    assert mark.ship(t.replace(microsecond=4), "stderr", "older, from the other stream")
    assert mark.ship(t.replace(microsecond=6), "stdout", "line 3")
    assert mark.ship(t.replace(microsecond=6), "stdout", "line 4")


def test_a_read_resumed_at_the_last_moment_skips_exactly_what_was_shipped_then():
    t = datetime(2026, 12, 6, 10, 0, 0, 6, tzinfo=UTC)
    mark = ShippedMark()
    for text in ("a", "a", "b"):
        mark.ship(t, "stdout", text)
    mark.begin_read()  # `since` is inclusive: the engine sends t's lines again, then new ones
    assert not mark.ship(t, "stdout", "a")
    assert not mark.ship(t, "stdout", "b")
    assert not mark.ship(t, "stdout", "a")
    assert mark.ship(t, "stdout", "c")  # written in the same microsecond, after the last read
    assert mark.ship(t, "stdout", "a")  # a third "a": new
    assert mark.ship(t.replace(microsecond=7), "stdout", "b")
