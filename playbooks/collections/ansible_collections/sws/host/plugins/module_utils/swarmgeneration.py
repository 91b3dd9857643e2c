"""Run a service's generation on the swarm through the manager's Engine API (engine.py): its
overlays, its swarm service, the wait until each of its tasks answers, and the retirement of
an older generation. What container.py and readiness.py do for containers on one host.

The caller switches the route: deploy() returns the new tasks' addresses on the edge overlay
(the route's upstream servers); retire() removes the older generation once the proxies no
longer send to it. A service with a volume is not blue/green: its older generation stops
first, and starts again when the new one fails.
"""

from __future__ import annotations

import json
import time
from urllib.parse import quote

from ansible_collections.sws.host.plugins.module_utils import swarmtasks
from ansible_collections.sws.host.plugins.module_utils.engine import Engine, EngineError
from ansible_collections.sws.host.plugins.module_utils.swarmspec import (
    SwarmGeneration,
    overlay_body,
)

# How long a task may wait with an error (no suitable node, an image no node can pull)
# before the deploy fails: the scheduler retries, but nothing changes without the operator.
STUCK_SECONDS = 5.0
POLL_SECONDS = 0.25
PROBE_ATTACH_TRIES = 10


class GenerationFailed(RuntimeError):
    """Why the generation could not run (a short reason for the service's message)."""


def service(engine: Engine, name: str) -> dict | None:
    try:
        return engine.call("GET", f"/services/{quote(name)}")
    except EngineError as err:
        if err.status == 404:
            return None
        raise


def service_tasks(engine: Engine, service_id: str) -> list[dict]:
    """Every task of the service, by its ID. Once the service is removed the engine refuses
    it as a filter (404), while its tasks may still be shutting down: every task is read."""
    try:
        filters = json.dumps({"service": [service_id]})
        tasks = engine.call("GET", "/tasks", params={"filters": filters})
    except EngineError as err:
        if err.status != 404:
            raise
        tasks = engine.call("GET", "/tasks")
    return [t for t in tasks or [] if t.get("ServiceID") == service_id]


def older(engine: Engine, generation: SwarmGeneration) -> tuple[str, ...]:
    """The service's other generations on the swarm (services labelled as the service's),
    by name: a volume's are stopped first."""
    c = generation.container
    filters = json.dumps({"label": [f"{c.label_prefix}.service={c.service}"]})
    found = engine.call("GET", "/services", params={"filters": filters}) or []
    return tuple(sorted(s["Spec"]["Name"] for s in found if s["Spec"]["Name"] != generation.name))


def task_node(engine: Engine, name: str) -> str:
    """The hostname of the node a running task of the service is on ("" when none runs):
    where a volume's first task was placed, so the volume's node from then on."""
    found = service(engine, name)
    tasks = service_tasks(engine, found["ID"]) if found else []
    nodes = swarmtasks.running_nodes(tasks)
    return swarmtasks.hostnames(engine.call("GET", "/nodes")).get(nodes[0], "") if nodes else ""


def ensure_overlay(engine: Engine, name: str, labels: dict[str, str]) -> str:
    """The attachable overlay, made once with its labels; created or unchanged. One that
    exists as something else, or for another owner, is refused, never joined."""
    try:
        found = engine.call("GET", f"/networks/{quote(name)}")
    except EngineError as err:
        if err.status != 404:
            raise
        found = None
    if found is None:
        try:
            engine.call("POST", "/networks/create", body=overlay_body(name, labels))
        except EngineError as err:
            if err.status != 409:  # made by a pass at the same moment: the same network
                raise
            return "unchanged"
        return "created"
    owner = [k for k in labels if k.endswith(".owner")]
    theirs = found.get("Labels") or {}
    if found.get("Driver") != "overlay" or not found.get("Attachable"):
        raise GenerationFailed(f"network {name} exists and is not an attachable overlay")
    if any(theirs.get(k) != labels[k] for k in owner):
        raise GenerationFailed(f"network {name} belongs to another user")
    return "unchanged"


def remove_overlays(engine: Engine, service: str, prefix: str) -> list[str]:
    """A deleted service's own overlays (labelled `<prefix>.service=<service>`: its edge or
    private overlay, never a stack's), once no generation of it is left. Returns the names
    removed; one its stopping tasks still hold stays for a later pass (remove_idle)."""
    return remove_idle(engine, [n["Name"] for n in own_overlays(engine, prefix, service)])


def own_overlays(engine: Engine, prefix: str, service: str = "") -> list[dict]:
    """The services' own overlays (edge, private: labelled `<prefix>.service`, never a
    stack's), or one service's, as GET /networks lists them."""
    label = f"{prefix}.service={service}" if service else f"{prefix}.service"
    filters = json.dumps({"label": [label], "driver": ["overlay"]})
    return engine.call("GET", "/networks", params={"filters": filters}) or []


