"""The role sws_service with sws_service_executor 'swarm' (issue 28), run as the agent runs it
(swsagent/runner.py run_playbook: ansible-runner, the playbook beside the collection, the
roles path) against the session's 3-node fixture: a 2-replica generation whose addresses the
deploy registers and an edge nginx, attached by the plugin, reaches; a second generation and
the first retired by the retire branch, then the same run again changing nothing; a volume
service's first task placed by the swarm and its node reported, then kept; a missing image
failing in the engine's words and leaving nothing; edge proxies that cannot join refused.

Everything lives in the fixture's engines and goes at the end of the module.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from swsagent import collection
from swsagent.runner import PlaybookRun, RunResult, run_playbook
from tests.swarm import leftovers
from tests.swarm.test_generations import HELLO, NGINX, Proxy, ensure_images, node_address

engine_api = collection.engine()
generations = collection.module_utils("swarmgeneration")
swarmtasks = collection.module_utils("swarmtasks")

ROOT = Path(__file__).resolve().parents[2]
SERVICE = "swr-web"
HOST = f"sws-svc-{SERVICE}"
# A deploy and a retire, as reconcile.yml includes them (its other plays need a whole host).
PLAYBOOK = [
    {
        "name": "Deploy the service",
        "hosts": "services",
        "gather_facts": False,
        "tasks": [
            {
                "name": "Deploy the service",
                "ansible.builtin.include_role": {"name": "sws_service", "tasks_from": "deploy"},
            }
        ],
    },
    {
        "name": "Retire what no longer serves",
        "hosts": "services",
        "gather_facts": False,
        "tasks": [
            {
                "name": "Retire the older generations",
                "ansible.builtin.include_role": {"name": "sws_service", "tasks_from": "retire"},
            }
        ],
    },
]


@dataclass
class Run:
    result: RunResult
    deploy: dict  # swarm_generation's result (registered as sws_service_readiness)
    retire: dict  # swarm_retire's
    seconds: float


class Role:
    """Runs the playbook above through run_playbook in a home of its own whose playbooks/
    holds it beside the real collection and ansible.cfg (run_playbook runs home/playbooks)."""

    def __init__(self, swarm, home: Path, proxy: str):
        self.swarm, self.home, self.proxy = swarm, home, proxy
        (home / "playbooks").mkdir(parents=True)
        for name in ("collections", "ansible.cfg"):
            (home / "playbooks" / name).symlink_to(ROOT / "playbooks" / name)
        (home / "roles").symlink_to(ROOT / "roles")
        (home / "playbooks" / "swrole.yml").write_text(yaml.safe_dump(PLAYBOOK, sort_keys=False))

    def host_vars(self, generation: int, **extra) -> dict:
        values = {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "sws_service_executor": "swarm",
            "sws_service_manager_socket": self.swarm.manager_socket,
            "sws_service_volume_node": "",
            "sws_service_probe_image": self.swarm.report_image,
            "sws_service_edge_proxies": [self.proxy],
            "sws_service_name": SERVICE,
            "sws_service_generation": generation,
            "sws_service_container": f"sws-svc-{SERVICE}-{generation}",
            "sws_service_replicas": 2,
            "sws_service_digest": f"digest-{generation}",
            "sws_service_domain": "web.swr.test",
            "sws_service_port": 8080,
            "sws_service_image": HELLO,
            "sws_service_owner": "alice",
            "sws_service_containment": "v2",
            "sws_service_env": {"GREETING": f"gen{generation}"},
            "sws_service_health_path": "/healthz",
            "sws_service_retire_containers": [],
            # What the pass gives every run (playbooks/vars/pass.yml).
            "sws_service_network": "unused-on-swarm",
            "sws_service_label_prefix": "sws",
            "sws_service_ready_timeout": 60,
            "sws_service_stop_timeout": 2,
            "sws_service_stop_wait": 5,
            "sws_service_retire_slots_dir": str(self.home / "slots"),
            "sws_service_retire_slots": 4,
        }
        return {**values, **extra}

    def run(self, generation: int, **extra) -> Run:
        inventory = {"all": {"children": {"services": {"hosts": {HOST: {}}}}}}
        inventory["all"]["children"]["services"]["hosts"][HOST] = self.host_vars(
            generation, **extra
        )
        run = PlaybookRun("swrole.yml", yaml.safe_dump(inventory), [HOST])
        started = time.monotonic()
        result = run_playbook(run, self.home, self.home / "state", timeout=300)
        seconds = round(time.monotonic() - started, 1)
        assert result.error is None, result.error
        return Run(
            result,
            self.task_result(result.ident, "swarm_generation"),
            self.task_result(result.ident, "swarm_retire"),
            seconds,
        )

    def task_result(self, ident: str, action: str) -> dict:
        """The task's result as the run's events hold it ({} when it did not run)."""
        events = self.home / "state" / "artifacts" / ident / "job_events"
        for path in sorted(events.glob("*.json")):
            event = json.loads(path.read_text())
            data = event.get("event_data") or {}
            finished = event.get("event") in ("runner_on_ok", "runner_on_failed")
            if finished and str(data.get("task_action", "")).endswith(action):
                return data.get("res") or {}
        return {}


@pytest.fixture(scope="module")
def manager(swarm, joined):
    """The manager's engine, the example app and nginx on every node (loaded only where
    missing: test_generations may have loaded them this session); every service, overlay and
    container of this module goes at its end."""
    engine = engine_api.Engine(swarm.manager_socket, 30)
    ensure_images(swarm, [HELLO], manager=[NGINX])
    yield engine
    engine.remove(f"{swarm.prefix}-swr-edge", force=True)
    leftovers.remove(engine, "sws-svc-swr-", "sws-edge-swr-")


@pytest.fixture(scope="module")
def edge(swarm, manager):
    """The edge nginx on the manager node's bridge network, its upstream a placeholder until
    the deploy's addresses are known: the role attaches it to the edge overlay."""
    proxy = Proxy(manager, f"{swarm.prefix}-swr-edge", node_address(swarm, 1))
    proxy.start("bridge", ["192.0.2.1"])
    return proxy


