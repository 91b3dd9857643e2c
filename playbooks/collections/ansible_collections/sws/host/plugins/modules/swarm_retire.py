#!/usr/bin/python
"""Documentation of the action plugin swarm_retire (plugins/action/swarm_retire.py does the
work on the controller, through the swarm manager's Engine API)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: swarm_retire
short_description: Remove a service's generation services from the swarm
description:
  - The swarm executor's retire (issue 28). Removes each named generation service; its tasks
    stop on their nodes (within the service's own stop grace period) without the run
    waiting for them, but for a service that mounts a volume, whose task is waited for.
  - A service not labelled <label_prefix>.service=<service> is refused, never removed; one
    that does not exist is reported absent.
author: [SWS]
options:
  manager_socket: {type: str, default: "", description: "The manager's Engine API unix socket."}
  service: {type: str, required: true, description: The service's name.}
  services:
    type: list
    elements: str
    required: true
    description: "Generation services (<prefix>-svc-<service>-g<N>) to remove."
  label_prefix: {type: str, required: true, description: Label prefix.}
  remove_overlays:
    type: bool
    default: false
    description: "A deleted service: its own overlays (labelled <prefix>.service) go too."
  purge_volume:
    type: str
    default: ""
    description: "A service deleted with purge: its volume (<service>-volume), emptied on
      volume_node by a one-off job of probe_image once its last task is gone."
  volume_node: {type: str, default: "", description: The node that holds the volume.}
  owner: {type: str, default: "", description: "The service's owner (the volume's name has it)."}
  probe_image: {type: str, default: "", description: "A busybox image on every node (the job's)."}
  stop_timeout:
    type: int
    required: true
    description: "Seconds a task's stop waits before SIGKILL: a volume's retire waits that
      long and 30 s more for its task to be gone."
"""
