"""swsctl's commands against a real apiserver (gunicorn) backed by a real PostgreSQL.

The agent is another part (issue: sws-agent); here nothing runs it, so where a test needs
the agent's verdict (running, failed, removed) a stand-in thread writes it into the store
with the agent's own record functions (tests/fixtures/store.py).
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg2
import pytest
import yaml
from click.testing import CliRunner

from swsctl.cli import main
from swsctl.output import MASK
from tests.fixtures.postgres import free_port
from tests.fixtures.store import Store
from tests.integration.conftest import LiveApi, start_live_api, stop_live_api

DATA = Path(__file__).parent.parent / "data"
RESERVED_DOMAIN = "api.sws.test"
_serial = itertools.count(1)


# Fixtures ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api(pg_server, migrated_template, request):
    """One live apiserver for the module (starting one per test would triple the run time).

    Tests stay independent because each one works as its own fresh user: services are
    per-user, and names and domains carry the user's name.
    """
    module = request.module.__name__.rsplit(".", 1)[-1]
    live = start_live_api(
        pg_server.create_database(f"t_{module}", template=migrated_template),
        SWS_RESERVED_DOMAINS=RESERVED_DOMAIN,
    )
    yield live
    stop_live_api(live)


@dataclass
class Account:
    """A user on the live API, and the environment a CLI run as that user gets."""

    name: str
    token: str
    home: Path
    api: LiveApi = field(repr=False)

    @property
    def url(self) -> str:
        return self.api.url

    @property
    def env(self) -> dict:
        return {
            "SWS_URL": self.url,
            "SWS_TOKEN": self.token,
            "SWS_CA_CERT": None,
            "SWS_CONFIG": None,
            "XDG_CONFIG_HOME": str(self.home),
            "SWS_WAIT_INTERVAL": "0.1",
        }

    def service_name(self, base: str = "web") -> str:
        return f"{base}-{self.name}"

    def domain(self, base: str = "web") -> str:
        return f"{base}.{self.name}.test"


def new_account(api, tmp_path: Path, prefix: str = "u") -> Account:
    name = f"{prefix}{next(_serial)}-{os.getpid() % 1000}"
    home = tmp_path / f"xdg-{name}"
    home.mkdir()
    return Account(name=name, token=api.create_user(name), home=home, api=api)


@pytest.fixture
def user(api, tmp_path) -> Account:
    return new_account(api, tmp_path)


@pytest.fixture
def other_user(api, tmp_path) -> Account:
    return new_account(api, tmp_path, prefix="o")


def swsctl(args: list[str], env: dict, input: str | None = None):
    """Run one swsctl command in-process, as a user would type it."""
    result = CliRunner().invoke(
        main, args, env=env, input=input, catch_exceptions=False, prog_name="swsctl"
    )
    assert "Traceback" not in result.output
    return result


def definition_text(account: Account, base: str = "web", **spec) -> str:
    document = {
        "apiVersion": "v1",
        "spec": {
            "name": account.service_name(base),
            "port": 8080,
            "domain": account.domain(base),
            "image": "registry.example.com/team/web:1.0",
            "env": [
                {"name": "DB_PASSWORD", "value": "hunter2-secret"},
                {"name": "MODE", "value": "production"},
            ],
            **spec,
        },
    }
    return yaml.safe_dump(document, sort_keys=False)


def write_definition(path: Path, account: Account, base: str = "web", **spec) -> str:
    path.write_text(definition_text(account, base, **spec))
    return str(path)


# The agent stand-in --------------------------------------------------------------


def store(api, sql: str, *params) -> list[tuple]:
    """SQL on the store: reads for assertions, and the few writes neither the apiserver nor
    the agent can make (each says why)."""
    conn = psycopg2.connect(api.database_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def writer(api) -> Store:
    """The live API's store, written as the apiserver and the agent write it."""
    return Store(api.app, api.database_url)


