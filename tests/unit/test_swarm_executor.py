"""The swarm executor in the pass (issue 28), pure: the `swarm.executor` setting, the service
hosts' swarm variables, and the manager's generation services and tasks read as the
`RunningContainer`s the plan decides from (GET /services, /tasks and /nodes documents)."""

from __future__ import annotations

import pytest

from swsagent import collection, diskspace, removals
from swsagent.config import config_from_mapping
from swsagent.desired import desired_from_row
from swsagent.plan import choose_serving, plan_cleanup, plan_deploys, routes_for
from swsagent.reconcile.observe import Observation
from swsagent.reconcile.plan import plan_pass
from swsagent.render import inventory, orphan_vars, service_vars
from swsagent.runner import result_from_events
from swsagent.swarm.hostvars import SwarmTarget, swarm_target, swarm_vars
from swsagent.swarm.observe import (
    ManagerView,
    SwarmSeen,
    VolumeNode,
    containers_from_tasks,
    node_problems,
    orphan_overlays,
    volume_nodes_seen,
)
from swsagent.swarm.settings import SwarmSettingError, swarm_settings
from swsagent.swarm.volumenode import stranded
from tests.fixtures.contract import repo_names

NAMES = repo_names()
URL = {"database_url": "postgresql://sws@127.0.0.1/sws", "project_dir": "."}
SECTION = {"manager_socket": "/run/m.sock", "report_image": "busybox:1"}
TARGET = SwarmTarget("/run/m.sock", "busybox:1", ("sws-proxy-1", "sws-proxy-2"))
SWARM_KEYS = {
    "sws_service_executor",
    "sws_service_manager_socket",
    "sws_service_volume_node",
    "sws_service_probe_image",
    "sws_service_edge_proxies",
}


def service(name="web", generation=2, status="pending", applied=0, replicas=None, **extra):
    spec = {"name": name, "port": 8080, "domain": f"{name}.test", "image": "img:1", "env": []}
    spec.update(extra)
    if replicas is not None:
        spec["replicas"] = replicas
    return desired_from_row(
        name, f"{name}.test", spec, f"d{generation}", generation, applied, status
    )


# --- the setting ---------------------------------------------------------------------------


def test_the_executor_is_off_unless_the_section_turns_it_on():
    assert swarm_settings(SECTION, "x").executor is False
    assert swarm_settings({**SECTION, "executor": True}, "x").executor is True
    assert config_from_mapping(URL).swarm_executor is False
    assert config_from_mapping({**URL, "swarm": SECTION}).swarm_executor is False
    on = config_from_mapping({**URL, "swarm": {**SECTION, "executor": True}})
    assert on.swarm_executor is True


@pytest.mark.parametrize("value", ["yes", 1, "true", None])
def test_an_executor_that_is_no_boolean_is_refused_naming_the_key(value):
    with pytest.raises(SwarmSettingError, match="swarm.executor must be true or false"):
        swarm_settings({**SECTION, "executor": value}, "agent.yml")


# --- the host variables ----------------------------------------------------------------------


def test_one_host_renders_exactly_as_before_the_executor():
    web = service()
    assert not SWARM_KEYS & set(service_vars(web))
    assert service_vars(web) == service_vars(web, swarm=None)
    assert swarm_target(config_from_mapping({**URL, "swarm": SECTION}), {}) is None


def test_the_swarm_variables_name_the_manager_the_probe_the_proxies_and_the_node():
    found = service_vars(service(), swarm=TARGET)
    assert found["sws_service_executor"] == "swarm"
    assert found["sws_service_manager_socket"] == "/run/m.sock"
    assert found["sws_service_probe_image"] == "busybox:1"
    assert found["sws_service_edge_proxies"] == ["sws-proxy-1", "sws-proxy-2"]
    assert found["sws_service_volume_node"] == ""
    # The retire leaves the current generation's service, named as swarmspec names it.
    assert found["sws_service_keep"] == "sws-svc-web-g2"
    assert found["sws_service_image"] == "img:1"  # everything a deploy reads stays


