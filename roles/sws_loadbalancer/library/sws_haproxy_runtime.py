#!/usr/bin/python
"""Ansible module: send one command to HAProxy's runtime (admin) socket.

The bootstrap reads `show stat` to wait for the proxies, and saves `show servers state` before
a reload; doing it here needs no socat on the host.
"""

from __future__ import annotations

import os
import socket
import tempfile

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: sws_haproxy_runtime
short_description: Send one command to HAProxy's runtime socket
description:
  - Sends I(command) to the UNIX socket I(socket) and returns HAProxy's answer.
  - With I(dest), saves the answer to that file atomically (for server-state files).
options:
  socket:
    description: Path of HAProxy's stats socket (level admin for write commands).
    type: path
    required: true
  command:
    description: The runtime API command, such as C(show stat).
    type: str
    required: true
  dest:
    description: Save the answer to this file instead of only returning it.
    type: path
  timeout:
    description: Seconds to wait for HAProxy's answer.
    type: float
    default: 5
"""

EXAMPLES = r"""
- name: Read the servers' states
  sws_haproxy_runtime:
    socket: /run/sws/haproxy/admin.sock
    command: show stat
"""

RETURN = r"""
stdout:
  description: HAProxy's answer.
  type: str
  returned: success
stdout_lines:
  description: HAProxy's answer, line by line.
  type: list
  returned: success
"""


def ask(path: str, command: str, timeout: float) -> str:
    """Send one command; HAProxy answers and closes the connection (non-interactive mode)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout)
        conn.connect(path)
        conn.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def save(dest: str, text: str) -> None:
    folder = os.path.dirname(dest) or "."
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".sws-haproxy-")
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(tmp, dest)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "socket": {"type": "path", "required": True},
            "command": {"type": "str", "required": True},
            "dest": {"type": "path"},
            "timeout": {"type": "float", "default": 5},
        },
        supports_check_mode=False,
    )
    params = module.params
    try:
        answer = ask(params["socket"], params["command"], params["timeout"])
    except OSError as err:
        module.fail_json(msg=f"HAProxy runtime socket {params['socket']}: {err}")
    if params["dest"]:
        save(params["dest"], answer)
    # Saving the state file is bookkeeping for a reload, not a change of the host's state.
    module.exit_json(changed=False, stdout=answer, stdout_lines=answer.splitlines())


if __name__ == "__main__":
    main()