class AgentStandIn(threading.Thread):
    """Writes the agent's verdicts into the store once the service reaches `when_status`.

    It waits for the CLI's change to land first, then runs each step (a function of the
    Store and the service's name, e.g. `Store.mark_running`) after a pause, so the CLI's
    --wait really sees the service go through every state, as with the agent.
    """

    def __init__(self, api, name: str, *steps: Callable, when_status: str = "pending"):
        super().__init__(daemon=True)
        self.api, self.name, self.steps = api, name, steps
        self.when_status = when_status
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                rows = store(self.api, "SELECT status FROM services WHERE name = %s", self.name)
                if rows and rows[0][0] == self.when_status:
                    break
                time.sleep(0.05)
            for step in self.steps:
                time.sleep(0.4)  # let the CLI look at least once at the state before
                step(writer(self.api), self.name)
        except BaseException as err:  # reported by the test, not lost in the thread
            self.error = err

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.join(30)
        assert self.error is None, self.error


def runs_and_logs(agent: Store, name: str) -> None:
    """The current generation went live and printed a line."""
    agent.mark_running(name)
    agent.ship_lines(name, ["listening on :8080"])


def agent_reports_running(api, name: str) -> AgentStandIn:
    return AgentStandIn(api, name, runs_and_logs)


# configure -----------------------------------------------------------------------


def config_file(account: Account) -> Path:
    return account.home / "swsctl" / "config.yaml"


def no_env_overrides(account: Account) -> dict:
    return {**account.env, "SWS_URL": None, "SWS_TOKEN": None}


def test_configure_checks_the_token_then_saves_it_0600(user):
    result = swsctl(["configure"], no_env_overrides(user), input=f"{user.url}\n{user.token}\n")
    assert result.exit_code == 0, result.output
    assert f"as {user.name}" in result.output
    assert user.token not in result.output  # typed hidden, never echoed
    path = config_file(user)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert yaml.safe_load(path.read_text()) == {"url": user.url, "token": user.token}
    # The saved configuration is what later commands use.
    assert swsctl(["whoami"], no_env_overrides(user)).output.startswith(user.name)


def test_configure_again_offers_the_saved_values_masked(user):
    env = no_env_overrides(user)
    swsctl(["configure"], env, input=f"{user.url}\n{user.token}\n")
    result = swsctl(["configure"], env, input="\n\n")  # Enter, Enter: keep both
    assert result.exit_code == 0, result.output
    assert f"[{user.url}]" in result.output
    assert f"sws_****{user.token[-4:]}" in result.output
    assert user.token not in result.output
    assert yaml.safe_load(config_file(user).read_text())["token"] == user.token


def test_configure_rewrites_a_broken_config_file(user):
    path = config_file(user)
    path.parent.mkdir(parents=True)
    path.write_text("url: [unclosed\n")
    result = swsctl(["configure"], no_env_overrides(user), input=f"{user.url}\n{user.token}\n")
    assert result.exit_code == 0, result.output
    assert "is not valid YAML" in result.stderr
    assert yaml.safe_load(path.read_text())["token"] == user.token


def test_configure_refuses_a_bad_token_and_saves_nothing(user):
    result = swsctl(["configure"], no_env_overrides(user), input=f"{user.url}\nsws_wrong\n")
    assert result.exit_code == 3
    assert "refused the access token" in result.output
    assert not config_file(user).exists()


def test_configure_refuses_an_unreachable_address_and_saves_nothing(user):
    dead = f"http://127.0.0.1:{free_port()}"
    result = swsctl(["configure", "--url", dead, "--token", user.token], no_env_overrides(user))
    assert result.exit_code == 4
    assert "cannot reach" in result.output
    assert not config_file(user).exists()


def test_configure_asks_again_for_an_address_without_a_scheme(user):
    address = user.url.removeprefix("http://")
    result = swsctl(
        ["configure"], no_env_overrides(user), input=f"{address}\n{user.url}\n{user.token}\n"
    )
    assert result.exit_code == 0, result.output
    assert "must start with http:// or https://" in result.output


# apply ---------------------------------------------------------------------------