def remove_idle(engine: Engine, networks: list[str]) -> list[str]:
    """Remove these overlays; the containers still attached on this node (the edge proxies)
    are disconnected first, since an overlay with an endpoint cannot be removed. One a task
    still holds (its retire does not wait for the stop) is left, and so named by none."""
    removed = []
    for name in networks:
        try:
            detail = engine.call("GET", f"/networks/{quote(name)}") or {}
            for container in detail.get("Containers") or {}:
                body = {"Container": container, "Force": True}
                engine.call("POST", f"/networks/{detail['Id']}/disconnect", body=body)
            engine.remove_network(detail["Id"])
        except EngineError:
            continue  # in use by a stopping task, or gone meanwhile: a later pass sees
        removed.append(name)
    return removed


def check_node(engine: Engine, hostname: str) -> None:
    """GenerationFailed naming the node when the node that holds the volume cannot run it."""
    problem = swarmtasks.node_problem(engine.call("GET", "/nodes"), hostname)
    if problem:
        raise GenerationFailed(problem)


def deploy(
    engine: Engine,
    generation: SwarmGeneration,
    probe_image: str,
    timeout: float = 120.0,
    registry_auth: str | None = None,
    older: tuple[str, ...] = (),
    path: str | None = None,
) -> list[str]:
    """Run the generation; its tasks' addresses on the edge overlay once each answers on its
    port (and GET `path` with 2xx/3xx when given). registry_auth: the X-Registry-Auth value
    (imagepull.auth_header) the nodes pull with. older: the service's older generations; a
    stateful service's are stopped first (scaled to 0) and started again if this one fails.
    GenerationFailed says why; nothing of the new generation stays then."""
    if generation.stateful and generation.node:
        check_node(engine, generation.node)
    for name, labels in generation.overlays().items():
        ensure_overlay(engine, name, labels)
    stopped = stop_first(engine, older, timeout) if generation.stateful else []
    try:
        create(engine, generation, registry_auth, timeout)
        return wait_answering(engine, generation, probe_image, timeout, path)
    except (GenerationFailed, EngineError) as err:
        retire(engine, generation.name, timeout)
        for name in stopped:
            scale(engine, name, 1, timeout)
        raise GenerationFailed(f"generation {generation.container.generation}: {err}") from None


def create(engine: Engine, generation: SwarmGeneration, auth: str | None, timeout: float) -> str:
    """Create the generation's service; one of that name with the same labels (a pass cut
    short) is kept, one with others replaced. created, replaced or unchanged."""
    existing = service(engine, generation.name)
    if existing is not None and existing["Spec"].get("Labels") == generation.labels():
        return "unchanged"
    if existing is not None:
        retire(engine, generation.name, timeout)
    headers = {"X-Registry-Auth": auth} if auth else None
    engine.call("POST", "/services/create", body=generation.spec(), headers=headers)
    return "created" if existing is None else "replaced"


def wait_answering(
    engine: Engine, generation: SwarmGeneration, probe_image: str, timeout: float, path=None
) -> list[str]:
    """Poll the generation's tasks until as many as it wants run and each answered."""
    deadline = time.monotonic() + timeout
    network, port = generation.probe_network, generation.container.port
    names = swarmtasks.hostnames(engine.call("GET", "/nodes"))
    service_id = service(engine, generation.name)["ID"]
    answered: set[str] = set()
    stuck_since = None
    probe = OverlayProbe(
        engine, network, probe_image, f"{generation.name}-probe", generation.container.label_prefix
    )
    with probe:
        while True:
            tasks = service_tasks(engine, service_id)
            problem = swarmtasks.failure(tasks, names)
            stuck = swarmtasks.waiting_error(tasks)
            stuck_since = (stuck_since or time.monotonic()) if stuck else None
            if stuck and time.monotonic() - stuck_since > STUCK_SECONDS:
                problem = _node_words(engine, generation) or stuck
            if problem:
                raise GenerationFailed(problem)
            addresses = set(swarmtasks.running_addresses(tasks, network).values())
            answered |= {a for a in addresses - answered if probe.answers(a, port, path)}
            if len(addresses) >= generation.replicas and addresses <= answered:
                return sorted(addresses)
            if time.monotonic() > deadline:
                raise GenerationFailed(_late(generation, addresses, answered, timeout, stuck))
            time.sleep(POLL_SECONDS)


def _node_words(engine: Engine, generation: SwarmGeneration) -> str | None:
    """A stateful generation that cannot be placed: the reason is its node, in its name."""
    if not (generation.stateful and generation.node):
        return None
    return swarmtasks.node_problem(engine.call("GET", "/nodes"), generation.node)


def _late(generation, addresses: set, answered: set, timeout: float, stuck) -> str:
    port = generation.container.port
    if len(addresses) < generation.replicas:
        why = f"; {stuck}" if stuck else ""
        return f"{len(addresses)} of {generation.replicas} tasks ran within {timeout:g} s{why}"
    silent = ", ".join(sorted(addresses - answered))
    return f"tasks at {silent} did not answer on port {port} within {timeout:g} s"


def stop_first(engine: Engine, older: tuple[str, ...], timeout: float) -> list[str]:
    """Scale each older generation that exists to 0 and wait until its task stopped (one
    writer on a volume); the names it stopped."""
    stopped = []
    for name in older:
        if service(engine, name) is not None:
            scale(engine, name, 0, timeout)
            stopped.append(name)
    return stopped


