"""A generation as a swarm service (issue 28), pure: the service spec swarmspec.py makes of a
ServiceContainer, and what swarmtasks.py reads from the manager's tasks and nodes."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swsagent import collection

container = collection.module_utils("container")
swarmspec = collection.module_utils("swarmspec")
swarmtasks = collection.module_utils("swarmtasks")

BASE = dict(
    container="sws-svc-web-3",
    service="web",
    generation=3,
    digest="d1",
    domain="web.test",
    port=8080,
    image="registry.test/web:1",
    owner="alice",
    containment="v2",
    network="sws-services",
    label_prefix="sws",
    stop_timeout=10,
)


def generation(node: str = "", **extra):
    return swarmspec.SwarmGeneration(container.ServiceContainer(**{**BASE, **extra}), node=node)


def test_the_service_is_named_for_its_generation_and_carries_the_containers_labels():
    spec = generation().spec()
    assert spec["Name"] == "sws-svc-web-g3"
    wanted = {
        "sws.service": "web",
        "sws.generation": "3",
        "sws.spec-digest": "d1",
        "sws.domain": "web.test",
        "sws.port": "8080",
        "sws.containment": "v2",
        "sws.owner": "alice",
    }
    assert spec["Labels"] == wanted
    assert spec["TaskTemplate"]["ContainerSpec"]["Labels"] == wanted


def test_dnsrr_on_the_services_edge_overlay_with_no_published_port():
    spec = generation().spec()
    assert spec["EndpointSpec"] == {"Mode": "dnsrr"}
    assert spec["TaskTemplate"]["Networks"] == [{"Target": "sws-edge-web"}]
    assert generation().overlays() == {"sws-edge-web": {"sws.service": "web", "sws.owner": "alice"}}


def test_a_stack_service_joins_its_stacks_overlay_under_its_own_name():
    g = generation(stack_network="sws-stack.alice.shop")
    assert g.spec()["TaskTemplate"]["Networks"] == [
        {"Target": "sws-edge-web"},
        {"Target": "sws-stack.alice.shop", "Aliases": ["web"]},
    ]
    assert set(g.overlays()) == {"sws-edge-web", "sws-stack.alice.shop"}
    # No domain: no edge overlay; readiness is checked on the stack's.
    internal = generation(domain="", stack_network="sws-stack.alice.shop")
    assert internal.edge_network == "" and internal.probe_network == "sws-stack.alice.shop"
    assert internal.private_network == ""


def test_a_service_with_neither_domain_nor_stack_gets_an_overlay_of_its_own():
    # Readiness is probed on it as on the edge overlay: the port answers, not merely a task.
    alone = generation(domain="")
    assert alone.edge_network == "" and alone.probe_network == "sws-private-web"
    assert alone.spec()["TaskTemplate"]["Networks"] == [{"Target": "sws-private-web"}]
    assert alone.overlays() == {"sws-private-web": {"sws.service": "web", "sws.owner": "alice"}}


def test_contained_as_a_container_is_capabilities_limits_init_stop_grace():
    g = generation(memory=2**28, cpus="0.25", pids=64, capabilities=("CHOWN", "SETUID"), init=True)
    template = g.spec()["TaskTemplate"]
    spec = template["ContainerSpec"]
    assert spec["CapabilityDrop"] == ["ALL"] and spec["CapabilityAdd"] == ["CHOWN", "SETUID"]
    assert spec["Init"] is True and spec["StopGracePeriod"] == 10 * 10**9
    assert template["Resources"] == {
        "Limits": {"NanoCPUs": 250_000_000, "MemoryBytes": 2**28, "Pids": 64}
    }
    assert template["LogDriver"] == {
        "Name": "json-file",
        "Options": {"max-size": "10m", "max-file": "2"},
    }
    assert template["RestartPolicy"]["Condition"] == "any"
    assert "Init" not in generation().spec()["TaskTemplate"]["ContainerSpec"]


def test_replicas_as_asked_without_a_volume():
    assert generation(replicas=3).spec()["Mode"] == {"Replicated": {"Replicas": 3}}
    assert generation().spec()["TaskTemplate"]["Placement"] == {"Constraints": []}


def test_a_volume_means_one_task_pinned_to_the_node_that_holds_it():
    g = generation(node="node-2", volume_mount="/data", replicas=3)
    spec = g.spec()
    assert g.stateful and spec["Mode"] == {"Replicated": {"Replicas": 1}}
    assert spec["TaskTemplate"]["Placement"] == {"Constraints": ["node.hostname==node-2"]}
    assert spec["TaskTemplate"]["ContainerSpec"]["Mounts"] == [
        {
            "Type": "volume",
            "Source": "web-volume.alice",  # the owner in the name: another never gets it
            "Target": "/data",
            "VolumeOptions": {"Labels": {"sws.service": "web", "sws.owner": "alice"}},
        }
    ]


def test_a_volumes_first_deploy_without_a_node_is_one_task_the_swarm_places():
    spec = generation(volume_mount="/data", replicas=3).spec()
    assert spec["Mode"] == {"Replicated": {"Replicas": 1}}
    assert spec["TaskTemplate"]["Placement"] == {"Constraints": []}


KEYS = st.text(st.characters(blacklist_characters="=\0"), min_size=1, max_size=20)
VALUES = st.text(st.characters(blacklist_characters="\0"), max_size=60)


@given(st.dictionaries(KEYS, VALUES, max_size=6))
def test_env_arrives_literally_whatever_its_keys_and_values_hold(env):
    spec = generation(env=env).spec()
    # What the engine gets is JSON: each entry splits at its first '=' into the key and the
    # value as written (no shell, no expansion, quotes and newlines kept).
    sent = json.loads(json.dumps(spec))["TaskTemplate"]["ContainerSpec"]["Env"]
    assert dict(entry.split("=", 1) for entry in sent) == env
    assert len(sent) == len(env)


def test_overlays_are_attachable_and_labelled():
    body = swarmspec.overlay_body("sws-edge-web", {"sws.service": "web"})
    assert body["Driver"] == "overlay" and body["Attachable"] is True
    assert body["Labels"] == {"sws.service": "web"} and body["CheckDuplicate"] is True


def task(state, desired="running", err="", node="n1", address="10.0.1.5/24", net="sws-edge-web"):
    return {
        "ID": f"t-{state}-{address}",
        "NodeID": node,
        "DesiredState": desired,
        "Status": {"State": state, "Err": err, "Timestamp": "2026-12-06T20:00:00Z"},
        "NetworksAttachments": [{"Network": {"Spec": {"Name": net}}, "Addresses": [address]}],
    }


def test_running_addresses_are_on_the_asked_overlay_of_tasks_meant_to_run():
    tasks = [
        task("running"),
        task("running", address="10.0.1.6/24"),
        task("running", desired="shutdown", address="10.0.1.7/24"),
        task("starting", address="10.0.1.8/24"),
        task("running", address="10.0.9.9/24", net="other"),
    ]
    assert sorted(swarmtasks.running_addresses(tasks, "sws-edge-web").values()) == [
        "10.0.1.5",
        "10.0.1.6",
    ]


def test_a_failure_is_named_once_more_tasks_failed_than_a_start_may_take():
    names = {"n1": "node-1"}
    failed = [task("rejected", err="No such image: x:1", address=f"10.0.1.{i}/24") for i in (1, 2)]
    assert swarmtasks.failure(failed, names) is None
    failed.append(task("failed", err="task: non-zero exit (3)", address="10.0.1.3/24"))
    message = swarmtasks.failure(failed, names)
    assert message.startswith("3 tasks failed; the last ") and "on node node-1" in message


def test_a_task_that_cannot_be_placed_says_why():
    pending = task("pending", err="no suitable node (scheduling constraints not satisfied)")
    assert "no suitable node" in swarmtasks.waiting_error([pending, task("running")])
    assert swarmtasks.waiting_error([task("pending"), task("running")]) is None


def node(hostname, state="ready", availability="active"):
    return {
        "ID": hostname,
        "Description": {"Hostname": hostname},
        "Status": {"State": state},
        "Spec": {"Availability": availability},
    }


@pytest.mark.parametrize(
    ("nodes", "words"),
    [
        ([node("node-2")], None),
        ([node("node-2", state="down")], "node node-2 that holds the volume is down"),
        ([node("node-2", availability="drain")], "node node-2 that holds the volume is "),
        ([node("node-2", availability="pause")], "is unavailable (pause)"),
        ([node("node-1")], "node node-2 that holds the volume is not in the swarm"),
    ],
)
def test_the_node_that_holds_the_volume_is_named_when_it_cannot_run_it(nodes, words):
    problem = swarmtasks.node_problem(nodes, "node-2")
    assert problem == words if words is None else words in problem


@pytest.mark.parametrize(
    ("nodes", "words"),
    [
        ([node("node-2")], None),
        ([node("node-2", state="down")], "node node-2 that holds the volume is down"),
        ([node("node-2", availability="drain")], None),  # a drained node still ends its tasks
        ([node("node-1")], None),  # a node gone from the swarm runs nothing of it
    ],
)
def test_a_volumes_task_is_held_only_while_its_node_is_down(nodes, words):
    assert swarmtasks.unreachable(nodes, "node-2") == words