def test_apply_creates_then_reports_unchanged_then_updated(user, tmp_path):
    path = write_definition(tmp_path / "web.yaml", user)
    name = user.service_name()
    first = swsctl(["apply", path], user.env)
    assert first.exit_code == 0, first.output
    assert first.output.strip() == f"service/{name} created (generation 1)"
    again = swsctl(["apply", path], user.env)
    assert again.output.strip() == f"service/{name} unchanged (generation 1)"
    write_definition(tmp_path / "web.yaml", user, image="registry.example.com/team/web:1.1")
    changed = swsctl(["apply", path], user.env)
    assert changed.exit_code == 0
    assert changed.output.strip() == f"service/{name} updated (generation 2)"
    assert store(user.api, "SELECT generation FROM services WHERE name = %s", name) == [(2,)]


def test_apply_reads_json_from_stdin(user):
    document = yaml.safe_load(definition_text(user))
    result = swsctl(["apply", "-"], user.env, input=json.dumps(document))
    assert result.exit_code == 0, result.output
    assert "created (generation 1)" in result.output


def test_the_seed_example_is_refused_naming_env_1_then_accepted_once_fixed(user, tmp_path):
    seed = (DATA / "seed-example.yaml").read_text()
    refused = swsctl(["apply", str(DATA / "seed-example.yaml")], user.env)
    assert refused.exit_code == 2
    assert "spec.env[1].bar (line 12): unknown field" in refused.output
    assert "spec.env[1].value (line 11): required field is missing" in refused.output
    # The fix and nothing else: this module's database is fresh and no other test here
    # uses the seed's name (service-name) or domain (example.com).
    fixed = seed.replace("      bar: bar", "      value: bar")
    changed = [a for a, b in zip(seed.splitlines(), fixed.splitlines(), strict=True) if a != b]
    assert changed == ["      bar: bar"]
    (tmp_path / "fixed.yaml").write_text(fixed)
    accepted = swsctl(["apply", str(tmp_path / "fixed.yaml")], user.env)
    assert accepted.exit_code == 0, accepted.output
    assert "created (generation 1)" in accepted.output


def test_the_servers_field_errors_are_printed_per_field_with_lines(user):
    """--no-validate skips the local check, so the server's own 400 is what the user sees."""
    result = swsctl(["apply", "--no-validate", str(DATA / "seed-example.yaml")], user.env)
    assert result.exit_code == 2
    assert f"the server refused {DATA / 'seed-example.yaml'}:" in result.stderr
    assert "  spec.env[1].bar (line 12): unknown field" in result.stderr
    assert "  spec.env[1].value (line 11): required field is missing" in result.stderr


def test_a_domain_taken_by_another_user_is_a_conflict_pointing_at_the_line(
    user, other_user, tmp_path
):
    theirs = write_definition(tmp_path / "theirs.yaml", other_user)
    assert swsctl(["apply", theirs], other_user.env).exit_code == 0
    mine = write_definition(tmp_path / "mine.yaml", user, domain=other_user.domain())
    result = swsctl(["apply", mine], user.env)
    assert result.exit_code == 6
    assert f"domain {other_user.domain()} is already used" in result.output
    assert "spec.domain (line 5)" in result.output


def test_a_name_taken_by_another_user_is_a_conflict(user, other_user, tmp_path):
    theirs = write_definition(tmp_path / "theirs.yaml", other_user)
    assert swsctl(["apply", theirs], other_user.env).exit_code == 0
    mine = write_definition(tmp_path / "mine.yaml", user, name=other_user.service_name())
    result = swsctl(["apply", mine], user.env)
    assert result.exit_code == 6
    assert "taken by another user" in result.output


def test_a_domain_only_the_server_knows_is_reserved_is_refused_with_its_line(user, tmp_path):
    """Local validation passes; the server's SWS_RESERVED_DOMAINS refuses it, per field."""
    path = write_definition(tmp_path / "web.yaml", user, domain=RESERVED_DOMAIN)
    result = swsctl(["apply", path], user.env)
    assert result.exit_code == 6
    assert f"{RESERVED_DOMAIN} is reserved" in result.output
    assert "spec.domain (line 5)" in result.output


