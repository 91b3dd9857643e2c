#!/usr/bin/python
"""Documentation of the action plugin service_container (plugins/action/service_container.py
does the work on the controller; every host is this machine)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: service_container
short_description: Start a service's container, contained, and wait until it is ready
description:
  - Checks the service's volume for its owner (creating it if absent), then creates and starts
    the container on the Engine API, with SWS's containment, labels and log driver.
  - An existing container of that name with the same labels and image is kept; one with others
    is replaced.
  - Waits until the container accepts connections on its port (or answers GET path); on any
    failure the new container is removed and the task fails with the reason and last log lines.
  - Returns the container's address on the network (address, the first replica's) and every
    replica's (addresses), which the proxy roll routes to.
author: [SWS]
options:
  container: {type: str, required: true, description: "sws-svc-<name>-<generation>."}
  replicas:
    type: int
    default: 1
    description: spec.replicas, the containers of the generation side by side, each contained,
      labelled (<prefix>.replica) and networked alike; the first is named container, the
      others container-r2, -r3... Ready only when every one is; on a failure the ones this
      task made or started go.
  service: {type: str, required: true, description: The service's name.}
  generation: {type: int, required: true, description: The generation.}
  digest: {type: str, required: true, description: The spec digest (label <prefix>.spec-digest).}
  domain: {type: str, default: "", description: "The domain routed to it (none: private)."}
  port: {type: int, required: true, description: The port it listens on.}
  image:
    type: str
    required: true
    description: The image. One whose reference names a registry host is checked with the
      owner's credentials first and pulled when the registry serves another digest
      (module_utils/imagepull.py); one with none is used from this host (pulled if absent).
  owner: {type: str, required: true, description: The owner (label <prefix>.owner of its volume).}
  containment: {type: str, required: true, description: Digest of the containment.}
  network: {type: str, required: true, description: The services network.}
  label_prefix: {type: str, required: true, description: Label prefix.}
  env_from:
    type: str
    description: The host variable holding the environment (a dict); read by the plugin, so the
      values never travel as a task argument nor appear in any event.
  registry_auth_from:
    type: str
    description: The host variable holding the owner's credentials for the image's registry
      (username, password), read by the plugin as env_from is; absent, the registry is asked
      without credentials.
  registries_allowed:
    type: list
    elements: str
    default: []
    description: The operator's registries (sws_registries_allowed); empty, any registry that
      is not this host itself.
  pull: {type: bool, default: true, description: Pull an image that is not here.}
  volume_mount: {type: str, default: "", description: Where <service>-volume is mounted.}
  volume_adopted: {type: bool, default: false, description: The store vouches for it.}
  restart_policy: {type: str, default: unless-stopped, description: Docker restart policy.}
  stop_timeout: {type: int, required: true, description: Seconds a stop waits before SIGKILL.}
  memory: {type: int, description: Memory limit in bytes (no swap beyond it).}
  cpus: {type: str, description: CPU limit (Docker's --cpus).}
  pids: {type: int, description: Most processes and threads.}
  capabilities: {type: list, elements: str, description: Capabilities kept (all others dropped).}
  init: {type: bool, default: false, description: "Docker's init as PID 1 (spec.init)."}
  stack_network: {type: str, default: "", description: "The stack's network, joined as <service>."}
  fallback: {type: str, description: "A recreate's older container, started on failure."}
  stop_first:
    type: list
    elements: str
    description: "A recreate's older running containers: stopped (kept) before this one starts."
  stop_wait:
    type: float
    default: 0
    description: "Seconds to wait for stop_first; past that: `deferred`, nothing starts."
  ready_timeout: {type: float, required: true, description: Seconds to become ready.}
  path: {type: str, description: An HTTP path that must answer 2xx or 3xx.}
"""
