"""swsctl's stack commands against a real apiserver and PostgreSQL (issue 24): a multi-document
apply, all or none; stack, stop, start, delete --stack; another user sees none of it."""

from __future__ import annotations

import json

import yaml

from tests.integration import test_cli_commands as cli
from tests.integration.test_cli_commands import AgentStandIn, store, swsctl

# test_cli_commands' fixtures: a live apiserver for the module and a fresh user per test.
api, user, other_user = cli.api, cli.user, cli.other_user

INVALID, NOT_FOUND, CONFLICT = 2, 5, 6


def shop(account, **db) -> list[dict]:
    """A web front with the user's domain and a private database, in the stack shop."""
    front = {
        "name": account.service_name("front"),
        "port": 8080,
        "domain": account.domain("front"),
        "image": "nginx:1.25",
        "stack": "shop",
    }
    base = {
        "name": account.service_name("db"),
        "port": 5432,
        "image": "postgres:16",
        "volumeMount": "/data",
        "stack": "shop",
        **db,
    }
    return [{"apiVersion": "v1", "spec": front}, {"apiVersion": "v1", "spec": base}]  # fmt: skip


def services(api, account) -> list[str]:
    rows = store(
        api,
        "SELECT s.name FROM services s JOIN users u ON u.id = s.owner_id WHERE u.name = %s"
        " ORDER BY s.name",
        account.name,
    )
    return [name for (name,) in rows]


def test_a_file_of_documents_applies_all_and_the_stack_shows_them(api, user, tmp_path):
    path = tmp_path / "shop.yaml"
    path.write_text(yaml.safe_dump_all(shop(user), sort_keys=False))
    front, db = user.service_name("front"), user.service_name("db")
    with AgentStandIn(api, front, lambda agent, name: agent.mark_running(name)):
        with AgentStandIn(api, db, lambda agent, name: agent.mark_running(name)):
            result = swsctl(["apply", str(path), "--wait", "--timeout", "20"], user.env)
    assert result.exit_code == 0, result.output
    assert f"service/{front} created (generation 1)" in result.output
    assert f"service/{db} running (generation 1)" in result.output
    listed = swsctl(["ls"], user.env).output.splitlines()
    assert listed[0].split()[:3] == ["NAME", "STACK", "DOMAIN"]
    assert [line.split()[:3] for line in listed[1:]] == [
        [db, "shop", "-"],
        [front, "shop", user.domain("front")],
    ]
    table = swsctl(["stack", "shop"], user.env)
    assert table.exit_code == 0 and table.output.split()[:4] == [
        "SERVICE",
        "STATUS",
        "DOMAIN",
        "LAST",
    ]
    as_json = json.loads(swsctl(["stack", "shop", "-o", "json"], user.env).output)
    assert [(s["name"], s["status"], s["domain"]) for s in as_json["services"]] == [
        (db, "running", None), (front, "running", user.domain("front")),
    ]  # fmt: skip


def test_one_invalid_document_sends_nothing_and_names_its_line(api, user, tmp_path):
    path = tmp_path / "shop.yaml"
    path.write_text(yaml.safe_dump_all(shop(user, port=0), sort_keys=False))
    result = swsctl(["apply", str(path)], user.env)
    assert result.exit_code == INVALID
    assert f"{path} (document 2)" in result.output and "spec.port (line 12)" in result.output
    assert services(api, user) == []


def test_a_conflict_the_server_finds_stores_nothing_and_names_the_file(
    api, user, other_user, tmp_path
):
    taken = tmp_path / "taken.yaml"
    mine = shop(other_user)[0]
    mine["spec"]["domain"] = user.domain("front")
    taken.write_text(yaml.safe_dump(mine))
    assert swsctl(["apply", str(taken)], other_user.env).exit_code == 0
    (tmp_path / "app").mkdir()
    for index, document in enumerate(shop(user)):
        (tmp_path / "app" / f"{index}.json").write_text(json.dumps(document, indent=1))
    result = swsctl(["apply", str(tmp_path / "app")], user.env)
    assert result.exit_code == CONFLICT
    assert f"{tmp_path / 'app' / '0.json'}: spec.domain (line 6)" in result.output
    assert services(api, user) == []


def test_stop_start_and_delete_a_stack_and_another_user_cannot(api, user, other_user, tmp_path):
    path = tmp_path / "shop.json"
    path.write_text(json.dumps(shop(user)))
    assert swsctl(["apply", str(path)], user.env).exit_code == 0
    for args in (["stack", "shop"], ["stop", "--stack", "shop"], ["start", "--stack", "shop"],
                 ["delete", "--stack", "shop"], ["stop", user.service_name("db")]):  # fmt: skip
        result = swsctl(args, other_user.env)
        assert result.exit_code == NOT_FOUND, (args, result.output)
    db = user.service_name("db")
    assert swsctl(["stop", db], user.env).output.strip() == f"service/{db} stopped"
    assert "already stopped" in swsctl(["stop", db], user.env).output
    stopping = swsctl(["stop", "--stack", "shop"], user.env).output
    assert stopping.count("(stopping)") == 2
    assert swsctl(["start", db], user.env).output.strip() == f"service/{db} started"
    assert swsctl(["stop"], user.env).exit_code == INVALID  # neither NAME nor --stack
    result = swsctl(["delete", "--stack", "shop", "--purge"], user.env)
    assert result.exit_code == 0 and "2 services marked for deletion" in result.output
    statuses = store(api, "SELECT status FROM services WHERE name LIKE %s", f"%-{user.name}")
    assert set(statuses) == {("deleting",)}