# ls and get ----------------------------------------------------------------------


@pytest.fixture
def two_services(user, tmp_path):
    for base in ("api", "web"):
        path = write_definition(tmp_path / f"{base}.yaml", user, base=base)
        assert swsctl(["apply", path], user.env).exit_code == 0
    return [user.service_name("api"), user.service_name("web")]


def test_ls_table_has_name_stack_domain_image_status_age_and_no_env(user, two_services):
    result = swsctl(["ls"], user.env)
    assert result.exit_code == 0, result.output
    header, *rows = result.output.strip().splitlines()
    assert header.split() == [
        "NAME", "STACK", "DOMAIN", "IMAGE", "STATUS", "FOR", "REPLICAS", "RESTARTS", "AGE", "LAST",
        "LOG",
    ]  # fmt: skip
    image = "registry.example.com/team/web:1.0"
    assert [row.split()[:5] for row in rows] == [
        [two_services[0], "-", user.domain("api"), image, "pending"],
        [two_services[1], "-", user.domain("web"), image, "pending"],
    ]
    assert rows[0].split()[5].endswith("s")  # in its status for seconds
    assert rows[0].split()[6] == "0/1"  # replicas: none runs yet, one desired
    assert rows[0].split()[7] == "0"  # restarts
    assert rows[0].split()[8].endswith("s")  # age: created seconds ago
    assert "hunter2" not in result.output and "DB_PASSWORD" not in result.output


def test_ls_follows_the_pages_of_the_list(user, two_services, monkeypatch):
    from swsctl import client

    monkeypatch.setattr(client, "LIST_PAGE", 1)  # one service a page: two pages
    result = swsctl(["ls", "-o", "json"], user.env)
    assert result.exit_code == 0, result.output
    assert [s["name"] for s in json.loads(result.stdout)] == two_services


def test_apply_past_the_quota_exits_with_the_conflict_code(user, two_services, tmp_path):
    from swsapi.store import set_quota

    with user.api.app.app_context():
        set_quota(user.name, 2)
    path = write_definition(tmp_path / "third.yaml", user, base="third")
    result = swsctl(["apply", path], user.env)
    assert result.exit_code == 6, result.output
    assert "your quota is 2" in result.output


def test_ls_only_shows_the_callers_services(user, other_user, two_services):
    result = swsctl(["ls"], other_user.env)
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "No services yet" in result.stderr


@pytest.mark.parametrize("fmt, load", [("json", json.loads), ("yaml", yaml.safe_load)])
def test_ls_for_scripts_masks_env_unless_asked(user, two_services, fmt, load):
    masked = load(swsctl(["ls", "-o", fmt], user.env).stdout)
    assert [s["name"] for s in masked] == two_services
    assert {e["value"] for s in masked for e in s["spec"]["env"]} == {MASK}
    shown = load(swsctl(["ls", "-o", fmt, "--show-secrets"], user.env).stdout)
    assert {e["value"] for s in shown for e in s["spec"]["env"]} == {"hunter2-secret", "production"}
    assert "hunter2" not in json.dumps(masked)


def test_get_shows_spec_generations_status_message_and_log_masked(user, two_services):
    name = two_services[1]
    agent = writer(user.api)
    agent.mark_running(name, 1)
    agent.ship_lines(name, ["GET / 200"])
    # Raw SQL: no agent write leaves a message on a running service, and get must show one.
    store(user.api, "UPDATE services SET message = 'started' WHERE name = %s", name)
    result = swsctl(["get", name], user.env)
    assert result.exit_code == 0, result.output
    text = result.output
    for expected in (
        f"Name:               {name}",
        f"Domain:             {user.domain('web')}",
        "Port:               8080",
        "Status:             running",
        "Generation:         1",
        "Applied generation: 1",
        "Message:            started",
        "Last log line:      GET / 200",
        f"DB_PASSWORD={MASK}",
    ):
        assert expected in text
    assert "hunter2" not in text
    assert "DB_PASSWORD=hunter2-secret" in swsctl(["get", name, "--show-secrets"], user.env).output


