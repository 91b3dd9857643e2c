"""The digest the watching agent compares to see the swarm move a task (swarm/taskwatch.py)."""

from __future__ import annotations

from swsagent.swarm.taskwatch import task_digest


def task(task_id, state="running", addresses=("10.0.1.5/24",), labels=None):
    return {
        "ID": task_id,
        "Spec": {"ContainerSpec": {"Labels": {"sws.service": "web"} if labels is None else labels}},
        "Status": {"State": state},
        "NetworksAttachments": [{"Addresses": list(addresses)}],
    }


def test_the_digest_follows_what_a_route_depends_on_and_nothing_else():
    tasks = [task("a"), task("b", addresses=("10.0.1.6/24",))]
    digest = task_digest(tasks, "sws")
    assert task_digest(list(reversed(tasks)), "sws") == digest  # the manager's order
    assert task_digest([*tasks, task("x", labels={})], "sws") == digest  # not SWS's
    assert task_digest([task("a", state="failed"), tasks[1]], "sws") != digest
    assert task_digest([task("c"), tasks[1]], "sws") != digest  # another task in its place
    assert task_digest([tasks[0], task("b", addresses=("10.0.1.9/24",))], "sws") != digest
    assert task_digest([], "sws") != digest
