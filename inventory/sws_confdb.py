#!/usr/bin/env python3
"""Ansible dynamic inventory: the host as sws-confdb sees it.

Groups proxies, loadbalancer and services (one host per service, `sws-svc-<name>`, its spec as
host variables; env values marked unsafe so Ansible never templates them). Reads the agent's
settings (/etc/sws/agent.yml, or SWS_AGENT_CONFIG) for the database URL.

    ansible-inventory -i inventory/sws_confdb.py --list
    ansible-playbook -i inventory/sws_confdb.py playbooks/reconcile.yml
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Interpreters that have the agent installed, tried when this one does not.
AGENT_PYTHONS = [
    os.environ.get("SWS_AGENT_PYTHON", ""),
    "/opt/sws/agent/venv/bin/python",
    str(HERE.parent / ".venv" / "bin" / "python"),
]


def _reexec_with_agent_python() -> None:
    for python in AGENT_PYTHONS:
        if (
            python
            and os.path.exists(python)
            and os.path.realpath(python) != os.path.realpath(sys.executable)
        ):
            os.execv(python, [python, __file__, *sys.argv[1:]])
    sys.exit("sws_confdb.py: no Python with the sws agent installed (set SWS_AGENT_PYTHON)")


try:
    import psycopg2

    from swsagent import store
    from swsagent.config import AgentConfigError, load_config
    from swsagent.desired import read_desired
    from swsagent.render import inventory, inventory_json, service_host
except ImportError:
    _reexec_with_agent_python()


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[1] == "--list":
        print(inventory_json(current_inventory()), end="")
        return 0
    if len(argv) == 3 and argv[1] == "--host":
        # Everything is in _meta.hostvars; Ansible does not ask, others may.
        inv = current_inventory()
        hostvars = json.loads(inventory_json(inv))["_meta"]["hostvars"]
        print(json.dumps(hostvars.get(argv[2], {})))
        return 0
    print(f"usage: {argv[0]} --list | --host HOST", file=sys.stderr)
    return 2


def current_inventory() -> dict:
    try:
        config = load_config()
    except AgentConfigError as err:
        sys.exit(f"sws_confdb.py: {err}")
    try:
        conn = store.connect(config.database_url, "sws inventory", config.store_timeout)
    except psycopg2.OperationalError as err:
        sys.exit(f"sws_confdb.py: cannot reach sws-confdb: {str(err).strip()}")
    try:
        desired = read_desired(conn)
    finally:
        conn.close()
    return inventory(desired, config.names)


__all__ = ["main", "service_host"]

if __name__ == "__main__":
    sys.exit(main(sys.argv))