@pytest.fixture(scope="module")
def role(swarm, edge, tmp_path_factory):
    return Role(swarm, tmp_path_factory.mktemp("swrole"), edge.name)


def answers(proxy: Proxy, count: int) -> list[dict]:
    """`count` answers through the edge, once it answers at all (its reload just happened).
    A request answered otherwise is sent again, at most twice in all, with what nginx logged
    printed: in two of about ten full runs on a loaded machine one request got a 502 right
    after the deploy (never when the module ran alone); the cause is not known, and the
    product's chain under load (test_swarm_chain.py, test_generations.py) fails none."""
    proxy.wait()
    got, again = [], 0
    while len(got) < count:
        try:
            got.append(proxy.get())
        except AssertionError as err:
            again += 1
            host = f"unix://{proxy.engine.path}"
            log = subprocess.run(
                ["docker", "--host", host, "logs", "--tail", "5", proxy.name],
                capture_output=True, text=True,
            )  # fmt: skip
            print(f"\nthe edge answered {err}; nginx logged: {log.stderr.strip()[-800:]}")
            assert again <= 2, f"{again} requests failed through the edge"
    return got


def test_a_deploy_registers_each_tasks_address_and_the_edge_reaches_them(
    swarm, manager, edge, role
):
    first = role.run(1)
    assert first.result.failed == {} and HOST in first.result.ok
    deploy = first.deploy
    assert deploy["changed"] and deploy["service"] == f"sws-svc-{SERVICE}-g1"
    assert len(deploy["addresses"]) == 2 and deploy["address"] == deploy["addresses"][0]
    assert deploy["edge_proxies"] == {edge.name: "connected"}
    networks = manager.inspect(edge.name)["NetworkSettings"]["Networks"]
    assert set(networks) == {"bridge", f"sws-edge-{SERVICE}"}
    assert first.retire["gone"] == [] and first.retire["changed"] is False
    edge.push(deploy["addresses"])
    got = answers(edge, 8)
    assert {a["greeting"] for a in got} == {"gen1"} and len({a["hostname"] for a in got}) == 2
    print(f"\nrole deploy of generation 1 (2 tasks): {first.seconds} s")


