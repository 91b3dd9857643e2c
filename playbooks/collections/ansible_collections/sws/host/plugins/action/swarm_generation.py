"""Action plugin: run a service's current generation on the swarm and wait until each of its
tasks answers (module_utils/swarmgeneration.py), the swarm executor's deploy (issue 28).

Takes service_container's arguments, read the same way (module_utils/containerargs.py: the
env and the registry credentials from host variables named by the task), and the swarm's:
the manager's Engine API socket, the node that holds a volume, the overlay probe's image and
the edge proxies, which join the service's edge overlay before readiness is reported.
Registers what service_container does (address: the first task's, addresses: every task's on
the edge overlay), so the proxies' roll reads either executor alike; a volume service's
result names the node its task runs on (`node`, the volume's node from then on).
"""

from __future__ import annotations

from dataclasses import dataclass

from ansible.plugins.action import ActionBase
from ansible_collections.sws.host.plugins.module_utils import (
    containerargs,
    imagepull,
    swarmedge,
)
from ansible_collections.sws.host.plugins.module_utils import swarmgeneration as generations
from ansible_collections.sws.host.plugins.module_utils.containerargs import TaskOptions
from ansible_collections.sws.host.plugins.module_utils.engine import Engine, EngineError
from ansible_collections.sws.host.plugins.module_utils.swarmspec import SwarmGeneration


@dataclass(frozen=True)
class _SwarmOptions:
    manager_socket: str
    volume_node: str
    probe_image: str
    edge_proxies: list

    @classmethod
    def take(cls, args: dict) -> _SwarmOptions:
        return cls(
            manager_socket=str(args.pop("manager_socket", "") or ""),
            volume_node=str(args.pop("volume_node", "") or ""),
            probe_image=str(args.pop("probe_image", "") or ""),
            edge_proxies=[str(p) for p in args.pop("edge_proxies", None) or []],
        )


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        swarm = _SwarmOptions.take(args)
        try:
            spec, options = containerargs.take(args, task_vars or {})
        except containerargs.TaskArgsError as err:
            return {**result, "failed": True, "msg": str(err)}
        if not swarm.probe_image:
            return {**result, "failed": True, "msg": "probe_image is required on the swarm"}
        engine = Engine(swarm.manager_socket or None)
        generation = SwarmGeneration(spec, node=swarm.volume_node)
        try:
            return _deploy(engine, generation, swarm, options, result)
        except (
            generations.GenerationFailed,
            swarmedge.EdgeRefused,
            imagepull.ImageRefused,
            EngineError,
        ) as err:
            return {**result, "failed": True, "msg": str(err)}


def _deploy(
    engine: Engine, generation: SwarmGeneration, swarm: _SwarmOptions, options: TaskOptions, result
) -> dict:
    header = _registry_header(generation.container.image, options)
    before = generations.service(engine, generation.name)
    result["service"] = generation.name
    # Before any task exists: a proxy that cannot reach the tasks fails the deploy first.
    result["edge_proxies"] = swarmedge.attach(engine, generation, swarm.edge_proxies)
    addresses = generations.deploy(
        engine,
        generation,
        swarm.probe_image,
        timeout=options.ready_timeout,
        registry_auth=header,
        older=generations.older(engine, generation),
        path=options.path,
    )
    if generation.stateful:
        result["node"] = swarm.volume_node or generations.task_node(engine, generation.name)
    kept = before is not None and before["Spec"].get("Labels") == generation.labels()
    connected = "connected" in result["edge_proxies"].values()
    result.update(
        changed=not kept or connected,
        address=addresses[0] if addresses else "",
        addresses=addresses,
    )
    return result


def _registry_header(image: str, options: TaskOptions) -> str | None:
    """The X-Registry-Auth the nodes pull with; ImageRefused for a registry the operator
    does not allow (before anything of the generation exists)."""
    address = imagepull.registry_address(image)
    if address is None:
        return None
    problem = imagepull.registry_problem(address, options.allowed)
    if problem:
        raise imagepull.ImageRefused(problem)
    return imagepull.auth_header(options.auth, address)
