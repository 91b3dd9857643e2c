"""swsctl history, rollback, restart and apply --force against a real apiserver and store."""

from __future__ import annotations

import json

import pytest
import yaml

from swsctl.output import MASK
from tests.fixtures.store import Store
from tests.integration.test_cli_commands import (
    Account,
    agent_reports_running,
    new_account,
    store,
    swsctl,
    write_definition,
    writer,
)
from tests.integration.test_cli_commands import api as api  # noqa: F401  (a fixture)


@pytest.fixture
def user(api, tmp_path) -> Account:
    return new_account(api, tmp_path, prefix="h")


@pytest.fixture
def other_user(api, tmp_path) -> Account:
    return new_account(api, tmp_path, prefix="ho")


@pytest.fixture
def three_generations(user, tmp_path) -> str:
    """The user's service web-<user> applied as images 1.0, 1.1 and 1.2."""
    for tag in ("1.0", "1.1", "1.2"):
        path = write_definition(tmp_path / "web.yaml", user, image=f"registry.example.com/w:{tag}")
        assert swsctl(["apply", path], user.env).exit_code == 0
    return user.service_name()


def test_history_table_lists_generations_newest_first_marking_the_current(user, three_generations):
    result = swsctl(["history", three_generations], user.env)
    assert result.exit_code == 0, result.output
    header, *rows = result.output.strip().splitlines()
    assert header.split() == ["GENERATION", "AGE", "CAUSE", "IMAGE", "DOMAIN", "PORT"]
    assert [row.split()[0] for row in rows] == ["3", "2", "1"]
    assert rows[0].split()[1] == "(current)"
    assert "registry.example.com/w:1.2" in rows[0] and "registry.example.com/w:1.0" in rows[2]
    assert "hunter2" not in result.output


@pytest.mark.parametrize("fmt, load", [("json", json.loads), ("yaml", yaml.safe_load)])
def test_history_for_scripts_masks_env_unless_asked(user, three_generations, fmt, load):
    masked = load(swsctl(["history", three_generations, "-o", fmt], user.env).stdout)
    assert [g["generation"] for g in masked["generations"]] == [3, 2, 1]
    assert {e["value"] for g in masked["generations"] for e in g["spec"]["env"]} == {MASK}
    shown = load(
        swsctl(["history", three_generations, "-o", fmt, "--show-secrets"], user.env).stdout
    )
    assert "hunter2-secret" in {e["value"] for g in shown["generations"] for e in g["spec"]["env"]}


def test_rollback_goes_to_the_previous_spec_then_to_a_named_one(user, three_generations):
    name = three_generations
    result = swsctl(["rollback", name], user.env)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"service/{name} rolled back to the spec of generation 2 " + (
        "(generation 4)"
    )
    again = swsctl(["rollback", name, "--to", "1"], user.env)
    assert "generation 1 (generation 5)" in again.output
    table = swsctl(["history", name], user.env).output
    assert "rollback to 1" in table and "rollback to 2" in table
    images = store(user.api, "SELECT spec->>'image' FROM services WHERE name = %s", name)
    assert images == [("registry.example.com/w:1.0",)]


def test_rollback_with_wait_follows_the_new_generation(user, three_generations):
    with agent_reports_running(user.api, three_generations):
        result = swsctl(["rollback", three_generations, "--wait"], user.env)
    assert result.exit_code == 0, result.output
    assert f"service/{three_generations} running (generation 4)" in result.output


def test_rollback_to_a_generation_not_kept_is_exit_5_pointing_at_history(user, three_generations):
    result = swsctl(["rollback", three_generations, "--to", "3"], user.env)
    assert result.exit_code == 0 and "unchanged" in result.output
    newer = swsctl(["rollback", three_generations, "--to", "9"], user.env)
    assert newer.exit_code == 2 and "newer than" in newer.output
    zero = swsctl(["rollback", three_generations, "--to", "0"], user.env)
    assert zero.exit_code == 2  # refused by click before anything is sent
    # Generation 1 falls out of the kept window: a new generation where three are kept.
    with Store.open(user.api.database_url, SWS_HISTORY_KEPT="3") as keeps_three:
        assert keeps_three.restart(user.name, three_generations).generation == 4
    gone = swsctl(["rollback", three_generations, "--to", "1"], user.env)
    assert gone.exit_code == 5
    assert f"`swsctl history {three_generations}` lists the kept generations" in gone.output


def test_another_users_service_has_no_history_for_you(user, other_user, three_generations):
    for args in (["history"], ["rollback"], ["restart"]):
        result = swsctl([*args, three_generations], other_user.env)
        assert result.exit_code == 5, (args, result.output)


def test_a_service_with_one_generation_cannot_roll_back(user, tmp_path):
    path = write_definition(tmp_path / "web.yaml", user)
    swsctl(["apply", path], user.env)
    result = swsctl(["rollback", user.service_name()], user.env)
    assert result.exit_code == 6
    assert "no earlier generation" in result.output


def test_apply_force_and_restart_make_new_generations_unchanged_stays_unchanged(user, tmp_path):
    path = write_definition(tmp_path / "web.yaml", user)
    name = user.service_name()
    swsctl(["apply", path], user.env)
    assert swsctl(["apply", path], user.env).output.strip() == (
        f"service/{name} unchanged (generation 1)"
    )
    forced = swsctl(["apply", "--force", path], user.env)
    assert forced.output.strip() == f"service/{name} restarted (generation 2)"
    writer(user.api).mark_failed(name, "boom")
    with agent_reports_running(user.api, name):
        restarted = swsctl(["restart", name, "--wait"], user.env)
    assert restarted.exit_code == 0, restarted.output
    assert f"service/{name} restarted (generation 3)" in restarted.output
    assert f"service/{name} running (generation 3)" in restarted.output
    causes = store(
        user.api,
        "SELECT g.generation, g.cause FROM service_generations g JOIN services s"
        " ON s.id = g.service_id WHERE s.name = %s ORDER BY 1",
        name,
    )
    assert causes == [(1, "apply"), (2, "restart"), (3, "restart")]
    assert swsctl(["restart", "nope"], user.env).exit_code == 5
