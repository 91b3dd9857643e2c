#!/usr/bin/python
"""Documentation of the action plugin proxy_roll (plugins/action/proxy_roll.py does the work on
the controller; there is nothing to run on a target)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: proxy_roll
short_description: Roll one nginx proxy to the routes of what got ready in this pass
description:
  - Picks each service's block (its new generation's when the service host's readiness
    reported an address, else the one that keeps serving), and rolls the proxy only when that
    differs from what it serves or HAProxy does not have it ready.
  - drain (per sws.yml's sws_roll_drain), write + nginx -t + make live + reload in one exec,
    health, ready.
author: [SWS]
options:
  proxy: {type: str, required: true, description: The proxy container (and HAProxy server).}
  routes: {type: list, elements: dict, required: true, description: "Entries {host, new, old}."}
  header: {type: str, required: true, description: The routes file's first line.}
  slot: {type: str, required: true, description: "The new address goes here."}
  deployed: {type: list, elements: str, default: [], description: Hosts deployed.}
  applied_digest: {type: str, default: "", description: sha256 of its applied routes.}
  ready: {type: bool, default: false, description: Whether HAProxy had the proxy ready.}
  drain: {type: str, choices: [drain, reload], required: true, description: sws_roll_drain.}
  drain_timeout: {type: float, required: true, description: Seconds a drain waits for 0 sessions.}
  conf_dir: {type: path, required: true, description: "The conf volume's mount (in the proxy)."}
  haproxy_socket: {type: path, required: true, description: HAProxy's admin socket.}
  haproxy_backend: {type: str, required: true, description: The proxies' backend.}
  socket_dir: {type: path, required: true, description: "<socket_dir>/<proxy>/<health_socket>."}
  health_socket: {type: str, required: true, description: The proxy's health socket's name.}
"""
