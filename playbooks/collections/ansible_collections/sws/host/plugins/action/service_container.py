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
from dataclasses import dataclass

from ansible.plugins.action import ActionBase
from ansible_collections.sws.host.plugins.module_utils import imagepull, readiness
from ansible_collections.sws.host.plugins.module_utils.container import (
    DeployError,
    ServiceContainer,
    check_volume,
    ensure_started,
    replica_specs,
    start_again,
    stop_within,
)
from ansible_collections.sws.host.plugins.module_utils.engine import Engine, EngineError

FIELDS = {f for f in ServiceContainer.__dataclass_fields__}
# The pass always gives these (sws_pass), so they have no default here.
REQUIRED = {"label_prefix", "stop_timeout", "ready_timeout"}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        missing = sorted(REQUIRED - set(args))
        if missing:
            return {**result, "failed": True, "msg": f"missing required options: {missing}"}
        options = _Options.take(args, task_vars or {})
        unknown = set(args) - FIELDS
        if unknown:
            return {**result, "failed": True, "msg": f"unknown options: {sorted(unknown)}"}
        return _deploy(Engine(), _container(args, options.env), options, result)


@dataclass
class _Options:
    """The task's options that are not the container's own."""

    ready_timeout: float
    path: str | None
    # A recreate (spec.update): the older generation's container, stopped before this one
    # starts (stop_first: still running, stopped here within stop_wait seconds); started
    # again if this one fails.
    fallback: str | None
    stop_first: list
    stop_wait: float
    env: dict
    auth: dict | None
    allowed: list
    pull: bool

    @classmethod
    def take(cls, args: dict, task_vars: dict) -> _Options:
        return cls(
            ready_timeout=float(args.pop("ready_timeout")),
            path=args.pop("path", None) or None,
            fallback=args.pop("fallback", None) or None,
            stop_first=list(args.pop("stop_first", None) or []),
            stop_wait=float(args.pop("stop_wait", 0) or 0),
            # Read here, never passed as an argument: no event or log line carries the values.
            env=task_vars.get(args.pop("env_from", ""), None) or {},
            # The owner's registry credentials, the same way (module_utils/imagepull.py).
            auth=task_vars.get(args.pop("registry_auth_from", ""), None) or None,
            allowed=[str(a) for a in args.pop("registries_allowed", None) or []],
            pull=_flag(args.pop("pull", True)),
        )


def _deploy(engine: Engine, spec: ServiceContainer, options: _Options, result: dict) -> dict:
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


def _container(args: dict, env: dict) -> ServiceContainer:
    """The container the task asks for, its options as the template handed them over."""
    args["capabilities"] = tuple(args.get("capabilities") or ())
    args["volume_size"] = int(args.get("volume_size") or 0)
    args["replicas"] = int(args.get("replicas") or 1)
    args.pop("replica", None)  # which replica is the plugin's to say (replica_specs)
    args["volume_size_asked"] = _flag(args.get("volume_size_asked"))
    args["env"] = {str(k): str(v) for k, v in env.items()}
    return ServiceContainer(**args)


def _flag(value) -> bool:
    """A boolean option as the template may hand it over ("True", "false", True)."""
    return value is True or str(value).lower() in ("true", "yes", "1")


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
