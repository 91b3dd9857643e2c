"""stacks.py and holds.py: the stacks' networks allotted, recreates and stops planned (pure)."""

from __future__ import annotations

import ipaddress
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swsagent.desired import desired_from_row
from swsagent.holds import plan_holds
from swsagent.observe import RunningContainer
from swsagent.plan import Route, plan_deploys
from swsagent.render import routes_conf
from swsagent.stacks import (
    StackError,
    StackNetwork,
    allot,
    network_name,
    overlay_name,
    plan_stacks,
)
from tests.fixtures.contract import repo_names


def service(name, generation=1, status="pending", applied=0, owner="alice", stopped=False, **spec):
    body = {"name": name, "port": 5432, "image": "img:1", "env": [], **spec}
    return desired_from_row(
        name,
        body.get("domain"),
        body,
        f"d{generation}",
        generation,
        applied,
        status,
        owner=owner,
        stopped=stopped,
    )


def container(name, generation=1, running=True):
    return RunningContainer(
        name=f"sws-svc-{name}-{generation}",
        service=name,
        generation=generation,
        digest=f"d{generation}",
        domain="",
        port=5432,
        running=running,
        ip="10.0.0.2" if running else None,
    )


# --- allotment ------------------------------------------------------------------------------

# What swarmkit accepts as a network's name ("must be valid as a DNS name component").
SWARM_NAME = re.compile(r"^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$")
LABEL = st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\Z")


@settings(max_examples=300)
@given(st.tuples(LABEL, LABEL), st.tuples(LABEL, LABEL))
def test_each_stacks_overlay_name_is_a_swarm_name_of_its_own(one, other):
    for owner, stack in (one, other):
        name = overlay_name("sws", owner, stack)
        assert SWARM_NAME.match(name) and len(name) <= 63, name
    assert (overlay_name("sws", *one) == overlay_name("sws", *other)) == (one == other)


def test_on_a_swarm_the_plan_names_overlays_and_allots_no_subnet():
    desired = [service("db", stack="shop"), service("web", stack="shop")]
    plan = plan_stacks(desired, {}, [], "sws", "10.201.0.0/28", 28, on_swarm=True)
    assert plan.create == [StackNetwork("sws-stack_alice_shop", "", "alice", "shop")]
    assert plan.joins == {"db": "sws-stack_alice_shop", "web": "sws-stack_alice_shop"}


def test_a_thousand_stacks_get_a_thousand_subnets_that_overlap_nothing():
    taken = ["10.201.0.0/24", "10.201.7.16/28", "172.17.0.0/16"]
    found = allot("10.201.0.0/16", 28, taken, 1000)
    assert len({str(n) for n in found}) == 1000
    used = [ipaddress.ip_network(t) for t in taken]
    for net in found:
        assert net.prefixlen == 28 and net.subnet_of(ipaddress.ip_network("10.201.0.0/16"))
        assert not any(net.overlaps(u) for u in used)
    assert not any(a.overlaps(b) for a, b in zip(found, found[1:], strict=False))


def test_a_full_range_is_said_for_each_service_that_waits():
    with pytest.raises(StackError, match="no free /28 left"):
        allot("10.201.0.0/27", 28, ["10.201.0.0/28"], 2)
    desired = [service("db", stack="shop"), service("web", stack="shop", owner="bob")]
    plan = plan_stacks(desired, {}, ["10.201.0.0/28"], "sws", "10.201.0.0/28", 28)
    assert plan.create == [] and set(plan.problems) == {"db", "web"}


