"""render.py against golden files: the nginx routes and the inventory in both of its forms.

Set SWS_UPDATE_GOLDEN=1 to rewrite the golden files after an intended change, then review
the diff like any other code change.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from swsagent.desired import desired_from_row
from swsagent.plan import Route
from swsagent.render import (
    inventory,
    inventory_json,
    inventory_yaml,
    routes_conf,
    service_host,
)
from tests.fixtures.contract import repo_names

GOLDEN = Path(__file__).parent / "golden"
NAMES = repo_names()
TEMPLATE_IN_ENV = "{{ lookup('pipe','id') }}"


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("SWS_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), f"{name} differs from its golden file"


def spec(name, domain, port=8080, image="sws-local/hello:2", env=(), volume=None):
    s = {
        "name": name,
        "port": port,
        "domain": domain,
        "image": image,
        "env": [{"name": k, "value": v} for k, v in env],
    }
    if volume:
        s["volumeMount"] = volume
    return s


def row(name, domain, generation=1, status="pending", applied=0, purge=False, **kw):
    return desired_from_row(
        name,
        domain,
        spec(name, domain, **kw),
        f"digest-{name}",
        generation,
        applied,
        status,
        purge,
    )


def desired():
    return [
        row(
            "blog",
            "blog.example.com",
            generation=3,
            status="running",
            applied=3,
            env=[("GREETING", "hi there"), ("TRAP", TEMPLATE_IN_ENV)],
            volume="/data",
        ),
        row("shop", "shop.example.com", port=9000),
        row("old", "old.example.com", status="deleting"),
        row("wiped", "wiped.example.com", status="deleting", purge=True, volume="/data"),
    ]


def test_routes_golden():
    routes = [
        Route(domain="shop.example.com", service="shop", address="172.20.0.5", port=9000),
        Route(domain="blog.example.com", service="blog", address="172.20.0.4", port=8080),
        Route(domain="a-b.example.com", service="a-b", address="172.20.0.6", port=80),
    ]
    check_golden("routes.conf", routes_conf(routes, NAMES))


def test_routes_empty_golden():
    check_golden("routes-empty.conf", routes_conf([], NAMES))


def test_routes_do_not_depend_on_order():
    a = Route("a.example.com", "a", "10.0.0.2", 80)
    b = Route("b.example.com", "b", "10.0.0.3", 81)
    assert routes_conf([a, b], NAMES) == routes_conf([b, a], NAMES)


def test_routes_listen_on_the_proxy_socket_without_a_proxy_header():
    # HAProxy sends the client's address in X-SWS-Client on this socket (nginx.conf's map).
    names = repo_names(proxy_routes_socket="/run/test/http.sock")
    text = routes_conf([Route("a.example.com", "a", "10.0.0.2", 80)], names)
    assert "listen unix:/run/test/http.sock;" in text and "proxy_protocol" not in text


def test_inventory_yaml_golden():
    check_golden("inventory.yml", inventory_yaml(inventory(desired(), NAMES, orphans=["ghost"])))


def test_inventory_json_golden():
    check_golden("inventory.json", inventory_json(inventory(desired(), NAMES)))


def test_inventory_groups():
    inv = inventory(desired(), NAMES, orphans=["ghost"])
    assert inv["proxies"]["hosts"] == ["sws-proxy-1", "sws-proxy-2"]
    assert inv["loadbalancer"]["hosts"] == ["sws-loadbalancer"]
    assert inv["services"]["hosts"] == [
        service_host(n) for n in ("blog", "shop", "old", "wiped", "ghost")
    ]
    hostvars = inv["_meta"]["hostvars"]
    assert hostvars["sws-svc-old"]["sws_service_state"] == "absent"
    assert hostvars["sws-svc-old"]["sws_service_purge_volume"] is False
    assert hostvars["sws-svc-wiped"]["sws_service_state"] == "absent"
    assert hostvars["sws-svc-wiped"]["sws_service_purge_volume"] is True
    assert "sws_service_purge_volume" not in hostvars["sws-svc-ghost"]  # orphans keep volumes
    assert hostvars["sws-svc-ghost"]["sws_service_state"] == "absent"
    assert hostvars["sws-svc-blog"]["sws_service_container"] == "sws-svc-blog-3"


def test_keep_overrides_the_container_to_keep():
    inv = inventory(desired(), NAMES, keep={"blog": "sws-svc-blog-2"})
    assert inv["_meta"]["hostvars"]["sws-svc-blog"]["sws_service_keep"] == "sws-svc-blog-2"


@pytest.mark.parametrize("bad", [{"name": "x"}, {**spec("x", "x.example.com"), "port": 0}])
def test_invalid_stored_spec_becomes_a_problem_not_a_crash(bad):
    service = desired_from_row("x", "x.example.com", bad, "d", 1, 0, "pending")
    assert service.definition is None and "invalid" in service.problem
    assert (
        inventory([service], NAMES)["_meta"]["hostvars"]["sws-svc-x"]["sws_service_state"]
        == "invalid"
    )


def test_two_routes_for_one_domain_are_refused_naming_both():
    from swsagent.render import RoutesError

    routes = [
        Route(domain="shop.example.com", service="shop", address="172.30.0.2", port=8080),
        Route(domain="shop.example.com", service="thief", address="172.30.0.3", port=8080),
        Route(domain="blog.example.com", service="blog", address="172.30.0.4", port=8080),
    ]
    with pytest.raises(RoutesError) as err:
        routes_conf(routes, NAMES)
    assert str(err.value) == "two services for one domain: shop.example.com (shop, thief)"


def test_containment_is_the_specs_resources_else_the_operators_defaults():
    from swsagent.config import SERVICE_CAPABILITIES, Containment

    own = row("own", "own.test")
    limited = desired_from_row(
        "lim",
        "lim.test",
        {**spec("lim", "lim.test"), "resources": {"memory": "64Mi", "cpus": "0.25"}},
        "digest-lim",
        1,
        0,
        "pending",
    )
    operator = Containment(memory=128 * 2**20, cpus="1", pids=100)
    inv = inventory([own, limited], NAMES, containment=operator)["_meta"]["hostvars"]
    mine, theirs = inv[service_host("own")], inv[service_host("lim")]
    assert (mine["sws_service_memory"], mine["sws_service_cpus"]) == (128 * 2**20, "1")
    assert (theirs["sws_service_memory"], theirs["sws_service_cpus"]) == (64 * 2**20, "0.25")
    assert mine["sws_service_pids"] == theirs["sws_service_pids"] == 100
    assert mine["sws_service_capabilities"] == list(SERVICE_CAPABILITIES)
    assert "NET_RAW" not in SERVICE_CAPABILITIES
    # The digest changes with what contains the container, so a change redeploys it.
    default = inventory([own], NAMES)["_meta"]["hostvars"][service_host("own")]
    assert default["sws_service_memory"] == Containment().memory
    assert len({mine["sws_service_containment"], theirs["sws_service_containment"],
                default["sws_service_containment"]}) == 3  # fmt: skip


def test_spec_init_reaches_the_container_only_when_asked():
    from swsagent import collection
    from swsagent.render import service_vars

    plain = desired_from_row("a", "a.test", spec("a", "a.test"), "d", 1, 0, "pending")
    with_init = desired_from_row(
        "b", "b.test", {**spec("b", "b.test"), "init": True}, "d", 1, 0, "pending"
    )
    assert "sws_service_init" not in service_vars(plain)
    assert service_vars(with_init)["sws_service_init"] is True

    container = collection.module_utils("container")
    fields = dict(
        container="sws-svc-b-1", service="b", generation=1, digest="d", domain="b.test",
        port=8080, image="x:1", owner="u", containment="c", network="sws-services",
        label_prefix="sws", stop_timeout=10,
    )  # fmt: skip
    assert "Init" not in container.ServiceContainer(**fields).create_body()["HostConfig"]
    body = container.ServiceContainer(**fields, init=True).create_body()
    assert body["HostConfig"]["Init"] is True
    # Contained as before: every capability dropped but the kept few, no new privileges.
    assert body["HostConfig"]["CapDrop"] == ["ALL"]
    assert body["HostConfig"]["SecurityOpt"] == ["no-new-privileges"]
    assert body["HostConfig"]["Memory"] == body["HostConfig"]["MemorySwap"]