def test_status_is_get_and_formats_mask_too(user, two_services):
    name = two_services[0]
    as_json = json.loads(swsctl(["status", name, "-o", "json"], user.env).stdout)
    assert as_json["name"] == name and as_json["generation"] == 1
    assert {e["value"] for e in as_json["spec"]["env"]} == {MASK}
    as_yaml = yaml.safe_load(swsctl(["get", name, "-o", "yaml", "--show-secrets"], user.env).stdout)
    assert as_yaml["spec"]["env"][0]["value"] == "hunter2-secret"


def test_get_of_a_missing_or_someone_elses_service_is_not_found(user, other_user, two_services):
    missing = swsctl(["get", "no-such-service"], user.env)
    assert missing.exit_code == 5
    assert "no service named 'no-such-service'" in missing.output
    assert "swsctl ls" in missing.output
    sneaky = swsctl(["get", "../../health"], user.env)  # stays a service name, not a path
    assert sneaky.exit_code == 5
    assert swsctl(["get", two_services[0]], other_user.env).exit_code == 5


# delete --------------------------------------------------------------------------


def test_delete_marks_for_removal_and_blocks_apply_until_gone(user, tmp_path):
    path = write_definition(tmp_path / "web.yaml", user)
    name = user.service_name()
    swsctl(["apply", path], user.env)
    result = swsctl(["delete", name], user.env)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"service/{name} marked for deletion"
    assert "Status:             deleting" in swsctl(["get", name], user.env).output
    again = swsctl(["apply", path], user.env)
    assert again.exit_code == 6
    assert "being deleted" in again.output


def test_delete_of_a_missing_service_is_not_found(user):
    result = swsctl(["delete", "no-such-service"], user.env)
    assert result.exit_code == 5


def test_delete_wait_follows_until_the_service_is_gone(user, tmp_path):
    name = user.service_name()
    swsctl(["apply", write_definition(tmp_path / "web.yaml", user)], user.env)
    removal = AgentStandIn(user.api, name, Store.forget, when_status="deleting")
    with removal:
        result = swsctl(["delete", name, "--wait", "--timeout", "20"], user.env)
    assert result.exit_code == 0, result.output
    assert f"service/{name}: deleting" in result.stderr  # plain progress lines off a terminal
    assert result.stdout.strip().endswith(f"service/{name} deleted")
    assert swsctl(["get", name], user.env).exit_code == 5


def test_delete_purge_marks_the_volume_for_removal(user, tmp_path):
    path = write_definition(tmp_path / "web.yaml", user, volumeMount="/data")
    name = user.service_name()
    swsctl(["apply", path], user.env)
    result = swsctl(["delete", name, "--purge"], user.env)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == (
        f"service/{name} marked for deletion (volume {name}-volume will be removed)"
    )
    assert store(user.api, "SELECT status, purge_volume FROM services WHERE name = %s", name) == [
        ("deleting", True)
    ]
    shown = swsctl(["get", name], user.env).output
    assert f"Purge:              volume {name}-volume" in shown.splitlines()
    assert json.loads(swsctl(["get", name, "-o", "json"], user.env).output)["purge_volume"]


def test_a_plain_delete_keeps_the_volume_and_a_later_purge_still_counts(user, tmp_path):
    name = user.service_name()
    swsctl(["apply", write_definition(tmp_path / "web.yaml", user)], user.env)
    swsctl(["delete", name], user.env)
    assert "Purge:" not in swsctl(["get", name], user.env).output
    assert store(user.api, "SELECT purge_volume FROM services WHERE name = %s", name) == [(False,)]
    assert swsctl(["delete", name, "--purge"], user.env).exit_code == 0
    assert store(user.api, "SELECT purge_volume FROM services WHERE name = %s", name) == [(True,)]


