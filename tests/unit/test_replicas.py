"""spec.replicas (issue 28): the field's validation, and what the agent renders and decides
for a generation of several containers (pure: no store, no Docker)."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swsagent import collection, health
from swsagent.desired import desired_from_row, replica_name
from swsagent.observe import RunningContainer, container_from_inspect
from swsagent.plan import Route, choose_serving, plan_cleanup, plan_deploys, routes_for
from swsagent.render import ADDRESS_SLOT, routes_conf, routes_plan, service_host, service_vars
from swsagent.stale import upstreams
from swscore.spec import MAX_REPLICAS, SpecError, load_definition
from tests.fixtures.contract import repo_names

NAMES = repo_names()
BASE = {"name": "web", "port": 8080, "domain": "web.test", "image": "img:1", "env": []}


def definition(**extra):
    return load_definition({"apiVersion": "v1", "spec": {**BASE, **extra}})


def refused(**extra) -> dict[str, str]:
    with pytest.raises(SpecError) as err:
        definition(**extra)
    return err.value.fields


@given(st.integers(1, MAX_REPLICAS))
def test_every_count_from_one_to_the_ceiling_is_kept_as_written(count):
    loaded = definition(replicas=count)
    assert loaded.replicas == loaded.replica_count == count
    assert loaded.spec_dict()["replicas"] == count
    assert load_definition(loaded.document()) == loaded


@given(
    st.integers().filter(lambda n: not 1 <= n <= MAX_REPLICAS)
    | st.floats(allow_nan=False)
    | st.booleans()
    | st.text(max_size=5)
    | st.lists(st.integers(), max_size=2)
)
def test_anything_but_a_whole_number_in_range_is_refused_naming_the_field(value):
    assert "spec.replicas" in refused(replicas=value)


def test_absent_is_one_and_keeps_the_digest_a_spec_had_before_replicas():
    plain = definition()
    assert plain.replicas is None and plain.replica_count == 1
    assert "replicas" not in plain.spec_dict()
    # Written out, it is a change of spec: a new generation (the rolling update).
    assert definition(replicas=1).digest() != plain.digest()
    assert definition(replicas=2).digest() != definition(replicas=3).digest()


@pytest.mark.parametrize("update", [None, "recreate", "rolling"])
def test_a_service_with_a_volume_has_one_replica_and_is_told_why(update):
    extra = {"volumeMount": "/data", **({"update": update} if update else {})}
    message = refused(replicas=2, **extra)["spec.replicas"]
    assert message.startswith("must be 1 for a service with a volumeMount")
    assert "one writer" in message
    assert definition(replicas=1, **extra).replica_count == 1


def service(name="web", generation=1, status="pending", applied=0, replicas=None):
    spec = {**BASE, "name": name, "domain": f"{name}.test"}
    if replicas is not None:
        spec["replicas"] = replicas
    return desired_from_row(
        name, f"{name}.test", spec, f"d{generation}", generation, applied, status
    )


def replica(n, generation=1, running=True, name="web"):
    return RunningContainer(
        name=replica_name(f"sws-svc-{name}-{generation}", n),
        service=name,
        generation=generation,
        digest=f"d{generation}",
        domain=f"{name}.test",
        port=8080,
        running=running,
        ip=f"10.0.{generation}.{n}" if running else None,
        replica=n,
    )


def test_replicas_are_named_after_the_generation_the_first_as_it_always_was():
    assert [replica_name("sws-svc-web-4", n) for n in (1, 2, 3)] == [
        "sws-svc-web-4",
        "sws-svc-web-4-r2",
        "sws-svc-web-4-r3",
    ]
    container = collection.module_utils("container")
    assert container.replica_name("sws-svc-web-4", 3) == replica_name("sws-svc-web-4", 3)


def test_a_container_without_a_replica_label_is_the_first():
    detail = {"Name": "/sws-svc-web-1", "Config": {"Labels": {"sws.service": "web"}}}
    assert container_from_inspect(detail, "net").replica == 1
    detail["Config"]["Labels"]["sws.replica"] = "3"
    assert container_from_inspect(detail, "net").replica == 3


def test_a_running_generation_missing_a_replica_is_deployed_again():
    running = service(status="running", applied=1, replicas=3)
    all_up = [replica(1), replica(2), replica(3)]
    assert plan_deploys([running], all_up).deploy == []
    one_down = [replica(1), replica(2, running=False), replica(3)]
    assert plan_deploys([running], one_down).deploy == [running]
    assert plan_deploys([running], all_up[:2]).deploy == [running]


def test_the_route_lists_every_running_replica_and_the_retire_keeps_them_all():
    web = service(generation=2, status="running", applied=2, replicas=3)
    old = [replica(1, generation=1), replica(2, generation=1)]
    mine = [*old, replica(1, 2), replica(2, 2, running=False), replica(3, 2)]
    serving = choose_serving([web], mine, set())
    (route,) = routes_for(serving, [web], mine)
    assert route.addresses == ("10.0.2.1", "10.0.2.3")  # the dead one is left out
    cleanup = plan_cleanup([web], mine, serving, set())
    assert sorted(cleanup.containers["web"]) == sorted(c.name for c in old)


def test_the_deploy_is_told_how_many_replicas_to_start():
    assert service_vars(service(replicas=3))["sws_service_replicas"] == 3
    assert service_vars(service())["sws_service_replicas"] == 1


def upstream_servers(text: str) -> list[str]:
    """The upstream's server lines' addresses, in order (not the server blocks' `server {`)."""
    return re.findall(r"^    server ([^;\s]+);$", text, re.MULTILINE)


@given(st.lists(st.ip_addresses(v=4).map(str), min_size=1, max_size=8, unique=True))
def test_the_roll_fills_each_replica_s_slot_as_routes_conf_renders_them(addresses):
    proxyroll = collection.module_utils("proxyroll")
    slots = Route("web.test", "web", ADDRESS_SLOT, 8080, more_addresses=(ADDRESS_SLOT,) * 7)
    new = replace(slots, more_addresses=slots.more_addresses[: len(addresses) - 1])
    old = Route("web.test", "web", "10.9.9.9", 8080)
    plan = routes_plan({}, {"web": new}, {"web": old}, NAMES)
    args = plan["entries"], plan["header"], plan["slot"]
    ready = {service_host("web"): addresses}
    text = proxyroll.candidate(*args, ready)
    expected = replace(old, address=addresses[0], more_addresses=tuple(addresses[1:]))
    assert text == routes_conf([expected], NAMES)
    assert upstream_servers(text) == [f"{a}:8080" for a in addresses]
    # Fewer addresses than slots: not every replica got ready, the older route stays.
    if len(addresses) > 1:
        short = {service_host("web"): addresses[:-1]}
        assert proxyroll.candidate(*args, short) == routes_conf([old], NAMES)


def test_the_stale_check_reads_every_server_of_an_upstream():
    route = Route("web.test", "web", "10.0.0.1", 8080, more_addresses=("10.0.0.2", "10.0.0.3"))
    text = routes_conf([route], NAMES)
    assert upstreams(text) == {
        "sws_svc_web": frozenset({"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"})
    }


def test_the_ready_addresses_the_roll_reads_are_every_replica_s():
    action = pytest.importorskip(
        "ansible_collections.sws.host.plugins.action.proxy_roll", reason="ansible-core"
    )
    host = service_host("web")
    hostvars = {host: {"sws_service_readiness": {"address": "a", "addresses": ["a", "b"]}}}
    assert action._ready_addresses({"hostvars": hostvars}, [host]) == {host: ["a", "b"]}
    single = {host: {"sws_service_readiness": {"address": "a"}}}
    assert action._ready_addresses({"hostvars": single}, [host]) == {host: ["a"]}
    failed = {host: {"sws_service_readiness": {"address": "a", "failed": True}}}
    assert action._ready_addresses({"hostvars": failed}, [host]) == {}


def test_every_replica_is_health_checked_and_a_failing_one_named(monkeypatch):
    web = service(status="running", applied=1, replicas=3)
    web = replace(web, definition=replace(web.definition, health_path="/healthz"))
    mine = [replica(1), replica(2), replica(3)]
    serving = choose_serving([web], mine, set())
    # Which address answers what: the probe is the collection's HTTP check, tested against a
    # real server in test_service_ready_http.py; here only the choice of targets matters.
    asked = []

    def probe(address, port, path):
        asked.append(address)
        return "GET /healthz answered 500" if address == "10.0.1.2" else None

    monkeypatch.setattr(health, "probe", probe)
    results = health.check_serving([web], serving, mine)
    assert sorted(asked) == ["10.0.1.1", "10.0.1.2", "10.0.1.3"]
    assert results == {"web": (1, "replica 2: GET /healthz answered 500")}