def scale(engine: Engine, name: str, replicas: int, timeout: float) -> None:
    """Set the service's replicas and wait until that many tasks run (0: none is left
    running or starting)."""
    found = service(engine, name)
    spec = found["Spec"]
    spec["Mode"] = {"Replicated": {"Replicas": replicas}}
    params = {"version": found["Version"]["Index"]}
    engine.call("POST", f"/services/{found['ID']}/update", body=spec, params=params)
    deadline = time.monotonic() + timeout
    live = (*swarmtasks.WAITING_STATES, "running")
    while True:
        tasks = service_tasks(engine, found["ID"])
        if replicas == 0 and not any(t["Status"]["State"] in live for t in tasks):
            return
        if replicas and len(swarmtasks.running_nodes(tasks)) >= replicas:
            return
        if time.monotonic() > deadline:
            raise GenerationFailed(f"{name} did not reach {replicas} tasks in {timeout:g} s")
        time.sleep(POLL_SECONDS)


def holds_volume(found: dict) -> bool:
    """Whether a generation's service mounts its volume (GET /services/<id>'s answer)."""
    spec = ((found.get("Spec") or {}).get("TaskTemplate") or {}).get("ContainerSpec") or {}
    return any(m.get("Type") == "volume" for m in spec.get("Mounts") or [])


def retire(engine: Engine, name: str, timeout: float = 60.0, wait: bool = True) -> bool:
    """Remove a generation's service and (`wait`) wait until none of its tasks is left (their
    containers stopped and gone); False when there was no such service. The pass waits only
    for a service that holds a volume (holds_volume): a deploy of it again must never find
    its task still running on the volume; others stop on their nodes while it goes on."""
    found = service(engine, name)
    if found is None:
        return False
    try:
        engine.call("DELETE", f"/services/{found['ID']}")
    except EngineError as err:
        if err.status != 404:
            raise
    deadline = time.monotonic() + timeout
    while wait and service_tasks(engine, found["ID"]):
        if time.monotonic() > deadline:
            raise GenerationFailed(f"{name}: its tasks were still there after {timeout:g} s")
        time.sleep(POLL_SECONDS)
    return True


# GET <path> with HTTP/1.0 (the answer ends when the connection does) through busybox's nc:
# healthy is a 2xx or 3xx status line, as readiness.healthy says. Not busybox's wget: the
# static build's wget crashed here (exit 139) on a plain IP address.
HTTP_CHECK = (
    'printf "GET %s HTTP/1.0\\r\\nHost: %s\\r\\nUser-Agent: sws-agent health check\\r\\n\\r\\n"'
    ' "$2" "$1" | nc -w 2 "$1" "$3" | head -n 1 | grep -q "^HTTP/1\\.[01] [23]"'
)


class OverlayProbe:
    """A container on the manager, attached to the generation's overlay, that connects to
    each task's port from inside it. Why this: the agent on the host is on no overlay (it
    has no route to task addresses); the edge proxies are, but readiness is checked before a
    route points at the generation and must not depend on their configuration; and a task
    health check would need a tool inside the user's image. The probe's image is the node
    report's busybox (on every node already): `nc -e true` connects, HTTP_CHECK asks a path."""

    def __init__(self, engine: Engine, network: str, image: str, name: str, label_prefix: str):
        self.engine, self.network, self.image, self.name = engine, network, image, name
        self.labels = {f"{label_prefix}.probe": "true"}

    def __enter__(self) -> OverlayProbe:
        if not self.network:  # nowhere to connect from: running tasks are all there is
            return self
        self.engine.remove(self.name, force=True)
        body = {
            "Image": self.image,
            "Cmd": ["sleep", "3600"],
            "Labels": self.labels,
            "HostConfig": {"NetworkMode": self.network, "CapDrop": ["ALL"], "AutoRemove": True},
        }
        for attempt in range(PROBE_ATTACH_TRIES):
            try:
                self.engine.start(self.engine.create(self.name, body))
                return self
            except EngineError as err:
                # An overlay the manager's last local task of it just left answers "network
                # <id> not found" to an attach for a moment (Docker 20.10: seen each time a
                # stack's service was deployed again right after its task on the manager
                # went); the next try, a second later, joins it.
                if "not found" not in str(err) or attempt == PROBE_ATTACH_TRIES - 1:
                    why = f"the readiness probe could not join {self.network}: {err}"
                    raise GenerationFailed(why) from None
                self.engine.remove(self.name, force=True)
                time.sleep(1.0)
        return self

    def answers(self, address: str, port: int, path: str | None = None) -> bool:
        if not self.network:
            return True
        if path:
            command = ["sh", "-c", HTTP_CHECK, "sh", address, path, str(port)]
        else:
            command = ["nc", "-w", "1", address, str(port), "-e", "true"]
        return self.engine.run_in(self.name, command, timeout=5) == 0

    def __exit__(self, *_) -> None:
        if self.network:
            self.engine.remove(self.name, force=True)
