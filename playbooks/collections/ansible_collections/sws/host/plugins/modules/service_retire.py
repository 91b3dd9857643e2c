#!/usr/bin/python
"""Documentation of the action plugin service_retire (plugins/action/service_retire.py does
the work on the controller; every host is this machine)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: service_retire
short_description: Take a service's containers away without waiting for their stop
description:
  - Containers already stopped are removed at once; running ones are stopped (SIGTERM, SIGKILL
    after stop_timeout) and removed by a child process that outlives the run, so the pass never
    waits for a stop timeout.
  - With purge_volume, the volume goes once every container is gone, and only if it is labelled
    as this service's.
author: [SWS]
options:
  service: {type: str, required: true, description: The service's name.}
  containers: {type: list, elements: str, required: true, description: The containers to take.}
  stop_timeout: {type: int, required: true, description: Seconds a stop waits before SIGKILL.}
  stop_only: {type: bool, default: false, description: Stop but keep them (an orphan's grace).}
  purge_volume: {type: str, default: "", description: The volume to remove after them.}
  label_prefix: {type: str, required: true, description: Label prefix.}
  kill: {type: bool, default: false, description: "An earlier try ran out of time: kill now."}
  slots_dir: {type: str, default: "", description: "Where the host's removal slots are (flocks)."}
  slots: {type: int, default: 4, description: "Containers stopped and removed at once, host-wide."}
"""
