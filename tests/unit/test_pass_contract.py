"""What reconcile.yml's first play needs from the host contract reaches it inside sws_pass.

A run's inventory has no group_vars (swsagent/runner.py), so every variable that the two
container task files (roles/sws_proxy and roles/sws_loadbalancer, tasks_from: container) and
the role defaults they use reference must resolve from playbooks/vars/pass.yml (which reads
only sws_pass), from the include's own vars, or from role defaults that resolve to those. The
values are checked against what the bootstrap gets from group_vars (sws.yml and images.yml):
a recreated container is the one the bootstrap made.

Rendered with plain Jinja2 and the few Ansible filters these templates use, not through
Ansible: running the play needs Docker and the host's control plane, which unit tests leave
alone (the revive e2e test, tests/e2e/test_agent_faults.py, runs it for real).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import jinja2
import pytest
import yaml

from swsagent.config import config_from_mapping
from swsagent.passvars import PassVars
from swsagent.runner import PlaybookRun, _write_private_inventory
from tests.fixtures.contract import REPO, in_repo

ROLES = {
    "sws_proxy": {"sws_proxy_names": ["{{ inventory_hostname }}"]},  # reconcile.yml's vars:
    "sws_loadbalancer": {},
}
ANSIBLE_NAMES = {"item", "inventory_hostname"}
FILTERS = {
    "bool": lambda v: v if isinstance(v, bool) else str(v).lower() in ("1", "true", "yes"),
    "dirname": os.path.dirname,
    "regex_replace": lambda v, pattern, repl: re.sub(pattern, repl, v),
}


def _yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) or {}


class Layers(Mapping):
    """Variables as Ansible looks them up: the first layer that has a name wins, and a value
    that is a template is rendered, lazily, against the same layers."""

    def __init__(self, env: jinja2.Environment, *layers: dict):
        self.env, self.layers = env, layers

    def __getitem__(self, name):
        for layer in self.layers:
            if name in layer:
                return self.render(layer[name])
        raise KeyError(name)

    def __iter__(self):
        return iter({k for layer in self.layers for k in layer})

    def __len__(self):
        return len(set(self))

    def render(self, value):
        if isinstance(value, list):
            return [self.render(v) for v in value]
        if isinstance(value, dict):
            return {k: self.render(v) for k, v in value.items()}
        if not (isinstance(value, str) and "{{" in value):
            return value
        template = self.env.from_string(value)
        text = template.root_render_func(template.new_context(self, shared=True))
        out = "".join(text)
        return yaml.safe_load(out) if out.startswith(("[", "{")) else out


def _env() -> jinja2.Environment:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.filters.update(FILTERS)
    return env


TASK_KEYS = {"name", "loop", "when", "loop_control", "register"}


def _container_values(role: str, *layers: dict) -> list:
    """Each task's module arguments, condition and loop in the container task file, every
    template rendered."""
    env = _env()
    defaults = _yaml(REPO / "roles" / role / "defaults" / "main.yml")
    facts = {"inventory_hostname": "sws-proxy-1", "item": "sws-proxy-1"}
    variables = Layers(env, facts, ROLES[role], *layers, defaults)
    values = []
    for task in _yaml_list(REPO / "roles" / role / "tasks" / "container.yml"):
        (module,) = [key for key in task if key not in TASK_KEYS]
        when = task.get("when")
        values += [
            variables.render(task[module]),
            variables.render(task.get("loop", "")),
            variables.render("{{ " + when + " }}") if when else "",
        ]
    return values


def _yaml_list(path: Path) -> list:
    return yaml.safe_load(path.read_text()) or []


def _pass_vars(settings: Path | None = None) -> dict:
    raw = {"database_url": "x", **({"host_settings": str(settings)} if settings else {})}
    config = config_from_mapping(in_repo(raw))
    what = PassVars.for_pass(config, revive=[], deploy=[], roll=[], retire=[], routes={})
    return what.as_extravars()


def _group_vars(settings: Path | None = None) -> dict:
    """What the bootstrap's plays see: sws.yml, images.yml, then the host's settings."""
    found = {}
    for path in sorted((REPO / "inventory" / "group_vars" / "all").glob("*.yml")):
        found.update(_yaml(path))
    return {**found, **(_yaml(settings) if settings else {})}


@pytest.mark.parametrize("role", sorted(ROLES))
@pytest.mark.parametrize("offline", [False, True])
def test_the_container_tasks_resolve_from_sws_pass_alone(role, offline, tmp_path):
    settings = tmp_path / "agent-host.yml"
    settings.write_text(f"sws_offline_images: {str(offline).lower()}\n")
    pass_yml = _yaml(REPO / "playbooks" / "vars" / "pass.yml")
    # No group_vars layer: an undefined variable raises (StrictUndefined).
    from_pass = _container_values(role, _pass_vars(settings), pass_yml)
    from_group_vars = _container_values(role, _group_vars(settings))
    assert from_pass == from_group_vars
    assert ("sws-local/" in str(from_pass)) is offline  # the image follows the host's mode


def test_pass_yml_reads_only_sws_pass():
    pass_yml = (REPO / "playbooks" / "vars" / "pass.yml").read_text()
    names = set(re.findall(r"{{\s*([a-z_]+)", pass_yml))
    assert names == {"sws_pass"}


def test_a_run_inventory_has_no_group_vars(tmp_path):
    run = PlaybookRun(playbook="reconcile.yml", inventory_text="all: {}\n", limit=[])
    inventory = _write_private_inventory(tmp_path, run)
    assert sorted(p.name for p in (tmp_path / "inventory").iterdir()) == ["hosts.yml"]
    assert inventory.read_text() == "all: {}\n"
