"""Action plugin: wait until a new service container is ready (module_utils/readiness.py).

Runs on the controller (every host is this machine, the connection is local): no module is
shipped and started in a Python process of its own for a check that only dials a socket.
Returns the container's address on the services network, which the proxy roll routes to.
"""

from __future__ import annotations

import time

from ansible.plugins.action import ActionBase
from ansible_collections.sws.host.plugins.module_utils import readiness


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        container = str(args["container"])
        started = time.monotonic()
        problem, address = readiness.wait_ready(
            container,
            str(args["network"]),
            int(args["port"]),
            float(args.get("timeout", 30)),
            str(args["path"]) if args.get("path") else None,
        )
        result["waited"] = round(time.monotonic() - started, 2)
        if problem:
            result.update(failed=True, msg=problem, last_log=readiness.last_log(container))
        else:
            result.update(changed=False, address=address)
        return result
