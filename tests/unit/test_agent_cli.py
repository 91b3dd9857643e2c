"""sws-agent's command line and its settings file: help everywhere, clear errors, no tracebacks."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from swsapi.agent.cli import main_group
from swsapi.agent.config import AgentConfigError, config_from_mapping, load_config


@pytest.mark.parametrize("command", [[], ["run"], ["watch"], ["pause"], ["resume"], ["status"]])
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
    ],
)
def test_bad_settings_name_the_key(raw, message):
    with pytest.raises(AgentConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        config_from_mapping(raw)


def test_a_repeated_message_is_written_once_then_counted(tmp_path):
    import logging

    from swsapi.agent import logs

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
