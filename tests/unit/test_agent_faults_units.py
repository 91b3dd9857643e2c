"""The pure parts of the agent's fault handling: stale routes, the orphans' clock, the line
users see about the host, and spec.healthCheck."""

from __future__ import annotations

import time

import pytest

from swsagent import orphans, stale
from swsagent.observe import ProxyState
from swsagent.plan import choose_serving, routes_for
from swsagent.render import route_block, service_vars
from swsapi.hostnotice import describe
from swscore.spec import SpecError, load_definition
from tests.fixtures.contract import repo_names
from tests.unit.test_agent_plan import container, service

NAMES = repo_names()


def applied(*containers_, desired) -> str:
    serving = choose_serving(desired, list(containers_), set())
    return "\n".join(route_block(r, NAMES) for r in routes_for(serving, desired))


def test_a_running_service_whose_address_moved_is_stale_until_the_proxies_route_to_it():
    web = service("web", status="running", applied=1)
    before = applied(container("web", ip="10.0.0.2"), desired=[web])
    moved = [container("web", ip="10.0.0.9")]
    ready = ProxyState("sws-proxy-1", before, "ready")
    assert stale.find([web], moved, [ready], NAMES) == [web]
    now = applied(*moved, desired=[web])
    assert stale.find([web], moved, [ProxyState("sws-proxy-1", now, "ready")], NAMES) == []
    # A proxy in maintenance gets no traffic (it is rolled first); one down has no routes.
    assert stale.find([web], moved, [ProxyState("sws-proxy-2", before, "maint")], NAMES) == []
    assert stale.find([web], moved, [ProxyState("sws-proxy-2", None, None)], NAMES) == []
    # Only recorded `running` services: a pending one is the deploy's business.
    pending = service("web", status="pending", applied=0)
    assert stale.find([pending], moved, [ready], NAMES) == []


def test_an_orphan_is_removed_only_after_its_grace():
    seen: dict[str, float] = {}
    assert orphans.due(["old"], seen, grace=3600, now=1000.0) == []
    assert orphans.due(["old", "new"], seen, grace=3600, now=4599.0) == []
    assert orphans.due(["old", "new"], seen, grace=3600, now=4600.0) == ["old"]
    # Listed again by the store: its clock is forgotten, and starts again if it returns.
    assert orphans.due(["new"], seen, grace=3600, now=5000.0) == []
    assert "old" not in seen and seen["new"] == 4599.0


def test_orphan_times_survive_between_passes(tmp_path):
    orphans.save(tmp_path / "state", {"a": 1.5})
    assert orphans.load(tmp_path / "state") == {"a": 1.5}
    assert orphans.load(tmp_path / "nowhere") == {}


def test_the_host_line_names_what_is_still_down_and_nothing_internal():
    changed = {
        "down": {
            "sws-proxy-2": "sws-proxy-2 is exited (exit code 1, mount /var/lib/x: denied)",
            "sws-proxy-1": "sws-proxy-1 is exited (exit code 137)",
        },
        "revived": ["sws-proxy-1"],
    }
    line = describe(changed)
    assert line.startswith("sws-proxy-2 is exited: ") and "sws-proxy-1" not in line
    assert "/" not in line and "exit code" not in line
    assert describe({"down": {"sws-proxy-1": "x"}, "revived": ["sws-proxy-1"]}) is None
    assert describe({"deployed": ["a"]}) is None and describe(None) is None


def definition(**extra):
    spec = {"name": "web", "port": 8080, "domain": "web.test", "image": "img:1", **extra}
    return load_definition({"apiVersion": "v1", "spec": spec})


def test_a_health_check_path_is_optional_and_kept_as_written():
    assert definition().health_path is None
    assert "healthCheck" not in definition().spec_dict()  # older specs keep their digests
    checked = definition(healthCheck={"path": "/healthz?full=1"})
    assert checked.health_path == "/healthz?full=1"
    assert checked.spec_dict()["healthCheck"] == {"path": "/healthz?full=1"}
    assert checked.digest() != definition().digest()


@pytest.mark.parametrize(
    "path",
    ["healthz", "/a b", "/a\nb", "/" + "a" * 300, "/{{ x }}", "/$(id)", "/a#b", "http://x/"],
)
def test_a_health_check_path_refuses_what_is_not_an_inert_path(path):
    with pytest.raises(SpecError) as err:
        definition(healthCheck={"path": path})
    assert "spec.healthCheck.path" in err.value.fields


def test_a_health_check_needs_its_path_and_nothing_else():
    for bad in ({}, {"path": "/ok", "port": 1}):
        with pytest.raises(SpecError):
            definition(healthCheck=bad)


def test_the_health_path_reaches_the_service_host_vars_only_when_set():
    from swsagent.desired import desired_from_row

    spec = {"name": "web", "port": 8080, "domain": "web.test", "image": "img:1"}
    plain = desired_from_row("web", "web.test", spec, "d", 1, 0, "pending", False)
    assert "sws_service_health_path" not in service_vars(plain)
    checked = desired_from_row(
        "web", "web.test", {**spec, "healthCheck": {"path": "/up"}}, "d", 1, 0, "pending", False
    )
    assert service_vars(checked)["sws_service_health_path"] == "/up"


def test_two_services_that_swapped_addresses_are_both_stale():
    a, b = service("a", status="running", applied=1), service("b", status="running", applied=1)
    before = applied(container("a", ip="10.0.0.2"), container("b", ip="10.0.0.3"), desired=[a, b])
    swapped = [container("a", ip="10.0.0.3"), container("b", ip="10.0.0.2")]
    found = stale.find([a, b], swapped, [ProxyState("sws-proxy-1", before, "ready")], NAMES)
    assert found == [a, b]


def test_a_route_rendered_another_way_at_the_same_address_is_not_stale():
    web = service("web", status="running", applied=1)
    text = applied(container("web"), desired=[web]).replace("keepalive 32;", "keepalive 8;")
    proxies = [ProxyState("sws-proxy-1", text, "ready")]
    assert stale.find([web], [container("web")], proxies, NAMES) == []


def test_health_checks_wait_for_their_interval(tmp_path):
    """A pass probes serving containers' health checks at most every health_interval seconds
    (the stamp's time is the last round's); 0 probes every pass."""
    from swsagent.reconcile import health_due

    stamp = tmp_path / "health.checked"
    assert health_due(stamp, 30, time.time())  # never checked
    stamp.touch()
    assert not health_due(stamp, 30, time.time())
    assert health_due(stamp, 0, time.time())
    assert health_due(stamp, 30, time.time() + 31)
