"""Every swsctl command explains itself: help text with an example, and the exit codes."""

import click
import pytest
from click.testing import CliRunner

from swsctl.cli import EPILOG, main


def all_commands():
    return sorted(main.commands)


def test_the_commands_the_issue_asks_for_exist():
    assert {"configure", "apply", "delete", "ls", "get", "status"} <= set(main.commands)
    assert {"history", "rollback", "restart"} <= set(main.commands)


@pytest.mark.parametrize("name", all_commands())
def test_every_command_has_help_with_an_example(name):
    result = CliRunner().invoke(main, [name, "--help"], prog_name="swsctl")
    assert result.exit_code == 0, result.output
    assert f"Usage: swsctl {name}" in result.output
    assert "Example" in result.output
    # The example is a real invocation of this very command (status is get's alias).
    command_word = "get" if name == "status" else name
    assert f"swsctl {command_word}" in result.output
    assert main.commands[name].help.strip()


@pytest.mark.parametrize("name", all_commands())
def test_every_command_has_a_short_help_line(name):
    command = main.commands[name]
    assert command.get_short_help_str(80).strip()


def test_top_level_help_lists_every_exit_code():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "Example" in result.output
    for code in range(7):
        assert f"\n    {code}  " in result.output, f"exit code {code} is not documented"
    assert "Exit codes:" in EPILOG


def test_status_is_an_alias_of_get():
    assert main.commands["status"] is main.commands["get"]


def test_no_command_is_left_without_help():
    ctx = click.Context(main)
    for name in main.list_commands(ctx):
        assert main.get_command(ctx, name).help, name


def test_every_kind_of_failure_has_its_documented_exit_code():
    from swsctl import errors
    from swsctl.cli import failure

    expected = {
        errors.InvalidInput: 2,
        errors.InvalidDefinition: 2,
        errors.NotConfigured: 3,
        errors.Unauthorized: 3,
        errors.Unreachable: 4,
        errors.NotFound: 5,
        errors.Conflict: 6,
        errors.ServerError: 1,
        errors.WaitFailed: 1,
        errors.WaitTimedOut: 1,
    }
    kinds = {
        k for k in vars(errors).values() if isinstance(k, type) and issubclass(k, errors.SwsError)
    }
    assert kinds - {errors.SwsError} == set(expected), "a new failure kind needs an exit code"
    for kind, code in expected.items():
        err = kind("x", []) if kind is errors.InvalidDefinition else kind("boom")
        assert failure(err).exit_code == code, kind.__name__