def test_delete_purge_wait_follows_until_the_service_and_volume_are_gone(user, tmp_path):
    name = user.service_name()
    swsctl(["apply", write_definition(tmp_path / "web.yaml", user)], user.env)
    removal = AgentStandIn(
        user.api,
        name,
        lambda agent, name: agent.mark_deleting_problem(name, "volume in use"),
        Store.forget,
        when_status="deleting",
    )
    with removal:
        result = swsctl(["delete", name, "--purge", "--wait", "--timeout", "20"], user.env)
    assert result.exit_code == 0, result.output
    assert f"service/{name}: deleting" in result.stderr
    assert "volume in use" in result.stderr
    assert result.stdout.strip().endswith(f"service/{name} deleted (volume {name}-volume removed)")


# apply --wait --------------------------------------------------------------------


def test_apply_wait_reaches_running(user, tmp_path):
    name = user.service_name()
    with agent_reports_running(user.api, name):
        result = swsctl(
            ["apply", write_definition(tmp_path / "web.yaml", user), "--wait", "--timeout", "20"],
            user.env,
        )
    assert result.exit_code == 0, result.output
    assert f"service/{name}: pending (generation 1, applied 0)" in result.stderr
    assert result.stdout.strip().splitlines() == [
        f"service/{name} created (generation 1)",
        f"service/{name} running (generation 1)",
    ]


def test_apply_wait_ignores_a_running_status_left_from_the_previous_generation(user, tmp_path):
    """running with applied_generation 1 says nothing about generation 2: keep waiting."""
    name = user.service_name()
    path = write_definition(tmp_path / "web.yaml", user)
    swsctl(["apply", path], user.env)
    write_definition(tmp_path / "web.yaml", user, port=9090)
    stale_then_real = AgentStandIn(
        user.api,
        name,
        # Raw SQL: the agent records running only for the current generation (record.py);
        # this stale status is what swsctl must not take for generation 2's.
        lambda agent, name: store(
            user.api,
            "UPDATE services SET status = 'running', applied_generation = 1 WHERE name = %s",
            name,
        ),
        lambda agent, name: agent.mark_running(name, 2),
    )
    with stale_then_real:
        result = swsctl(["apply", path, "--wait", "--timeout", "20"], user.env)
    assert result.exit_code == 0, result.output
    assert f"service/{name}: running (generation 2, applied 1)" in result.stderr
    assert result.stdout.strip().endswith(f"service/{name} running (generation 2)")


def test_apply_wait_reports_the_agents_failure_and_exits_1(user, tmp_path):
    name = user.service_name()
    failure = AgentStandIn(
        user.api,
        name,
        lambda agent, name: agent.mark_failed(
            name, "image pull failed: manifest unknown", last_log="exec format error"
        ),
    )
    with failure:
        result = swsctl(
            ["apply", write_definition(tmp_path / "web.yaml", user), "--wait", "--timeout", "20"],
            user.env,
        )
    assert result.exit_code == 1
    assert "image pull failed: manifest unknown" in result.stderr
    assert "exec format error" in result.stderr


def test_apply_wait_gives_up_after_the_timeout(user, tmp_path):
    started = time.monotonic()
    result = swsctl(
        ["apply", write_definition(tmp_path / "web.yaml", user), "--wait", "--timeout", "1"],
        user.env,
    )
    assert result.exit_code == 1
    assert "not running yet after 1s (status pending)" in result.stderr
    assert time.monotonic() - started < 10


# Failures a user meets -----------------------------------------------------------


def test_a_wrong_or_revoked_token_is_exit_3(user):
    wrong = swsctl(["ls"], {**user.env, "SWS_TOKEN": "sws_not-a-real-token"})
    assert wrong.exit_code == 3
    assert "refused the access token" in wrong.output
    user.api.revoke_tokens(user.name)
    assert swsctl(["ls"], user.env).exit_code == 3


def test_an_address_that_is_not_the_api_is_not_found(user):
    result = swsctl(["ls"], {**user.env, "SWS_URL": user.url + "/elsewhere"})
    assert result.exit_code == 5
    assert "has no such endpoint; is it an SWS API address?" in result.output


