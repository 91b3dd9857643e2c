"""Which stream makes room for a user who holds none (swsapi/streamslots.py, issue 25)."""

from swsapi.streamslots import stream_to_evict


def test_the_greediest_users_newest_stream_goes():
    held = {1: [9, 4], 2: [8, 7, 3], 3: [6]}  # each user's streams, newest first
    assert stream_to_evict(held, newcomer=4) == 8


def test_of_two_as_greedy_the_one_who_opened_last_gives_way():
    assert stream_to_evict({1: [5, 2], 2: [7, 1], 3: [6, 3]}, newcomer=9) == 7


def test_no_one_gives_way_to_a_user_who_holds_one_or_when_everyone_holds_one():
    assert stream_to_evict({1: [5, 2], 2: [7]}, newcomer=2) is None
    assert stream_to_evict({1: [5], 2: [7], 3: [8]}, newcomer=4) is None