def test_the_recorded_volume_node_is_rendered_back():
    target = SwarmTarget(**{**TARGET.__dict__, "volume_nodes": {"db": "node-2"}})
    db = service("db", volumeMount="/data")
    assert service_vars(db, swarm=target)["sws_service_volume_node"] == "node-2"
    assert service_vars(service("web"), swarm=target)["sws_service_volume_node"] == ""


def test_retire_names_each_generation_service_once_and_keeps_the_serving_one():
    retire = ["sws-svc-web-g1", "sws-svc-web-g1", "sws-svc-web-g1"]
    found = service_vars(service(), keep="sws-svc-web-g2", retire=retire, swarm=TARGET)
    assert found["sws_service_retire_containers"] == ["sws-svc-web-g1"]
    assert found["sws_service_keep"] == "sws-svc-web-g2"


def test_deleted_and_orphaned_services_get_the_swarm_variables_but_no_keep():
    deleting = service(status="deleting")
    gone = service_vars(deleting, retire=["sws-svc-web-g2", "sws-svc-web-g2"], swarm=TARGET)
    assert gone["sws_service_state"] == "absent" and gone["sws_service_executor"] == "swarm"
    assert gone["sws_service_retire_containers"] == ["sws-svc-web-g2"]
    assert "sws_service_keep" not in gone
    orphan = orphan_vars("ghost", ["sws-svc-ghost-g4"], TARGET)
    assert orphan["sws_service_executor"] == "swarm" and "sws_service_keep" not in orphan
    assert orphan_vars("ghost", ["x"]) == orphan_vars("ghost", ["x"], None)
    assert not SWARM_KEYS & set(orphan_vars("ghost"))


def test_the_inventory_passes_the_target_to_every_service_host():
    inv = inventory([service()], NAMES, orphans=["ghost"], swarm=TARGET)
    hosts = inv["_meta"]["hostvars"]
    assert hosts["sws-svc-web"]["sws_service_executor"] == "swarm"
    assert hosts["sws-svc-ghost"]["sws_service_executor"] == "swarm"
    assert "sws_service_executor" not in hosts[NAMES.proxies[0]]


def test_the_generation_service_is_named_as_swarmspec_names_it():
    container = collection.module_utils("container")
    swarmspec = collection.module_utils("swarmspec")
    made = container.ServiceContainer(
        container="sws-svc-web-3",
        service="web",
        generation=3,
        digest="d",
        domain="web.test",
        port=8080,
        image="img:1",
        network="sws-services",
        label_prefix="sws",
        owner="alice",
        containment="c1",
        stop_timeout=10,
    )
    assert TARGET.generation_service("web", 3) == swarmspec.SwarmGeneration(made).name
    assert swarm_vars(TARGET, "web", generation=3)["sws_service_keep"] == "sws-svc-web-g3"


# --- the manager's documents as containers -------------------------------------------------


def swarm_service(name="web", generation=2, digest="d2", domain="web.test", volume=False):
    labels = {
        "sws.service": name,
        "sws.generation": str(generation),
        "sws.spec-digest": digest,
        "sws.port": "8080",
        "sws.containment": "c1",
        "sws.owner": "alice",
    }
    if domain:
        labels["sws.domain"] = domain
    mounts = [{"Type": "volume", "Source": f"{name}-volume", "Target": "/data"}] if volume else []
    return {
        "ID": f"id-{name}-{generation}",
        "Spec": {
            "Name": f"sws-svc-{name}-g{generation}",
            "Labels": labels,
            "TaskTemplate": {"ContainerSpec": {"Image": "img:1", "Mounts": mounts}},
        },
    }


def task(owner, slot, address, state="running", desired="running", network=None, node="n1"):
    network = network or f"sws-edge-{owner['Spec']['Labels']['sws.service']}"
    return {
        "ID": f"t-{owner['ID']}-{slot}-{state}",
        "ServiceID": owner["ID"],
        "NodeID": node,
        "Slot": slot,
        "DesiredState": desired,
        "Status": {"State": state},
        "NetworksAttachments": [
            {"Network": {"Spec": {"Name": "ingress"}}, "Addresses": ["10.0.0.9/24"]},
            {"Network": {"Spec": {"Name": network}}, "Addresses": [f"{address}/24"]},
        ],
    }


