"""`sws-apiserver`: users create/revoke/token and db upgrade, run as the console script."""

import os
import subprocess
import sys

import click
import pytest

from swsapi.cli import cli

SCRIPT = os.path.join(os.path.dirname(sys.executable), "sws-apiserver")


def run(database_url: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [SCRIPT, *args],
        env={**os.environ, "SWS_DATABASE_URL": database_url, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_users_create_prints_only_the_token(migrated_database_url, client):
    result = run(migrated_database_url, "users", "create", "alice")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("sws_") and len(lines[0]) == 47
    headers = {"Authorization": f"Bearer {lines[0]}"}
    assert client.get("/v1/whoami", headers=headers).get_json() == {
        "name": "alice",
        "admin": False,
    }


def test_users_create_admin(migrated_database_url, client):
    token = run(migrated_database_url, "users", "create", "root", "--admin").stdout.strip()
    response = client.get("/v1/whoami", headers={"Authorization": f"Bearer {token}"})
    assert response.get_json()["admin"] is True


def test_users_create_refuses_a_duplicate_or_bad_name(migrated_database_url):
    assert run(migrated_database_url, "users", "create", "alice").returncode == 0
    again = run(migrated_database_url, "users", "create", "alice")
    assert again.returncode == 1 and again.stdout == ""
    assert "user alice already exists" in again.stderr
    bad = run(migrated_database_url, "users", "create", "Alice Smith")
    assert bad.returncode == 1 and "must be lowercase" in bad.stderr
    assert "Traceback" not in again.stderr + bad.stderr


def test_users_revoke_then_token(migrated_database_url, client):
    old = run(migrated_database_url, "users", "create", "alice").stdout.strip()
    revoked = run(migrated_database_url, "users", "revoke", "alice")
    assert revoked.returncode == 0
    assert revoked.stdout == "" and "revoked 1 token(s) of alice" in revoked.stderr
    assert client.get("/v1/whoami", headers={"Authorization": f"Bearer {old}"}).status_code == 401
    new = run(migrated_database_url, "users", "token", "alice").stdout.strip()
    assert client.get("/v1/whoami", headers={"Authorization": f"Bearer {new}"}).status_code == 200
    missing = run(migrated_database_url, "users", "revoke", "nobody")
    assert missing.returncode == 1 and "no user nobody" in missing.stderr


def test_db_upgrade_migrates_an_empty_database(database_url):
    result = run(database_url, "db", "upgrade")
    assert result.returncode == 0, result.stderr
    current = run(database_url, "db", "current")
    assert "(head)" in current.stdout


def test_a_bad_setting_is_a_clear_error(database_url):
    result = run(database_url, "users", "create", "alice", SWS_WORKERS="many")
    assert result.returncode == 1
    assert "SWS_WORKERS must be a whole number, not 'many'" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_gives_up_clearly_when_the_database_never_answers():
    result = run(
        "postgresql://sws:sws@127.0.0.1:1/sws", "serve", "--wait", "0", SWS_DB_CONNECT_TIMEOUT="1"
    )
    assert result.returncode == 1
    assert "database unavailable" in result.stderr and "Traceback" not in result.stderr


def walk(group: click.Group, prefix=""):
    # The group's own commands; listing through FlaskGroup would load the app for `db`.
    for name, command in group.commands.items():
        yield f"{prefix}{name}", command
        if isinstance(command, click.Group):
            yield from walk(command, f"{prefix}{name} ")


def test_every_own_command_has_help_with_an_example():
    commands = dict(walk(cli))
    assert set(commands) == {
        "serve", "users", "users create", "users revoke", "users token", "users quota"
    }  # fmt: skip
    for name, command in commands.items():
        assert command.help, name
        if not isinstance(command, click.Group):
            assert "Example:" in command.help, name


@pytest.mark.parametrize("args", [["--help"], ["users", "--help"], ["serve", "--help"]])
def test_help_needs_no_database(args):
    result = run("postgresql://nobody@127.0.0.1:1/none", *args)
    assert result.returncode == 0 and "Usage:" in result.stdout


def test_help_lists_the_migration_commands():
    result = run("postgresql://nobody@127.0.0.1:1/none", "--help")
    assert "db " in result.stdout and "Perform database migrations" in result.stdout
