"""Action plugin: start a service's current generation, contained, and wait until it is ready
(module_utils/container.py, then module_utils/readiness.py).

Runs on the controller (every host is this machine): no module is shipped and started in a
process of its own. Measured against community.docker.docker_container in a real pass
(bench/container_start.py): the Engine API calls take milliseconds where the module took
seconds. On any failure the new container goes, so the old generation keeps serving alone.
Returns the container's address on the services network, which the proxy roll routes to.
"""

from __future__ import annotations

import time

from ansible.plugins.action import ActionBase
from ansible_collections.sws.host.plugins.module_utils import readiness
from ansible_collections.sws.host.plugins.module_utils.container import (
    DeployError,
    ServiceContainer,
    ensure_started,
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
        ready_timeout = float(args.pop("ready_timeout"))
        path = args.pop("path", None) or None
        # Read here, never passed as an argument: no event or log line carries the values.
        env = (task_vars or {}).get(args.pop("env_from", ""), None) or {}
        unknown = set(args) - FIELDS
        if unknown:
            return {**result, "failed": True, "msg": f"unknown options: {sorted(unknown)}"}
        args["capabilities"] = tuple(args.get("capabilities") or ())
        args["env"] = {str(k): str(v) for k, v in env.items()}
        spec = ServiceContainer(**args)
        engine = Engine()
        started = time.monotonic()
        try:
            result["container_state"] = ensure_started(engine, spec)
        except (DeployError, EngineError) as err:
            return {**result, "failed": True, "msg": str(err)}
        result["start_seconds"] = round(time.monotonic() - started, 3)
        problem, address = readiness.wait_ready(
            spec.container, spec.network, spec.port, ready_timeout, path
        )
        result["waited"] = round(time.monotonic() - started, 2)
        if problem:
            last_log = readiness.last_log(spec.container)
            try:
                engine.remove(spec.container, force=True)
            except EngineError as err:
                problem += f" (and the container could not be removed: {err})"
            return {**result, "failed": True, "msg": problem, "last_log": last_log}
        result.update(changed=result["container_state"] != "unchanged", address=address)
        return result
