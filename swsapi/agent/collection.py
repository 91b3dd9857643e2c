"""The sws.host collection's shared code (plugins/module_utils, standard library only), loaded
from the project directory: the collection's plugins import it inside Ansible, and the agent,
the benches and the tests load the same files here. So there is one HAProxy runtime client
(haproxy.py) and one readiness check (readiness.py), not a copy on each side.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

MODULE_UTILS = Path("playbooks/collections/ansible_collections/sws/host/plugins/module_utils")
# A checkout (tests, benches): the repository this package lives in.
_CHECKOUT = Path(__file__).resolve().parents[2]
_project: list[Path] = []


def use(project_dir) -> None:
    """Load the collection from this project (the agent's copy of playbooks/) from now on."""
    _project[:] = [Path(project_dir)]


def module_utils(name: str) -> ModuleType:
    """One module of plugins/module_utils, by its name."""
    relative = MODULE_UTILS / f"{name}.py"
    for base in (*_project, _CHECKOUT):
        path = base / relative
        if path.is_file():
            return _load(path)
    raise ImportError(f"no {relative} under {[*_project, _CHECKOUT]}")


def haproxy() -> ModuleType:
    """The HAProxy runtime client (command, admin_states, stats, set_state, ...)."""
    return module_utils("haproxy")


def readiness() -> ModuleType:
    """The readiness check of new containers (wait_ready, http_status, healthy)."""
    return module_utils("readiness")


def _load(path: Path) -> ModuleType:
    name = f"sws_collection_{path.stem}_{abs(hash(str(path)))}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[name] = module
    return module
