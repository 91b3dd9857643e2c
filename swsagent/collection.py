"""The sws.host collection's shared code (plugins/module_utils, standard library only), imported
as the package Ansible imports it: `ansible_collections.sws.host.plugins.module_utils.<name>`.

`ansible_collections` is a namespace package (the `ansible` distribution installs its
collections under the same name), so the project's `playbooks/collections` joins it on
sys.path. The collection's plugins, the agent, the benches and the tests thus run the same
files: one Engine API client (engine.py), one HAProxy runtime client (haproxy.py), one
readiness check (readiness.py), not a copy on each side.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

COLLECTIONS = Path("playbooks/collections")
PACKAGE = "ansible_collections.sws.host.plugins.module_utils"
# A checkout (tests, benches): the repository this package lives in.
_CHECKOUT = Path(__file__).resolve().parents[1]


def use(project_dir) -> None:
    """Import the collection from this project (the agent's copy of playbooks/)."""
    path = str(Path(project_dir) / COLLECTIONS)
    if path not in sys.path:
        sys.path.insert(0, path)


def module_utils(name: str) -> ModuleType:
    """One module of plugins/module_utils, by its name."""
    if not any(Path(p, "ansible_collections", "sws").is_dir() for p in sys.path if p):
        use(_CHECKOUT)
    return importlib.import_module(f"{PACKAGE}.{name}")


def haproxy() -> ModuleType:
    """The HAProxy runtime client (command, admin_states, stats, set_state, ...)."""
    return module_utils("haproxy")


def readiness() -> ModuleType:
    """The readiness check of new containers (wait_ready, http_status, healthy)."""
    return module_utils("readiness")


def engine() -> ModuleType:
    """The Docker Engine API client (Engine, EngineError)."""
    return module_utils("engine")
