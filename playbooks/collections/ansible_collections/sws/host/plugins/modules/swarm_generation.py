#!/usr/bin/python
"""Documentation of the action plugin swarm_generation (plugins/action/swarm_generation.py
does the work on the controller, through the swarm manager's Engine API)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: swarm_generation
short_description: Run a service's generation on the swarm and wait until each task answers
description:
  - The swarm executor's deploy (issue 28). Takes service_container's options (the same
    reading of them; the host-only ones, fallback, stop_first, stop_wait, pull, volumes_dir,
    volume_size, have no effect here) and the swarm's below.
  - Makes the generation a dnsrr swarm service <label_prefix>-svc-<service>-g<generation>
    on the service's edge overlay (a service with a domain) and its stack's overlay; the
    container option does not name anything on the swarm.
  - Joins the edge proxies to the edge overlay first (a proxy already on it is fine; one in
    the host's network namespace cannot join an overlay and fails the task).
  - Waits until every task answers on its port (or GET path) through a probe container on
    the overlay; on a failure nothing of the generation stays and the task fails in the
    engine's words. A service with a volume stops its older generations first (services
    labelled <label_prefix>.service=<service>) and starts them again on a failure.
  - Returns address (the first task's address on the edge overlay) and addresses (every
    task's), as service_container does; for a service with a volume, node (the hostname of
    the node its task runs on).
author: [SWS]
options:
  manager_socket:
    type: str
    default: ""
    description: "The manager's Engine API unix socket (empty: DOCKER_HOST or the default)."
  volume_node:
    type: str
    default: ""
    description: "The volume's node (hostname; empty: a first deploy, the swarm places it)."
  probe_image:
    type: str
    required: true
    description: "A busybox image on the manager (sh, nc) for the overlay probe."
  edge_proxies:
    type: list
    elements: str
    default: []
    description: "Proxy containers on the manager's engine to join to the edge overlay."
  container: {type: str, default: "", description: Not used for naming on the swarm.}
  service: {type: str, required: true, description: The service's name.}
  generation: {type: int, required: true, description: The generation.}
  replicas:
    type: int
    default: 1
    description: "spec.replicas: tasks (one for a service with a volume)."
  digest: {type: str, required: true, description: The spec digest.}
  domain: {type: str, default: "", description: "The domain routed to it (none: no edge overlay)."}
  port: {type: int, required: true, description: The port it listens on.}
  image: {type: str, required: true, description: The image the nodes pull.}
  owner: {type: str, required: true, description: The owner (label <prefix>.owner).}
  containment: {type: str, required: true, description: Digest of the containment.}
  network:
    type: str
    required: true
    description: "The host's services network (unused on the swarm)."
  label_prefix: {type: str, required: true, description: Label prefix.}
  env_from:
    type: str
    description: "The host variable holding the environment (read by the plugin)."
  registry_auth_from:
    type: str
    description: "The host variable holding the owner's registry credentials."
  registries_allowed:
    type: list
    elements: str
    default: []
    description: "The operator's registries."
  volume_mount: {type: str, default: "", description: Where <service>-volume is mounted.}
  restart_policy:
    type: str
    default: unless-stopped
    description: "Restart policy (as the swarm's condition)."
  stop_timeout: {type: int, required: true, description: "Seconds a stop waits before SIGKILL."}
  memory: {type: int, description: Memory limit in bytes.}
  cpus: {type: str, description: CPU limit.}
  pids: {type: int, description: Most processes and threads.}
  capabilities: {type: list, elements: str, description: Capabilities kept (all others dropped).}
  init: {type: bool, default: false, description: "Docker's init as PID 1."}
  stack_network: {type: str, default: "", description: "The stack's overlay, joined as <service>."}
  ready_timeout: {type: float, required: true, description: Seconds for every task to answer.}
  path: {type: str, description: An HTTP path that must answer 2xx or 3xx.}
"""