def test_a_second_generation_replaces_the_first_and_the_same_run_again_changes_nothing(
    manager, edge, role
):
    older = f"sws-svc-{SERVICE}-g1"
    second = role.run(2, sws_service_retire_containers=[older, f"sws-svc-{SERVICE}-g2"])
    assert second.result.failed == {}, second.result.failed
    assert second.deploy["changed"] and len(second.deploy["addresses"]) == 2
    # Already on the overlay: the proxy stays as it is.
    assert second.deploy["edge_proxies"] == {edge.name: "unchanged"}
    assert second.retire["gone"] == [older]  # never the current generation
    assert generations.service(manager, older) is None
    edge.push(second.deploy["addresses"])
    assert {a["greeting"] for a in answers(edge, 6)} == {"gen2"}

    again = role.run(2, sws_service_retire_containers=[older])
    assert again.result.failed == {}
    assert not again.deploy["changed"] and again.deploy["addresses"] == second.deploy["addresses"]
    assert again.retire["changed"] is False and again.retire["absent"] == [older]
    print(f"\nrole update to generation 2: {second.seconds} s; again: {again.seconds} s")


def test_a_volumes_first_task_is_placed_by_the_swarm_and_its_node_kept_from_then_on(manager, role):
    # Its own service (one task, on an edge overlay of its own; no proxy).
    db = dict(sws_service_volume_mount="/data", sws_service_edge_proxies=[])
    db.update(sws_service_name="swr-db", sws_service_domain="db.swr.test")
    first = role.run(1, **db)
    assert first.result.failed == {}, first.result.failed
    node = first.deploy["node"]
    assert node.startswith(role.swarm.prefix + "-node-") and len(first.deploy["addresses"]) == 1
    # Generation 2 on that node: the plugin finds generation 1 itself and stops it first; the
    # retire branch then removes it.
    older = ["sws-svc-swr-db-g1"]
    second = role.run(2, sws_service_volume_node=node, sws_service_retire_containers=older, **db)
    assert second.result.failed == {}, second.result.failed
    assert second.deploy["node"] == node and second.retire["gone"] == older
    found = generations.service(manager, "sws-svc-swr-db-g2")
    assert found["Spec"]["TaskTemplate"]["Placement"]["Constraints"] == [f"node.hostname=={node}"]
    tasks = generations.service_tasks(manager, found["ID"])
    names = swarmtasks.hostnames(manager.call("GET", "/nodes"))
    assert [names[n] for n in swarmtasks.running_nodes(tasks)] == [node]
    print(f"\nvolume service placed on {node}: {first.seconds} s; moved on: {second.seconds} s")


def test_a_missing_image_fails_the_deploy_in_the_engines_words_and_leaves_nothing(
    swarm, manager, role
):
    broken = role.run(9, sws_service_image="sws-swr-absent:1", sws_service_replicas=1)
    failure = broken.result.failed[HOST]
    assert "generation 9: " in failure.message and "sws-swr-absent" in failure.message
    # The plugin's own words are the host's failure; a failed host reaches no retire.
    assert broken.deploy["msg"] == failure.message and broken.retire == {}
    name = f"sws-svc-{SERVICE}-g9"
    assert generations.service(manager, name) is None
    assert manager.inspect(f"{name}-probe") is None
    assert generations.service(manager, f"sws-svc-{SERVICE}-g2") is not None  # still serves
    print(f"\nrole deploy of a missing image: failed in {broken.seconds} s: {failure.message}")


def test_a_proxy_in_the_hosts_network_is_refused_before_anything_runs(swarm, manager, role):
    name = f"{swarm.prefix}-swr-hostnet"
    body = {"Image": swarm.report_image, "Cmd": ["sleep", "60"]}
    body["HostConfig"] = {"NetworkMode": "host", "AutoRemove": True}
    manager.remove(name, force=True)
    manager.start(manager.create(name, body))
    try:
        refused = role.run(7, sws_service_edge_proxies=[name], sws_service_replicas=1)
    finally:
        manager.remove(name, force=True)
    message = refused.result.failed[HOST].message
    assert f"edge proxy {name} runs in the host's network namespace" in message
    assert generations.service(manager, f"sws-svc-{SERVICE}-g7") is None
    absent = role.run(7, sws_service_edge_proxies=[f"{swarm.prefix}-swr-none"])
    message = absent.result.failed[HOST].message
    assert f"edge proxy {swarm.prefix}-swr-none is not a container" in message
    assert generations.service(manager, f"sws-svc-{SERVICE}-g7") is None