def node(node_id, hostname, state="ready", availability="active"):
    return {
        "ID": node_id,
        "Description": {"Hostname": hostname},
        "Status": {"State": state},
        "Spec": {"Availability": availability},
    }


def test_each_running_task_is_a_container_named_for_its_generation_service():
    web = swarm_service()
    tasks = [
        task(web, 1, "10.1.0.3"),
        task(web, 2, "10.1.0.4"),
        task(web, 3, "10.1.0.5", state="failed", desired="shutdown"),
        task(web, 2, "10.1.0.6", state="running", desired="shutdown"),  # being replaced
    ]
    found = containers_from_tasks([web], tasks)
    assert [(c.name, c.replica, c.ip, c.running) for c in found] == [
        ("sws-svc-web-g2", 1, "10.1.0.3", True),
        ("sws-svc-web-g2", 2, "10.1.0.4", True),
    ]
    first = found[0]
    assert (first.service, first.generation, first.digest, first.domain, first.port) == (
        "web",
        2,
        "d2",
        "web.test",
        8080,
    )
    assert first.containment == "c1"


def test_the_route_gets_every_running_tasks_address_and_nothing_redeploys():
    web = swarm_service()
    found = containers_from_tasks([web], [task(web, 1, "10.1.0.3"), task(web, 2, "10.1.0.4")])
    desired = [service(generation=2, status="running", applied=2, replicas=2)]
    serving = choose_serving(desired, found, set())
    (route,) = routes_for(serving, desired, found)
    assert route.addresses == ("10.1.0.3", "10.1.0.4")
    assert plan_deploys(desired, found).deploy == []


def test_a_generation_without_a_running_task_is_retired_like_a_stopped_container():
    old, new = swarm_service(generation=1, digest="d1"), swarm_service()
    found = containers_from_tasks([old, new], [task(new, 1, "10.1.0.3")])
    assert [(c.name, c.running) for c in found] == [
        ("sws-svc-web-g1", False),
        ("sws-svc-web-g2", True),
    ]
    desired = [service(generation=2, status="running", applied=2)]
    cleanup = plan_cleanup(desired, found, choose_serving(desired, found, set()), set())
    assert cleanup.containers == {"web": ["sws-svc-web-g1"]}
    assert cleanup.retire == {"web": "sws-svc-web-g2"}


def test_a_private_service_is_reached_on_its_first_overlay():
    api = swarm_service("api", domain="")
    found = containers_from_tasks([api], [task(api, 1, "10.2.0.7", network="sws-stack-a")])
    assert found[0].ip == "10.2.0.7" and found[0].domain == ""


def test_services_without_a_generation_label_are_not_sws_generations():
    report = {"ID": "r", "Spec": {"Name": "sws-node-report", "Labels": {"sws.node-report": "x"}}}
    assert containers_from_tasks([report], []) == []


def test_a_volume_node_is_the_hostname_of_its_services_running_task():
    db, web = swarm_service("db", volume=True), swarm_service()
    tasks = [task(db, 1, "10.3.0.2", node="n2"), task(web, 1, "10.1.0.2", node="n1")]
    nodes = [node("n1", "manager"), node("n2", "worker-1")]
    assert volume_nodes_seen([db, web], tasks, nodes, "sws") == {"db": "worker-1"}
    waiting = task(db, 1, "10.3.0.2", state="pending", node="n2")
    assert volume_nodes_seen([db], [waiting], nodes, "sws") == {}


def test_a_recorded_node_down_or_gone_strands_its_service_naming_the_node():
    recorded = {"db": VolumeNode("worker-1"), "cache": VolumeNode("worker-9")}
    problems = node_problems(recorded, [node("n2", "worker-1", state="down")])
    assert problems == {
        "db": "node worker-1 that holds the volume is down",
        "cache": "node worker-9 that holds the volume is not in the swarm",
    }
    seen = SwarmSeen(recorded=recorded, node_problems=problems)
    db = service("db", status="running", applied=2)
    assert stranded(seen, [db], []) == {"db": (2, problems["db"])}
    # A task that still runs there serves on; a deleted service is not failed.
    running = containers_from_tasks(
        [swarm_service("db")], [task(swarm_service("db"), 1, "1.2.3.4")]
    )
    assert stranded(seen, [db], running) == {}
    assert stranded(seen, [service("db", status="deleting")], []) == {}


