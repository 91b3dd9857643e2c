"""The routes a pass hands its roll (render.routes_plan) and what the roll makes of them
(module_utils/proxyroll.candidate): whatever got ready, the text is the one routes_conf renders
for what serves, so a proxy's routes.applied compares equal in the next pass."""

from __future__ import annotations

from dataclasses import replace

import pytest

from swsagent import collection
from swsagent.plan import Route
from swsagent.render import ADDRESS_SLOT, routes_conf, routes_plan, service_host
from tests.fixtures.contract import repo_names

NAMES = repo_names()


@pytest.fixture(scope="module")
def proxyroll():
    return collection.module_utils("proxyroll")


def route(service, domain, address, port=8080):
    return Route(domain=domain, service=service, address=address, port=port)


# b is updated (its new generation moves to another domain), c is new, a and d stay as they are.
FIXED = {"a": route("a", "zz.example", "10.0.0.2"), "d": route("d", "aa.example", "10.0.0.5")}
OLD = {"b": route("b", "b-old.example", "10.0.0.3")}
NEW = {
    "b": route("b", "b-new.example", ADDRESS_SLOT),
    "c": route("c", "c.example", ADDRESS_SLOT, port=9000),
}


def roll_text(proxyroll, addresses: dict[str, str]) -> str:
    plan = routes_plan(FIXED, NEW, OLD, NAMES)
    return proxyroll.candidate(plan["entries"], plan["header"], plan["slot"], addresses)


@pytest.mark.parametrize(
    "ready", [{}, {"b": "10.0.0.7"}, {"c": "10.0.0.8"}, {"b": "10.0.0.7", "c": "10.0.0.8"}]
)
def test_the_roll_renders_what_got_ready_exactly_as_routes_conf(proxyroll, ready):
    addresses = {service_host(n): a for n, a in ready.items()}
    serving = [*FIXED.values()]
    serving.append(replace(NEW["b"], address=ready["b"]) if "b" in ready else OLD["b"])
    if "c" in ready:
        serving.append(replace(NEW["c"], address=ready["c"]))
    assert roll_text(proxyroll, addresses) == routes_conf(serving, NAMES)


def test_a_new_route_never_goes_out_with_its_address_slot(proxyroll):
    text = roll_text(proxyroll, {service_host("b"): "10.0.0.7"})
    assert ADDRESS_SLOT not in text
    assert "c.example" not in text  # not ready: no route at all


def test_the_roll_digest_is_the_agents(proxyroll):
    from swsagent.reconcile import proxyroll_digest

    text = roll_text(proxyroll, {})
    assert proxyroll.digest(text) == proxyroll_digest(text)
    assert proxyroll.digest(None) == proxyroll_digest(None) == ""


def test_the_emerg_line_is_nginxs_own(proxyroll):
    stderr = (
        "nginx: [warn] something\n"
        'nginx: [emerg] unknown directive "this_directive_does_not_exist" in x.conf:9\n'
        "nginx: configuration file /etc/nginx/sws/test.conf test failed\n"
    )
    assert proxyroll.emerg_line(stderr).startswith("nginx: [emerg] unknown directive")
