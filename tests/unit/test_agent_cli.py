"""sws-agent's command line and its settings file: help everywhere, clear errors, no tracebacks."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from swsagent.cli import main_group
from swsagent.config import AgentConfigError, config_from_mapping, load_config
from tests.fixtures.contract import REPO, in_repo


@pytest.mark.parametrize(
    "command",
    [[], ["run"], ["watch"], ["pause"], ["resume"], ["status"], ["logship"], ["firewall"]],
)
def test_every_command_has_help_with_an_example(command):
    result = CliRunner().invoke(main_group, [*command, "--help"])
    assert result.exit_code == 0
    assert "Example: sws-agent" in result.output


def test_a_missing_config_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(main_group, ["run", "--config", str(tmp_path / "nope.yml")])
    assert result.exit_code == 1
    assert "cannot read the agent config" in result.output
    assert "Traceback" not in result.output


def test_config_reads_the_settings_and_the_names(tmp_path):
    path = tmp_path / "agent.yml"
    password = tmp_path / "pw"
    password.write_text("s3cret/+\n")
    path.write_text(
        "database_url: postgresql://sws@127.0.0.1:5432/sws\n"
        f"database_password_file: {password}\n"
        "ready_timeout: 5\n"
        "names: {proxies: [p1], label_prefix: t}\n"
        f"project_dir: {REPO}\n"
    )
    config = load_config(path)
    assert config.database_url == "postgresql://sws:s3cret%2F%2B@127.0.0.1:5432/sws"
    assert config.ready_timeout == 5.0
    assert config.names.proxies == ("p1",)
    assert config.names.label_prefix == "t"
    assert config.names.services_network == "sws-services"


@pytest.mark.parametrize(
    "raw, message",
    [
        ({}, "database_url is required"),
        ({"database_url": "x", "colour": "blue"}, "unknown setting(s) colour"),
        ({"database_url": "x", "ready_timeout": "soon"}, "ready_timeout must be a number"),
        ({"database_url": "x", "names": {"nope": 1}}, "unknown name(s) nope"),
        ({"database_url": "x", "service_memory": "lots"}, "service_memory must be a memory"),
        ({"database_url": "x", "service_cpus": "all"}, "service_cpus must be a number of CPUs"),
        ({"database_url": "x", "service_pids": "many"}, "service_pids must be a number"),
    ],
)
def test_bad_settings_name_the_key(raw, message):
    with pytest.raises(AgentConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        config_from_mapping(in_repo(raw))


def test_config_reads_the_containment_of_service_containers():
    config = config_from_mapping(
        in_repo(
            {
                "database_url": "x",
                "service_memory": "512Mi",
                "service_cpus": 1.50,
                "service_pids": 99,
            }
        )
    )
    assert (config.containment.memory, config.containment.cpus) == (512 * 2**20, "1.5")
    assert config.containment.pids == 99
    default = config_from_mapping(in_repo({"database_url": "x"})).containment
    assert (default.memory, default.cpus, default.pids) == (256 * 2**20, "0.5", 256)


def test_the_agents_default_containment_is_the_bootstraps():
    # render falls back to Containment() when it is handed none: it must be sws.yml's.
    from pathlib import Path

    import yaml

    from swsagent.config import Containment
    from swsapi.config import Config

    sws = yaml.safe_load(
        (Path(__file__).parents[2] / "inventory/group_vars/all/sws.yml").read_text()
    )
    raw = {
        "database_url": "x",
        "service_memory": sws["sws_default_service_memory"],
        "service_cpus": sws["sws_default_service_cpus"],
        "service_pids": sws["sws_default_service_pids"],
    }
    assert config_from_mapping(in_repo(raw)).containment == Containment()
    config = Config(
        {
            "SWS_MAX_MEMORY": sws["sws_max_service_memory"],
            "SWS_MAX_CPUS": sws["sws_max_service_cpus"],
            "SWS_SERVICE_QUOTA": str(sws["sws_service_quota"]),
            "SWS_MAX_REPLICAS": str(sws["sws_max_service_replicas"]),
        }
    )
    defaults = Config({})
    assert (
        config.SWS_MAX_MEMORY,
        config.SWS_MAX_CPUS,
        config.SWS_SERVICE_QUOTA,
        config.SWS_MAX_REPLICAS,
    ) == (
        defaults.SWS_MAX_MEMORY,
        defaults.SWS_MAX_CPUS,
        defaults.SWS_SERVICE_QUOTA,
        defaults.SWS_MAX_REPLICAS,
    )


def test_a_repeated_message_is_written_once_then_counted(tmp_path):
    import logging

    from swsagent import logs

    path = tmp_path / "agent.log"
    logs.setup(False, str(path))
    log = logging.getLogger("sws.agent")
    for i in range(5):
        log.info("pass %d failed in %.2fs: problem='docker is down'", i, 1.5 + i)
    log.info("pass 9 noop in 0.10s")
    for handler in logging.getLogger().handlers:
        handler.close()
    logging.getLogger().handlers.clear()
    lines = path.read_text().splitlines()
    assert len(lines) == 2
    assert "pass 0 failed" in lines[0]
    assert "(the previous message repeated 4 more times) pass 9 noop" in lines[1]