def test_a_service_failed_for_its_node_is_tried_again_once_the_node_is_back():
    why = "node worker-1 that holds the volume is down"
    failed = {"db": VolumeNode("worker-1", "failed", why)}
    assert SwarmSeen(recorded=failed).node_back() == {"db"}
    assert SwarmSeen(recorded=failed, node_problems={"db": why}).node_back() == set()
    other = {"db": VolumeNode("worker-1", "failed", "the image is missing")}
    assert SwarmSeen(recorded=other).node_back() == set()
    seen = SwarmSeen(recorded={"db": VolumeNode("w1")}, first_nodes={"web": "w2"})
    assert seen.volume_nodes() == {"db": "w1", "web": "w2"}


# --- the plan ----------------------------------------------------------------------------


def observation(desired, swarm=None):
    return Observation(
        desired=desired,
        plane={},
        containers=[],
        proxies=[],
        stops=removals.Stops(),
        volumes=set(),
        registry_auth={},
        edge=None,
        attempts={},
        orphans_seen={},
        now=0.0,
        stack_networks={},
        subnets_taken=[],
        disk=diskspace.DiskSpace(),
        unmounted=[],
        swarm=swarm,
    )


def test_the_plan_never_deploys_a_service_whose_node_is_lost_and_retries_it_once_back():
    # No proxies: the plan's routes and control plane are not what this looks at.
    bare = {**URL, "names": {"proxies": []}}
    config = config_from_mapping({**bare, "swarm": {**SECTION, "executor": True}})
    why = "node worker-2 that holds the volume is down"
    db = service("db", status="failed", volumeMount="/data")
    web = service("web")
    lost = SwarmSeen(
        recorded={"db": VolumeNode("worker-2", "failed", why)}, node_problems={"db": why}
    )
    assert [s.name for s in plan_pass(config, observation([db, web], lost)).deploys.deploy] == [
        "web"
    ]
    back = SwarmSeen(recorded={"db": VolumeNode("worker-2", "failed", why)})
    deploys = plan_pass(config, observation([db, web], back)).deploys.deploy
    assert [s.name for s in deploys] == ["db", "web"]
    # Without the executor a failed service waits for its retries, as before.
    host = config_from_mapping(bare)
    assert [s.name for s in plan_pass(host, observation([db, web])).deploys.deploy] == ["web"]


def test_the_swarm_retire_result_reaches_the_run_result_as_the_host_retire_does():
    # _forget_deleted reads RunResult.retired: without it a deleted service took a second pass.
    def ok(action: str, res: dict) -> dict:
        data = {"host": f"sws-svc-{action}", "task_action": f"sws.host.{action}", "res": res}
        return {"event": "runner_on_ok", "event_data": data}

    gone = {"gone": ["sws-svc-web-g1"], "absent": [], "changed": True}
    events = [ok("swarm_retire", gone), ok("swarm_generation", {"gone": ["x"]})]
    result = result_from_events(0, "successful", events)
    assert result.retired == {"sws-svc-swarm_retire": gone}


def test_only_the_own_overlays_of_services_no_longer_wanted_are_swept():
    """A retire does not wait for its tasks, so a deleted service's edge or private overlay
    may outlive it: a later pass removes it, never one a generation or a wanted service uses."""
    generation = {"ID": "s1", "Spec": {"Name": "sws-svc-web-g1", "Labels": {"sws.service": "web"}}}
    overlays = [
        {"Name": "sws-edge-web", "Labels": {"sws.service": "web"}},
        {"Name": "sws-edge-gone", "Labels": {"sws.service": "gone"}},
        {"Name": "sws-private-next", "Labels": {"sws.service": "next"}},
        {"Name": "other", "Labels": {}},
    ]
    view = ManagerView([generation], [], [], overlays)
    found = orphan_overlays(view, "sws")
    assert found == {"sws-edge-gone": "gone", "sws-private-next": "next"}
    # "next" is wanted (its first deploy is this pass): its overlay stays.
    assert SwarmSeen(overlays=found).idle_overlays({"web", "next"}) == ["sws-edge-gone"]
