#!/usr/bin/python
"""Ansible module: the edge proxies on every service's edge overlay of a swarm manager (issue
28). A proxy made again (the bootstrap run again, the pass's revival of a missing one) joins
no overlay by itself, and the deploy joins proxies only to the overlay it deploys on: this
puts each back on all of them before it serves (module_utils/swarmedge.py)."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.sws.host.plugins.module_utils import swarmedge
from ansible_collections.sws.host.plugins.module_utils.engine import Engine, EngineError

DOCUMENTATION = r"""
module: swarm_edge
short_description: Join the edge proxies to every service's edge overlay
description:
  - Lists the overlays named <label_prefix>-edge-<service> and labelled
    <label_prefix>.service on the engine, and connects each proxy to those it is not on.
  - Unchanged when every proxy is on every one, or when there is none (an engine that is
    no swarm manager has none). A proxy in the host's network namespace is refused.
author: [SWS]
options:
  proxies: {type: list, elements: str, required: true, description: The proxies' containers.}
  label_prefix: {type: str, required: true, description: "SWS's label prefix (sws)."}
  docker_socket:
    type: str
    default: ""
    description: "The engine's unix socket (default: DOCKER_HOST or /var/run/docker.sock)."
"""

EXAMPLES = r"""
- name: Join the proxies to the services' edge overlays
  sws.host.swarm_edge:
    proxies: [sws-proxy-1, sws-proxy-2]
    label_prefix: sws
"""

RETURN = r"""
joined: {description: "proxy -> the overlays it joined now.", type: dict, returned: always}
"""


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "proxies": {"type": "list", "elements": "str", "required": True},
            "label_prefix": {"type": "str", "required": True},
            "docker_socket": {"type": "str", "default": ""},
        },
        supports_check_mode=False,
    )
    params = module.params
    try:
        engine = Engine(params["docker_socket"] or None, 30)
        joined = swarmedge.attach_all(engine, params["proxies"], params["label_prefix"])
    except (EngineError, swarmedge.EdgeRefused) as err:
        module.fail_json(msg=str(err))
    module.exit_json(changed=bool(joined), joined=joined)


if __name__ == "__main__":
    main()