@pytest.fixture
def silent_server():
    """A socket that accepts connections and never answers: a hung server or a black hole."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


def test_a_server_that_does_not_answer_times_out_with_exit_4(user, silent_server):
    started = time.monotonic()
    result = swsctl(["ls", "--request-timeout", "0.5"], {**user.env, "SWS_URL": silent_server})
    assert result.exit_code == 4
    assert "did not answer in time" in result.output
    assert time.monotonic() - started < 5


class BadGateway(BaseHTTPRequestHandler):
    """What the load balancer answers when the apiserver is down: an HTML 502 page."""

    def do_GET(self):  # noqa: N802 (http.server's naming)
        body = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
        self.send_response(502)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def bad_gateway():
    """A stand-in for HAProxy with no healthy apiserver behind it (HAProxy is not run here)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BadGateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_a_502_page_from_the_load_balancer_is_exit_1(user, bad_gateway):
    result = swsctl(["ls"], {**user.env, "SWS_URL": bad_gateway})
    assert result.exit_code == 1
    assert "502 Bad Gateway" in result.output
    assert "load balancer" in result.output


def test_the_apis_own_503_when_its_database_is_gone_is_exit_1(
    pg_server, migrated_template, tmp_path
):
    """A server of its own: this test drops the database under it."""
    live = start_live_api(pg_server.create_database("t_cli_db_gone", template=migrated_template))
    try:
        account = new_account(live, tmp_path)
        conn = psycopg2.connect(pg_server.url())
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute('DROP DATABASE "t_cli_db_gone" WITH (FORCE)')
        conn.close()
        result = swsctl(["ls"], account.env)
        assert result.exit_code == 1, result.output
        assert "503" in result.output
    finally:
        stop_live_api(live)


def test_the_installed_console_script_runs_and_exits_with_the_documented_codes(user, tmp_path):
    """The real `swsctl` executable, as a user's shell starts it."""
    script = os.path.join(os.path.dirname(sys.executable), "swsctl")
    env = {k: v for k, v in {**os.environ, **user.env}.items() if v is not None}
    path = write_definition(tmp_path / "web.yaml", user)

    def run(*args):
        return subprocess.run([script, *args], env=env, capture_output=True, text=True, timeout=60)

    created = run("apply", path)
    assert created.returncode == 0, created.stderr
    assert "created (generation 1)" in created.stdout
    listed = run("ls", "-o", "json")
    assert json.loads(listed.stdout)[0]["name"] == user.service_name()
    missing = run("get", "nope")
    assert missing.returncode == 5
    assert missing.stderr.startswith("Error: ")
    assert "Traceback" not in missing.stderr
    seed = run("apply", str(DATA / "seed-example.yaml"))
    assert seed.returncode == 2
    assert "spec.env[1]" in seed.stderr


def test_apply_wait_on_a_terminal_redraws_one_progress_line(user, tmp_path):
    """Standard error on a real pseudo-terminal: a spinner line rewritten in place."""
    import pty

    script = os.path.join(os.path.dirname(sys.executable), "swsctl")
    env = {k: v for k, v in {**os.environ, **user.env}.items() if v is not None}
    path = write_definition(tmp_path / "web.yaml", user)
    controller, terminal = pty.openpty()
    try:
        with agent_reports_running(user.api, user.service_name()):
            run = subprocess.run(
                [script, "apply", path, "--wait", "--timeout", "20"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=terminal,
                text=True,
                timeout=60,
            )
        os.close(terminal)
        terminal = None
        shown = b""
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the terminal's other end is closed and drained
                break
            if not chunk:
                break
            shown += chunk
    finally:
        if terminal is not None:
            os.close(terminal)
        os.close(controller)
    assert run.returncode == 0, shown
    text = shown.decode()
    assert "\r\x1b[K" in text
    assert f"service/{user.service_name()}: pending" in text
    assert "\r\n" not in text  # no plain lines (the terminal turns \n into \r\n): one, redrawn
    assert run.stdout.strip().endswith("running (generation 1)")
