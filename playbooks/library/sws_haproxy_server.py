#!/usr/bin/python
"""Ansible module: drain a server in HAProxy and wait for its sessions to end, or ready it.

Talks to HAProxy's admin runtime socket directly (no socat loop of tasks): a drain that waits
for the last session costs one task, however long the wait.
"""

from __future__ import annotations

import socket
import time

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: sws_haproxy_server
short_description: Drain a server (waiting for its sessions to end) or ready it, in HAProxy
options:
  socket: {type: path, required: true, description: HAProxy's admin socket.}
  backend: {type: str, required: true, description: The backend.}
  server: {type: str, required: true, description: The server in that backend.}
  state: {type: str, choices: [drain, ready], required: true, description: The state to set.}
  wait_timeout: {type: float, default: 10, description: "drain: seconds to wait for 0 sessions."}
"""


def command(path: str, line: str) -> str:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(path)
        sock.sendall(line.encode() + b"\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def server_row(path: str, backend: str, server: str) -> dict | None:
    lines = command(path, "show stat").splitlines()
    if not lines or not lines[0].startswith("# "):
        return None
    header = lines[0][2:].split(",")
    for line in lines[1:]:
        row = dict(zip(header, line.split(","), strict=False))
        if row.get("pxname") == backend and row.get("svname") == server:
            return row
    return None


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "socket": {"type": "path", "required": True},
            "backend": {"type": "str", "required": True},
            "server": {"type": "str", "required": True},
            "state": {"type": "str", "required": True, "choices": ["drain", "ready"]},
            "wait_timeout": {"type": "float", "default": 10.0},
        }
    )
    p = module.params
    try:
        row = server_row(p["socket"], p["backend"], p["server"])
        if row is None:
            module.fail_json(msg=f"HAProxy has no server {p['backend']}/{p['server']}")
        before = row.get("status", "")
        answer = command(p["socket"], f"set server {p['backend']}/{p['server']} state {p['state']}")
        if answer.strip():
            module.fail_json(msg=f"HAProxy refused the state change: {answer.strip()}")
        sessions, waited = int(row.get("scur") or 0), 0.0
        if p["state"] == "drain":
            started = time.monotonic()
            while time.monotonic() - started < p["wait_timeout"]:
                now = server_row(p["socket"], p["backend"], p["server"]) or {}
                sessions = int(now.get("scur") or 0)
                if sessions == 0:
                    break
                time.sleep(0.05)
            waited = round(time.monotonic() - started, 2)
    except OSError as err:
        module.fail_json(msg=f"cannot talk to HAProxy on {p['socket']}: {err}")
    module.exit_json(
        changed=(p["state"] == "drain") != (before == "DRAIN"),
        previous=before,
        sessions=sessions,
        waited=waited,
    )


if __name__ == "__main__":
    main()
