"""spec.replicas (issue 28) on the single host: a pass against a real store, a real Docker
engine and real ansible-runner, with test_agent_pass.py's throwaway label prefix and network.

A generation's replicas are containers beside each other, contained, labelled and networked
alike; every one answers; a scale down is a new generation that retires every replica of the
old one; a replica that died and that Docker did not start again shows in running/desired
(the log shipper's count) until the next pass starts it again. The update under load through
HAProxy and nginx is test_replicas_chain.py's.
"""

from __future__ import annotations

import requests

from swsagent.logship import Shipper
from swsagent.logstore import ShipperSettings
from tests.integration import test_agent_pass as agent_pass
from tests.integration.test_agent_pass import (
    LABELS,
    docker,
    inspect,
    one_pass,
    passes_until_settled,
)

# test_agent_pass.py's fixtures: the engine lock, its image, a throwaway network, the store
# with alice, the agent's config for them, the clean-up of the label prefix's containers.
engine_lock = agent_pass.engine_lock
hello_image = agent_pass.hello_image
network = agent_pass.network
store = agent_pass.store
config = agent_pass.config
clean_services = agent_pass.clean_services

NAMES = ("sws-svc-trio-1", "sws-svc-trio-1-r2", "sws-svc-trio-1-r3")


def apply(store, name, image, replicas=None):
    spec = {"name": name, "port": 8080, "domain": f"{name}.test", "image": image, "env": []}
    if replicas is not None:
        spec["replicas"] = replicas
    store.apply("alice", spec)


def counts(store, name) -> tuple:
    """(status, replicas_running, applied generation) of the service's row."""
    with store.conn.cursor() as cur:
        cur.execute(
            "SELECT status, replicas_running, applied_generation FROM services WHERE name = %s",
            (name,),
        )
        found = cur.fetchone()
    store.conn.commit()
    return found


def ours(service: str) -> list[str]:
    """The names of the service's containers on the engine, sorted."""
    listed = docker(
        "ps", "-a", "--format", "{{.Names}}", "--filter", f"label={LABELS}.service={service}"
    )
    return sorted(listed.split())


def hostname_of(container: str, network: str) -> str:
    ip = inspect(container)["NetworkSettings"]["Networks"][network]["IPAddress"]
    return requests.get(f"http://{ip}:8080/", timeout=5).json()["hostname"]


def test_three_replicas_run_side_by_side_alike_and_answer_each(config, store, hello_image, network):
    apply(store, "trio", hello_image, replicas=3)
    report = one_pass(config, store.conn)
    assert report.changed["deployed"] == ["trio"], report.summary()
    assert counts(store, "trio") == ("running", 3, 1)
    assert ours("trio") == sorted(NAMES)
    details = [inspect(name) for name in NAMES]
    labels = [d["Config"]["Labels"] for d in details]
    assert [lab[f"{LABELS}.replica"] for lab in labels] == ["1", "2", "3"]
    # The same generation, spec, containment, env and network: only the replica differs.
    same = [{k: v for k, v in lab.items() if k != f"{LABELS}.replica"} for lab in labels]
    assert same[0] == same[1] == same[2]
    assert len({tuple(d["Config"]["Env"]) for d in details}) == 1
    hosts = [d["HostConfig"] for d in details]
    assert all(h["CapDrop"] == ["ALL"] and h["Memory"] == hosts[0]["Memory"] for h in hosts)
    assert all(list(d["NetworkSettings"]["Networks"]) == [network] for d in details)
    # Each replica answers, each its own container.
    assert len({hostname_of(name, network) for name in NAMES}) == 3
    assert one_pass(config, store.conn).outcome == "noop"


def test_scaling_down_is_a_new_generation_that_retires_every_older_replica(
    config, store, hello_image, network
):
    apply(store, "trio", hello_image, replicas=3)
    one_pass(config, store.conn)
    apply(store, "trio", hello_image, replicas=1)
    changed = passes_until_settled(config, store.conn)
    assert changed["deployed"] == ["trio"] and changed["retired"] == ["trio"]
    assert ours("trio") == ["sws-svc-trio-2"]
    assert counts(store, "trio") == ("running", 1, 2)


def test_a_killed_replica_shows_in_running_then_the_next_pass_starts_it(
    config, store, hello_image, network, database_url
):
    apply(store, "trio", hello_image, replicas=3)
    one_pass(config, store.conn)
    # A kill is a stop to Docker: no restart policy brings it back.
    docker("kill", NAMES[1])
    shipper = Shipper(ShipperSettings(database_url, label_prefix=LABELS))
    try:
        shipper.record_restarts(shipper.docker.containers(f"{LABELS}.service"))
    finally:
        shipper._close()
    assert counts(store, "trio") == ("running", 2, 1)
    report = one_pass(config, store.conn)
    assert report.changed["deployed"] == ["trio"], report.summary()
    assert inspect(NAMES[1])["State"]["Running"]
    assert counts(store, "trio") == ("running", 3, 1)
    assert ours("trio") == sorted(NAMES)  # the same generation: nothing was replaced


def test_one_replica_is_the_one_container_it_always_was(config, store, hello_image, network):
    apply(store, "solo", hello_image)  # no replicas: 1 (replicas: 1 is the scale-down's)
    one_pass(config, store.conn)
    assert ours("solo") == ["sws-svc-solo-1"]
    assert counts(store, "solo") == ("running", 1, 1)
