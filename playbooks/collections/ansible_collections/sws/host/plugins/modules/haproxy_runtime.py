#!/usr/bin/python
"""Ansible module: send one command to HAProxy's runtime (admin) socket, optionally saving the
answer to a file (the server-state file before a reload). No socat needed on the host."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.sws.host.plugins.module_utils import haproxy

DOCUMENTATION = r"""
module: haproxy_runtime
short_description: Send one command to HAProxy's runtime socket
description: [Sends one runtime command and returns the answer; with dest, saves it atomically.]
author: [SWS]
options:
  socket: {type: path, required: true, description: "HAProxy's socket (level admin for writes)."}
  command: {type: str, required: true, description: "The runtime command, such as C(show stat)."}
  dest: {type: path, description: Save the answer to this file (atomically).}
  timeout: {type: float, default: 5, description: Seconds to wait for the answer.}
  backend:
    type: str
    description: With C(show stat), also return this backend's servers and their status, read
      by the collection's HAProxy client (module_utils/haproxy.parse_stat).
"""

EXAMPLES = r"""
- name: Read the servers' states
  sws.host.haproxy_runtime:
    socket: /run/sws/haproxy/admin.sock
    command: show stat
"""

RETURN = r"""
stdout: {description: HAProxy's answer., type: str, returned: success}
stdout_lines: {description: "HAProxy's answer, line by line.", type: list, returned: success}
servers: {description: "{server: status} of the backend (UP, DOWN, DRAIN, MAINT...).", type: dict,
  returned: with backend}
"""


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "socket": {"type": "path", "required": True},
            "command": {"type": "str", "required": True},
            "dest": {"type": "path"},
            "timeout": {"type": "float", "default": 5},
            "backend": {"type": "str"},
        }
    )
    p = module.params
    try:
        answer = haproxy.command(p["socket"], p["command"], p["timeout"])
        if p["dest"]:
            haproxy.save(p["dest"], answer)
    except OSError as err:
        module.fail_json(msg=f"HAProxy runtime socket {p['socket']}: {err}")
    extra = {}
    if p["backend"]:
        rows = haproxy.parse_stat(answer, p["backend"])
        extra["servers"] = {name: row.get("status") or "" for name, row in rows.items()}
    # Saving the state file is bookkeeping for a reload, not a change of the host's state.
    module.exit_json(changed=False, stdout=answer, stdout_lines=answer.splitlines(), **extra)


if __name__ == "__main__":
    main()
