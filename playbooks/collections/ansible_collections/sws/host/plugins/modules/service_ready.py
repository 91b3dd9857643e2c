#!/usr/bin/python
"""Documentation of the action plugin service_ready (plugins/action/service_ready.py does the
work on the controller; there is nothing to run on a target)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: service_ready
short_description: Wait until a service container accepts connections on its port
description:
  - Watches the container while it waits, so one that exits at once (or that Docker keeps
    restarting) fails in a second with its exit code and last log lines.
  - Returns the container's address on the network, which the proxy roll routes to.
author: [SWS]
options:
  container: {type: str, required: true, description: Container name.}
  network: {type: str, required: true, description: The network whose address is dialled.}
  port: {type: int, required: true, description: The port.}
  timeout: {type: float, default: 30, description: Seconds to wait.}
  path:
    type: str
    description: An HTTP path (spec.healthCheck.path) that must answer 2xx or 3xx; omitted, a TCP
      connection is enough.
"""
