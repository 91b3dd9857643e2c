#!/usr/bin/python
"""Ansible module: drain a server in HAProxy and wait for its sessions to end, ready it, or put
it in maintenance. One task however long the drain waits."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.sws.host.plugins.module_utils import haproxy

DOCUMENTATION = r"""
module: haproxy_server
short_description: Drain (waiting for its sessions to end), ready or maint a server in HAProxy
description: [Sets a server's admin state through the runtime socket; a drain waits for 0 sessions.]
author: [SWS]
options:
  socket: {type: path, required: true, description: HAProxy's admin socket.}
  backend: {type: str, required: true, description: The backend.}
  server: {type: str, required: true, description: The server in that backend.}
  state: {type: str, choices: [drain, ready, maint], required: true, description: The state to set.}
  wait_timeout: {type: float, default: 10, description: "drain: seconds to wait for 0 sessions."}
"""

EXAMPLES = r"""
- name: Drain sws-proxy-1
  sws.host.haproxy_server:
    socket: /run/sws/haproxy/admin.sock
    backend: proxies
    server: sws-proxy-1
    state: drain
"""


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "socket": {"type": "path", "required": True},
            "backend": {"type": "str", "required": True},
            "server": {"type": "str", "required": True},
            "state": {"type": "str", "required": True, "choices": ["drain", "ready", "maint"]},
            "wait_timeout": {"type": "float", "default": 10.0},
        }
    )
    p = module.params
    try:
        answer = haproxy.command(p["socket"], f"show servers state {p['backend']}")
        before = haproxy.parse_admin_states(answer)
        if p["server"] not in before:
            module.fail_json(msg=f"HAProxy has no server {p['backend']}/{p['server']}")
        haproxy.set_state(p["socket"], p["backend"], p["server"], p["state"])
        sessions, waited = 0, 0.0
        if p["state"] == "drain":
            sessions, waited = haproxy.wait_for_no_sessions(
                p["socket"], p["backend"], p["server"], p["wait_timeout"]
            )
    except (OSError, ValueError) as err:
        module.fail_json(msg=f"HAProxy on {p['socket']}: {err}")
    module.exit_json(
        changed=before[p["server"]] != p["state"],
        previous=before[p["server"]],
        sessions=sessions,
        waited=waited,
    )


if __name__ == "__main__":
    main()
