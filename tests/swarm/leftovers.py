"""What a swarm test module leaves on the manager, removed at its end: the generation
services whose names start with a prefix (each waited for until its tasks are gone), then
the networks whose names start with another (the services' overlays, a stack's)."""

from __future__ import annotations

import time

from swsagent import collection


def remove(engine, services: str, networks: str | tuple[str, ...]) -> None:
    generations = collection.module_utils("swarmgeneration")
    for found in engine.call("GET", "/services"):
        if found["Spec"]["Name"].startswith(services):
            generations.retire(engine, found["Spec"]["Name"])
    engine_api = collection.engine()
    for network in engine.networks():
        if network["Name"].startswith(networks):
            _remove_network(engine_api, engine, network["Name"])


def _remove_network(engine_api, engine, name: str, seconds: float = 15.0) -> None:
    """A removal under way is still listed a moment (404); a task just gone may still hold
    the network a moment ("in use by task"). One still held after that is left and shown:
    the fixture's `down` takes the whole swarm (test_swarm_pass.py says what held one)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            engine.remove_network(name)
            return
        except engine_api.EngineError as err:
            if err.status == 404:
                return
            if "in use" not in str(err):
                raise
            if time.monotonic() > deadline:
                print(f"\nleft on the manager: network {name}: {err}")
                return
        time.sleep(0.5)
