"""Following a service: when a wait ends, and how it treats stale states and hiccups.

The live-server tests (tests/integration/test_cli_commands.py) cover waits end to end; these
drive the same loop with a scripted sequence of looks and a fake clock, to pin down edge
cases (a stale `running`, a restarting API, a timeout) without sleeping.
"""

import pytest

from swsctl.errors import NotFound, ServerError, Unreachable, WaitFailed, WaitTimedOut
from swsctl.wait import Follow, apply_state, until_gone, until_running


class ScriptedApi:
    """Answers get_service from a script: a dict is a look, an exception is raised."""

    def __init__(self, *looks):
        self.looks = list(looks)
        self.calls = 0

    def get_service(self, name):
        self.calls += 1
        answer = self.looks.pop(0) if len(self.looks) > 1 else self.looks[0]
        if isinstance(answer, Exception):
            raise answer
        return {"name": name, **answer}


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def follow(timeout=10.0):
    clock = FakeClock()
    seen = []
    return Follow(
        timeout=timeout, interval=1.0, observe=seen.append, clock=clock, sleep=clock.sleep
    ), seen


def svc(status, generation=2, applied=1, **extra):
    return {"status": status, "generation": generation, "applied_generation": applied, **extra}


@pytest.mark.parametrize(
    ("service", "state"),
    [
        (svc("running", applied=2), "running"),
        (svc("running", applied=3), "running"),
        (svc("running", applied=1), "pending"),  # the previous generation is running
        (svc("pending"), "pending"),
        (svc("failed", applied=1), "failed"),
        (svc("deleting"), "deleting"),
    ],
)
def test_apply_state(service, state):
    assert apply_state(service, 2) == state


def test_until_running_waits_through_a_stale_running():
    how, seen = follow()
    api = ScriptedApi(svc("pending"), svc("running", applied=1), svc("running", applied=2))
    assert until_running(api, "web", 2, how)["applied_generation"] == 2
    assert [s["status"] for s in seen] == ["pending", "running", "running"]


def test_until_running_reports_the_agents_message_on_failure():
    how, _ = follow()
    api = ScriptedApi(svc("failed", message="pull failed", last_log="no such image"))
    with pytest.raises(WaitFailed, match="pull failed") as caught:
        until_running(api, "web", 2, how)
    assert "no such image" in caught.value.message


def test_until_running_times_out_with_the_last_status():
    how, _ = follow(timeout=3)
    with pytest.raises(WaitTimedOut, match=r"not running yet after 3s \(status pending: pulling"):
        until_running(ScriptedApi(svc("pending", message="pulling")), "web", 2, how)


def test_a_service_deleted_while_waiting_for_it_fails_the_wait():
    how, _ = follow()
    with pytest.raises(WaitFailed, match="deleted while waiting"):
        until_running(ScriptedApi(NotFound("gone")), "web", 2, how)


def test_a_restarting_api_is_tolerated_for_a_few_looks():
    how, _ = follow()
    api = ScriptedApi(Unreachable("down"), ServerError("502"), svc("running", applied=2))
    assert until_running(api, "web", 2, how)["status"] == "running"


def test_an_api_that_stays_away_ends_the_wait_with_its_own_error():
    how, _ = follow()
    with pytest.raises(Unreachable):
        until_running(ScriptedApi(Unreachable("down")), "web", 2, how)


def test_until_gone_ends_at_404_and_fails_if_removal_fails():
    how, seen = follow()
    until_gone(ScriptedApi(svc("deleting"), NotFound("gone")), "web", how)
    assert [s["status"] for s in seen] == ["deleting"]
    how, _ = follow()
    with pytest.raises(WaitFailed, match="failed removing"):
        until_gone(ScriptedApi(svc("failed", message="volume busy")), "web", how)
