"""What a swarm test module leaves on the manager, removed at its end: the generation
services whose names start with a prefix (each waited for until its tasks are gone), then
the networks whose names start with another (the services' overlays, a stack's)."""

from __future__ import annotations

from swsagent import collection


def remove(engine, services: str, networks: str | tuple[str, ...]) -> None:
    generations = collection.module_utils("swarmgeneration")
    for found in engine.call("GET", "/services"):
        if found["Spec"]["Name"].startswith(services):
            generations.retire(engine, found["Spec"]["Name"])
    for network in engine.networks():
        if network["Name"].startswith(networks):
            engine.remove_network(network["Name"])