def test_each_owner_and_stack_has_its_own_network_and_the_last_service_releases_it():
    desired = [
        service("db", stack="shop"),
        service("web", stack="shop", domain="shop.test"),
        service("bobdb", stack="shop", owner="bob"),
        service("lone"),
    ]
    existing = {
        "sws-stack.alice.old": StackNetwork("sws-stack.alice.old", "10.201.0.0/28", "alice", "old")
    }
    plan = plan_stacks(desired, existing, ["10.201.0.0/28"], "sws", "10.201.0.0/16", 28)
    assert sorted(n.name for n in plan.create) == ["sws-stack.alice.shop", "sws-stack.bob.shop"]
    assert plan.joins == {
        "db": "sws-stack.alice.shop",
        "web": "sws-stack.alice.shop",
        "bobdb": "sws-stack.bob.shop",
    }
    assert plan.remove == ["sws-stack.alice.old"]
    assert "10.201.0.0/28" not in {n.subnet for n in plan.create}


@settings(max_examples=200, deadline=None)
@given(
    st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True),
    st.from_regex(r"[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?", fullmatch=True),
    st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True),
    st.from_regex(r"[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?", fullmatch=True),
)
def test_two_different_owner_and_stack_pairs_never_share_a_network(o1, s1, o2, s2):
    if (o1, s1) != (o2, s2):
        assert network_name("sws", o1, s1) != network_name("sws", o2, s2)


# --- recreate and stop ----------------------------------------------------------------------


def test_a_volume_service_update_stops_the_old_generation_first_and_holds_its_route():
    db = service("db", generation=2, applied=1, domain="db.test", volumeMount="/data")
    running = [container("db", 1)]
    deploys = plan_deploys([db], running)
    holds = plan_holds([db], running, deploys)
    # One pass: the deploy stops the running older one first, kept to fall back to.
    assert [s.name for s in deploys.deploy] == ["db"] and "db" in holds.held
    assert holds.stop_first == {"db": ["sws-svc-db-1"]}
    assert holds.fallback == {"db": "sws-svc-db-1"} and not holds.wait_for_stop
    # A stop an earlier pass handed to the background is still under way: wait for it.
    holds = plan_holds([db], running, deploys, under_way={"sws-svc-db-1"})
    assert holds.wait_for_stop == {"db": ["sws-svc-db-1"]} and not holds.stop_first
    assert "db" in holds.held
    # The next pass: nothing of it runs; the new one starts, the old one kept to fall back to.
    stopped = [container("db", 1, running=False)]
    deploys = plan_deploys([db], stopped)
    holds = plan_holds([db], stopped, deploys)
    assert [s.name for s in deploys.deploy] == ["db"]
    assert holds.fallback == {"db": "sws-svc-db-1"} and holds.stop_first == {}


def test_rolling_is_kept_for_a_service_without_a_volume_or_one_that_asks_for_it():
    for spec in ({}, {"volumeMount": "/data", "update": "rolling"}):
        web = service("web", generation=2, applied=1, domain="web.test", **spec)
        deploys = plan_deploys([web], [container("web", 1)])
        holds = plan_holds([web], [container("web", 1)], deploys)
        assert [s.name for s in deploys.deploy] == ["web"] and not holds.held


def test_a_stack_stops_bottom_up_and_a_stopped_service_is_recorded_once_nothing_runs():
    web = service("web", stopped=True, stack="shop", domain="shop.test", status="running")
    db = service("db", stopped=True, stack="shop", status="running")
    running = [container("web"), container("db")]
    holds = plan_holds([web, db], running, plan_deploys([web, db], running))
    assert holds.stopping == {"web": ["sws-svc-web-1"]}
    assert "waits for web" in holds.waiting["db"]
    # web is gone: db stops now.
    holds = plan_holds([web, db], running[1:], plan_deploys([web, db], running[1:]))
    assert holds.stopping == {"db": ["sws-svc-db-1"]} and holds.stopped == ["web"]
    assert holds.held == {"web", "db"}


def test_a_held_route_answers_503_with_retry_after_and_never_reaches_a_container():
    text = routes_conf([Route("shop.test", "web", "", 0, held=True)], repo_names())
    assert "return 503;" in text and "add_header Retry-After" in text
    assert "proxy_pass" not in text and "upstream" not in text
