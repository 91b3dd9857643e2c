"""The HAProxy runtime client, loaded from the sws.host collection the playbooks use.

There is one client (playbooks/collections/ansible_collections/sws/host/plugins/module_utils/
haproxy.py, standard library only): the collection's modules import it inside Ansible, and the
agent and the tests load the same file from the project directory here.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

CLIENT = Path("playbooks/collections/ansible_collections/sws/host/plugins/module_utils/haproxy.py")
# A checkout (tests, benches): the repository this package lives in.
_CHECKOUT = Path(__file__).resolve().parents[2]
_project: list[Path] = []


def use(project_dir) -> None:
    """Load the client from this project (the agent's copy of playbooks/) from now on."""
    _project[:] = [Path(project_dir)]


def runtime() -> ModuleType:
    """The client module (command, admin_states, stats, set_state, ...)."""
    for base in (*_project, _CHECKOUT):
        path = base / CLIENT
        if path.is_file():
            return _load(path)
    raise ImportError(f"no HAProxy client at {CLIENT} under {[*_project, _CHECKOUT]}")


def _load(path: Path) -> ModuleType:
    name = f"sws_haproxy_client_{abs(hash(str(path)))}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[name] = module
    return module
