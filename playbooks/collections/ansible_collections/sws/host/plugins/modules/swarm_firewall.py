#!/usr/bin/python
"""Ansible module: SWS's firewall for a swarm node's tasks (issue 28). What comes in from
docker_gwbridge (each task's way out of its overlays) is refused to the node itself but for
replies and the edge's ports, and through the node to the swarm's address pools, link-local
addresses and the other nodes (but for their edge ports); the internet stays reachable.

The rules are the single host's (module_utils/firewallrules.py, shared with swsagent/firewall.py)
on chains of their own, so the manager's agent and this module never rewrite each other's."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.sws.host.plugins.module_utils import firewallrules

DOCUMENTATION = r"""
module: swarm_firewall
short_description: Put SWS's firewall for swarm tasks in place on a node
description:
  - Reads the filter table with one C(iptables -S), compares it with the rules the policy
    renders and puts back what differs with one atomic C(iptables-restore --noflush).
  - Unchanged when every rule is in place. Check mode reports what is missing.
author: [SWS]
options:
  input_chain: {type: str, default: SWS-SWARM-INPUT, description: The chain for the node itself.}
  forward_chain: {type: str, default: SWS-SWARM-FORWARD, description: The chain through the node.}
  bridges:
    type: list
    elements: str
    default: [docker_gwbridge]
    description: The interfaces the tasks' traffic comes in from.
  edge_ports:
    type: list
    elements: int
    default: [80, 443]
    description: The edge's ports, open on the node and on its peers.
  blocked:
    type: list
    elements: str
    default: []
    description: Networks refused through the node (the swarm's address pools, the operator's).
  peers:
    type: list
    elements: str
    default: []
    description: The other nodes' addresses, refused but for the edge ports.
  after:
    type: list
    elements: str
    default: [SWS-INPUT, SWS-FORWARD]
    description: Chains of the single host's firewall whose jumps may head INPUT and
      DOCKER-USER before this module's.
"""

EXAMPLES = r"""
- name: Put SWS's firewall for the swarm's tasks in place
  sws.host.swarm_firewall:
    blocked: [10.0.0.0/8]
    peers: [192.0.2.11, 192.0.2.12]
"""

RETURN = r"""
missing: {description: What was not in place (chains, jumps)., type: list, returned: always}
script: {description: The iptables-restore input applied (empty when none)., type: str,
  returned: always}
"""

RESOLV_FILES = ("/etc/resolv.conf", "/run/systemd/resolve/resolv.conf")


def host_resolvers() -> tuple:
    texts = []
    for path in RESOLV_FILES:
        try:
            texts.append(Path(path).read_text())
        except OSError:
            continue
    return firewallrules.resolvers(texts)


def host_address(text: str) -> str:
    """a.b.c.d/32 for an address given bare; a network stays as given."""
    return text if "/" in text else f"{text}/32"


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "input_chain": {"type": "str", "default": "SWS-SWARM-INPUT"},
            "forward_chain": {"type": "str", "default": "SWS-SWARM-FORWARD"},
            "bridges": {"type": "list", "elements": "str", "default": ["docker_gwbridge"]},
            "edge_ports": {"type": "list", "elements": "int", "default": [80, 443]},
            "blocked": {"type": "list", "elements": "str", "default": []},
            "peers": {"type": "list", "elements": "str", "default": []},
            "after": {"type": "list", "elements": "str", "default": ["SWS-INPUT", "SWS-FORWARD"]},
        },
        supports_check_mode=True,
    )
    p = module.params
    policy = firewallrules.Policy(
        input_chain=p["input_chain"],
        forward_chain=p["forward_chain"],
        bridges=tuple(p["bridges"]),
        edge_ports=tuple(sorted(set(p["edge_ports"]))),
        blocked=tuple(host_address(n) for n in p["blocked"]),
        resolvers=host_resolvers(),
        # Sorted: the manager lists its nodes in no fixed order, and a new order is no change.
        peers=tuple(sorted({host_address(a) for a in p["peers"]}, key=ipaddress.ip_network)),
    )
    iptables = module.get_bin_path("iptables", required=True)
    rc, out, err = module.run_command([iptables, "-w", "5", "-S"])
    if rc != 0:
        module.fail_json(msg=f"iptables -S: {err.strip() or rc}")
    wanted = firewallrules.rules(policy)
    found = firewallrules.repair(wanted, firewallrules.Tables.parse(out), tuple(p["after"]))
    if found is None:
        module.exit_json(changed=False, missing=[], script="")
    if not module.check_mode:
        restore = module.get_bin_path("iptables-restore", required=True)
        rc, _, err = module.run_command([restore, "--noflush", "-w", "5"], data=found.script)
        if rc != 0:
            module.fail_json(msg=f"iptables-restore: {err.strip() or rc}", script=found.script)
    module.exit_json(changed=True, missing=list(found.missing), script=found.script)


if __name__ == "__main__":
    main()
