"""Action plugin: start a service's current generation, contained, and wait until it is ready
(module_utils/container.py, then module_utils/readiness.py).

Runs on the controller (every host is this machine): no module is shipped and started in a
process of its own. Measured against community.docker.docker_container in a real pass
(bench/container_start.py): the Engine API calls take milliseconds where the module took
seconds. On any failure the new containers go, so the old generation keeps serving alone.
spec.replicas (issue 28): every replica is started, then each must get ready; the generation is
ready only when all are. Returns their addresses on the services network, in replica order,
which the proxy roll routes to.
"""

from __future__ import annotations

import time

from ansible.plugins.action import ActionBase
from ansible_collections.sws.host.plugins.module_utils import containerargs, imagepull, readiness
from ansible_collections.sws.host.plugins.module_utils.container import (
    DeployError,
    ServiceContainer,
    check_volume,
    ensure_started,
    replica_specs,
    start_again,
    stop_within,
)
from ansible_collections.sws.host.plugins.module_utils.containerargs import TaskOptions
from ansible_collections.sws.host.plugins.module_utils.engine import Engine, EngineError


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        try:
            spec, options = containerargs.take(dict(self._task.args), task_vars or {})
        except containerargs.TaskArgsError as err:
            return {**result, "failed": True, "msg": str(err)}
        return _deploy(Engine(), spec, options, result)


def _deploy(engine: Engine, spec: ServiceContainer, options: TaskOptions, result: dict) -> dict:
    started = time.monotonic()
    states: dict[str, str] = {}
    fallback = options.fallback
    try:
        # Before anything stops: an image the owner may not use starts nothing.
        result["image_state"] = imagepull.prepare(
            engine, spec.image, options.auth, options.allowed, options.pull
        )
        stop_first, wait = options.stop_first, options.stop_wait
        if stop_first and _deferred(engine, spec, stop_first, wait, result):
            return result
        if spec.volume_mount:
            # Owner, filesystem mounted and sized, before any container of this generation
            # exists: a refused volume starts nothing.
            result["volume_state"] = check_volume(engine, spec)
        for replica in replica_specs(spec):
            states[replica.container] = ensure_started(engine, replica)
    except (DeployError, EngineError, imagepull.ImageRefused) as err:
        problem = str(err)
        if not _remove_started(engine, states) and fallback:
            # Nothing of the new generation runs: the older one may start.
            problem, result["fallback_address"] = _fall_back(engine, fallback, spec, problem)
        return {**result, "failed": True, "msg": problem}
    result["container_state"] = states[spec.container]
    result["replica_states"] = states
    result["start_seconds"] = round(time.monotonic() - started, 3)
    problem, addresses, failed = _wait_ready_all(spec, options.ready_timeout, options.path)
    result["waited"] = round(time.monotonic() - started, 2)
    if problem:
        last_log = readiness.last_log(failed)
        trouble = _remove_started(engine, states)
        if trouble:
            problem += f" (and {trouble})"
            fallback = None  # never two containers on one volume
        if fallback:
            problem, result["fallback_address"] = _fall_back(engine, fallback, spec, problem)
        return {**result, "failed": True, "msg": problem, "last_log": last_log}
    changed = any(state != "unchanged" for state in states.values())
    # address: the first replica's (what a single container always reported); addresses:
    # every replica's, in replica order, which the proxy roll puts in the route's slots.
    result.update(changed=changed, address=addresses[0], addresses=addresses)
    return result


def _wait_ready_all(spec, timeout: float, path):
    """(None, every replica's address, "") once each accepts connections, else (why, [], the
    replica that did not). They started together, so they share the one deadline."""
    deadline = time.monotonic() + timeout
    addresses = []
    replicas = replica_specs(spec)
    for replica in replicas:
        left = max(deadline - time.monotonic(), 0.2)
        problem, address = readiness.wait_ready(
            replica.container, spec.network, spec.port, left, path
        )
        if problem:
            if len(replicas) > 1:
                problem = f"replica {replica.replica} of {len(replicas)}: {problem}"
            return problem, [], replica.container
        addresses.append(address)
    return None, addresses, ""


def _remove_started(engine: Engine, states: dict[str, str]) -> str:
    """Remove the replicas this deploy made or started (one that ran already before it, as in
    a deploy that starts a dead replica again, keeps serving); "" or what could not go."""
    trouble = []
    for name, state in states.items():
        if state == "unchanged":
            continue
        try:
            engine.remove(name, force=True)
        except EngineError as err:
            trouble.append(f"{name} could not be removed: {err}")
    return "; ".join(trouble)


def _deferred(engine: Engine, spec, stop_first: list[str], wait: float, result: dict) -> bool:
    """Stop a recreate's older containers first; True when one still runs after `wait` s.
    Never two containers on one volume, and no pass waits for a slow stop: the retire step
    finishes it, the next pass starts this generation (result's `deferred` says so)."""
    started = time.monotonic()
    still = stop_within(engine, stop_first, spec.stop_timeout, wait)
    result["stop_seconds"] = round(time.monotonic() - started, 3)
    if still:
        result["deferred"] = (
            f"recreating: {', '.join(still)} is still stopping after {wait:g} s;"
            f" generation {spec.generation} starts once it stopped"
        )
    return bool(still)


def _fall_back(engine: Engine, container: str, spec: ServiceContainer, problem: str):
    """(the failure's message, the older container's address once ready, or "")."""
    detail = engine.inspect(container) or {}
    labels = (detail.get("Config") or {}).get("Labels") or {}
    generation = labels.get(f"{spec.label_prefix}.generation", "?")
    port = int(labels.get(f"{spec.label_prefix}.port") or spec.port)
    try:
        start_again(engine, container)
    except (DeployError, EngineError) as err:
        return f"{problem}; generation {generation} could not start again: {err}", ""
    trouble, address = readiness.wait_ready(container, spec.network, port, 30.0)
    if trouble:
        return f"{problem}; generation {generation} started again but {trouble}", ""
    return f"{problem}; generation {generation} serves again", address
