"""roles/sws_agent's agent.yml as the bootstrap writes it (Ansible's own templar and filters,
sws.yml and the role's defaults), read back by the agent: the role's sws_agent_swarm becomes
agent.yml's swarm section, the manager's socket this host's engine unless it says otherwise;
empty, there is none. The role's check of the swarm settings is evaluated as Ansible would."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from swsagent.config import config_from_mapping
from swsagent.swarm.settings import SwarmSettings

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles/sws_agent"


def templar(**overrides) -> Templar:
    values: dict = {}
    for path in sorted((ROOT / "inventory/group_vars/all").glob("*.yml")):
        values.update(yaml.safe_load(path.read_text()) or {})
    values.update(yaml.safe_load((ROLE / "defaults/main.yml").read_text()))
    values.update(ansible_managed="test", sws_agent_database_url="postgresql://sws@db/sws")
    values.update(overrides)
    return Templar(loader=DataLoader(), variables=trusted(values))


def trusted(value):
    """Values as Ansible holds those it read from the inventory and the role: templates."""
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, dict):
        return {k: trusted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [trusted(v) for v in value]
    return value


def agent_yml(**overrides) -> dict:
    text = (ROLE / "templates/agent.yml.j2").read_text()
    written = yaml.safe_load(templar(**overrides).template(trust_as_template(text)))
    # Read back here: this checkout's sws.yml, no host settings file.
    return {**written, "project_dir": str(ROOT), "host_settings": None}


def role_check(**overrides) -> bool:
    tasks = yaml.safe_load((ROLE / "tasks/main.yml").read_text())
    (check,) = [t for t in tasks if t["name"] == "Check the agent's swarm settings"]
    found = templar(**overrides)
    return all(
        found.evaluate_conditional(trust_as_template(c))
        for c in check["ansible.builtin.assert"]["that"]
    )


def test_without_a_swarm_agent_yml_has_no_swarm_section():
    written = agent_yml()
    assert "swarm" not in written
    assert config_from_mapping({**written, "host_settings": None}).swarm is None


def test_sws_agent_swarm_becomes_the_agents_swarm_settings():
    written = agent_yml(
        sws_agent_swarm={"report_image": "sws-swarm-report:bookworm", "executor": True}
    )
    config = config_from_mapping({k: v for k, v in written.items() if v is not None})
    assert config.swarm == SwarmSettings(
        manager_socket="/var/run/docker.sock",
        report_image="sws-swarm-report:bookworm",
        executor=True,
    )
    other = agent_yml(sws_agent_swarm={"report_image": "r", "manager_socket": "/run/m.sock"})
    assert other["swarm"] == {"manager_socket": "/run/m.sock", "report_image": "r"}


@pytest.mark.parametrize(
    ("swarm", "network", "passes"),
    [
        ({}, "host", True),
        ({"report_image": "r"}, "host", True),  # the nodes step alone: the proxies stay
        ({"report_image": "r", "executor": True}, "sws-edge", True),
        ({"report_image": "r", "executor": True}, "host", False),
        ("executor", "sws-edge", False),
    ],
)
def test_the_role_refuses_the_executor_with_proxies_in_the_hosts_namespace(swarm, network, passes):
    assert role_check(sws_agent_swarm=swarm, sws_proxy_network=network) is passes
