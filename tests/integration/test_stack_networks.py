"""The stacks' networks on the real engine: a sample of the agent's allotment made for real
(issue 24). stacks.plan_stacks allots from what the engine reports in use; stacks.create makes
each network as a stack gets it (internal, traffic between its containers on, the subnet
allotted); stacks.remove takes away those no service names. Our own label prefix and range:
the live host's networks are never touched."""

from __future__ import annotations

import ipaddress
import json

from swsagent import stacks
from swsagent.desired import desired_from_row
from tests.integration.test_agent_pass import docker, engine_lock  # noqa: F401

PREFIX = "swsstacktest"
RANGE = "10.209.0.0/24"  # 16 subnets of /28
BRIDGES = "swsxt"  # not the live host's sws-st: its firewall rules are not this test's


def service(name: str, owner: str, stack: str):
    spec = {"name": name, "port": 8080, "image": "img:1", "env": [], "stack": stack}
    return desired_from_row(name, None, spec, "d", 1, 0, "pending", owner=owner)


def test_a_sample_of_allotted_networks_is_made_by_the_engine_and_released(engine_lock):  # noqa: F811
    desired = [service(f"s{i}", f"user{i % 3}", f"stack{i}") for i in range(12)]
    existing, taken = stacks.observe(PREFIX)
    assert existing == {}, "left over from an earlier run"
    plan = stacks.plan_stacks(desired, existing, taken, PREFIX, RANGE, 28)
    assert len(plan.create) == 12 and not plan.problems
    try:
        assert stacks.create(plan, PREFIX, BRIDGES) == {}
        made, taken_now = stacks.observe(PREFIX)
        assert {n.name: n.subnet for n in plan.create} == {n: made[n].subnet for n in made}
        for name in made:
            detail = json.loads(docker("network", "inspect", name))[0]
            assert detail["Internal"] is True
            assert detail["Options"]["com.docker.network.bridge.enable_icc"] == "true"
            bridge = detail["Options"]["com.docker.network.bridge.name"]
            assert bridge == stacks.bridge_name(BRIDGES, made[name].subnet)
            net = ipaddress.ip_network(made[name].subnet)
            others = [ipaddress.ip_network(t) for t in taken]
            assert not any(net.overlaps(o) for o in others)
        # A stack whose services are all gone releases its network; the others stay.
        plan = stacks.plan_stacks(desired[:10], made, taken_now, PREFIX, RANGE, 28)
        assert plan.create == [] and len(plan.remove) == 2
        assert stacks.remove(plan) == plan.remove
        assert len(stacks.observe(PREFIX)[0]) == 10
    finally:
        left, _ = stacks.observe(PREFIX)
        stacks.remove(stacks.StackPlan(remove=sorted(left)))
