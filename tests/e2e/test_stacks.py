"""Stacks on the real host, with two real users (issue 24).

The project's PostgreSQL runs as a private service of user A's stack, with its data on a volume;
a web service of the same stack writes to it and reads from it by name. An update of the
database while a client writes never runs two servers on the volume, loses no acknowledged
write and starts the server clean; a failed update brings the old server back with its data.
Neither user B's service nor A's own service in another stack reaches the database, by name or
by address. A stack stops bottom-up and its domain answers 503 meanwhile; it starts again
with its data.
"""

from __future__ import annotations

import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests

from tests.e2e import test_agent
from tests.e2e.conftest import fixture_image
from tests.e2e.test_agent import docker, domain
from tests.e2e.test_fair_share import create_user
from tests.e2e.test_jobs import swsctl_run
from tests.e2e.test_logs import swsctl_env

pytestmark = pytest.mark.e2e

APP_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "stackapp"
PGDATA = "/var/lib/postgresql/data"

agent_host = test_agent.agent_host


class Tenant:
    """A real user of the host, with their own token."""

    def __init__(self, host, name: str):
        self.host = host
        self.token = create_user(host, name)

    def api(self, method: str, path: str, headers=None, **kwargs) -> requests.Response:
        headers = {
            "Host": self.host.api_domain,
            "Authorization": f"Bearer {self.token}",
            **(headers or {}),
        }
        return requests.request(
            method, f"{self.host.http}/v1{path}", headers=headers, timeout=15, **kwargs
        )

    def apply(self, **spec) -> None:
        spec.setdefault("env", [])
        answer = self.api(
            "PUT", f"/services/{spec['name']}", json={"apiVersion": "v1", "spec": spec}
        )
        assert answer.status_code in (200, 201), answer.text

    def service(self, name: str) -> dict:
        answer = self.api("GET", f"/services/{name}")
        assert answer.status_code == 200, answer.text
        return answer.json()


def passes_until(host, done, seconds: float = 90.0, what: str = "") -> None:
    """The host's agent passes, one after another, until done() holds."""
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, f"{what}\n{host.last_passes(4)}"
        host.run_pass()
        time.sleep(0.1)


def status_is(tenant: Tenant, name: str, status: str):
    return lambda: tenant.service(name)["status"] == status


class Writer(threading.Thread):
    """A client that writes ids one after another through the web service and keeps the ids
    whose write was acknowledged (a 200: committed before the answer)."""

    def __init__(self, host, web_domain: str, first: int):
        super().__init__(daemon=True)
        self.host, self.domain, self.next = host, web_domain, first
        self.acknowledged: list[int] = []
        self.refused = 0
        self.stop = threading.Event()

    def run(self) -> None:
        session = requests.Session()
        while not self.stop.is_set():
            try:
                answer = session.post(
                    f"{self.host.http}/write?id={self.next}",
                    headers={"Host": self.domain},
                    timeout=5,
                )
                if answer.status_code == 200:
                    self.acknowledged.append(self.next)
                else:
                    self.refused += 1
            except requests.RequestException:
                self.refused += 1
            self.next += 1
            time.sleep(0.02)


def web_get(host, web_domain: str, path: str) -> requests.Response:
    return requests.get(f"{host.http}{path}", headers={"Host": web_domain}, timeout=10)


def stored_ids(host, web_domain: str) -> set[int]:
    answer = web_get(host, web_domain, "/ids")
    assert answer.status_code == 200, answer.text
    return {int(i) for i in answer.text.split(",") if i.strip()}


def container_events(service: str, since: float) -> list[tuple[int, str, str]]:
    """(time in ns, action, container) of the service's containers since `since`."""
    text = docker(
        "events",
        "--since",
        f"{since:.3f}",
        "--until",
        f"{time.time():.3f}",
        "--filter",
        "type=container",
        "--filter",
        f"label=sws.service={service}",
        "--format",
        "{{.TimeNano}} {{.Action}} {{.Actor.Attributes.name}}",
    )
    rows = [line.split(" ", 2) for line in text.splitlines() if line.strip()]
    return [(int(t), action, name) for t, action, name in rows]


def stack_address(container: str, network: str) -> str:
    return docker(
        "inspect",
        "-f",
        '{{(index .NetworkSettings.Networks "' + network + '").IPAddress}}',
        container,
    ).strip()


# A migration, as `manage.py migrate` would be: a schema change and a row, committed together.
MIGRATED_ID = 990001
MIGRATION = f"""
import os, psycopg2
conn = psycopg2.connect(os.environ["DATABASE_URL"])
with conn, conn.cursor() as cur:
    cur.execute("CREATE TABLE IF NOT EXISTS schema_version (version int PRIMARY KEY)")
    cur.execute("INSERT INTO schema_version VALUES (1)")
    cur.execute("INSERT INTO writes VALUES ({MIGRATED_ID})")
print("migrated to 1")
"""


def run_as(tenant: Tenant, name: str, *command: str) -> subprocess.CompletedProcess:
    """`swsctl run` with the tenant's token, the test running the agent's passes."""
    env = {**swsctl_env(tenant.host), "SWS_TOKEN": tenant.token}
    return swsctl_run(tenant.host, env, name, *command)


@pytest.fixture(scope="module")
def stackapp(bootstrapped_host):
    base = docker("inspect", "-f", "{{.Config.Image}}", "sws-apiserver").strip()
    return fixture_image(APP_DIR, "sws-test/stackapp", base)


def test_a_stack_keeps_its_data_through_updates_and_keeps_strangers_out(
    agent_host, bootstrapped_host, stackapp
):
    tag = uuid.uuid4().hex[:6]
    alice, bob = Tenant(agent_host, f"alice-{tag}"), Tenant(agent_host, f"bob-{tag}")
    db, web = f"db-{tag}", f"web-{tag}"
    postgres = bootstrapped_host.images["postgres"]
    password = "pw-" + tag
    db_spec = {
        "name": db,
        "port": 5432,
        "image": postgres,
        "stack": "shop",
        "volumeMount": PGDATA,
        "env": [
            {"name": "POSTGRES_USER", "value": "app"},
            {"name": "POSTGRES_PASSWORD", "value": password},
        ],
    }
    alice.apply(**db_spec)
    alice.apply(
        name=web,
        port=8080,
        domain=domain(web),
        image=stackapp,
        stack="shop",
        env=[{"name": "DATABASE_URL", "value": f"postgresql://app:{password}@{db}:5432/app"}],
    )
    try:
        passes_until(agent_host, status_is(alice, web, "running"), what="the stack starts")
        assert alice.service(db)["status"] == "running"

        # The web service reaches its database by name: writes are stored and read back.
        writer = Writer(agent_host, domain(web), first=1)
        writer.start()
        while len(writer.acknowledged) < 20:
            time.sleep(0.05)

        # A migration as a one-off run of the web service (issue 26): `swsctl run` as alice,
        # in the web service's environment and stack network, against the private database.
        migrated = run_as(alice, web, "python3", "-c", MIGRATION)
        assert migrated.returncode == 0, migrated.stderr
        assert migrated.stdout.splitlines() == ["migrated to 1"], migrated.stdout
        assert MIGRATED_ID in stored_ids(agent_host, domain(web))

        # An update of the database (an env change) while the client writes: a recreate.
        since = time.time()
        old = f"sws-svc-{db}-1"
        db_spec["env"].append({"name": "TZ", "value": "UTC"})
        alice.apply(**db_spec)
        passes_until(agent_host, status_is(alice, db, "running"), what="the db recreate")
        new = f"sws-svc-{db}-2"
        while len(writer.acknowledged) < 60:
            time.sleep(0.05)
        writer.stop.set()
        writer.join()
        events = container_events(db, since)
        died = [t for t, action, name in events if name == old and action == "die"]
        started = [t for t, action, name in events if name == new and action == "start"]
        assert died and started and max(died) < min(started), events
        assert set(writer.acknowledged) <= stored_ids(agent_host, domain(web))
        logs = subprocess.run(["docker", "logs", new], capture_output=True, text=True)
        log = logs.stdout + logs.stderr
        assert "recovery" not in log and "interrupted" not in log, log
        assert docker("inspect", "-f", "{{.RestartCount}}", new).strip() == "0"

        # Strangers: B's service, and A's own service in another stack, reach the database
        # neither by name nor by address; A's web service does.
        before = stored_ids(agent_host, domain(web))
        network = f"sws-stack.alice-{tag}.shop"
        address = stack_address(new, network)
        assert address, docker("inspect", new)
        probe_b, probe_a = f"probe-b-{tag}", f"probe-a-{tag}"
        bob.apply(name=probe_b, port=8080, domain=domain(probe_b), image=stackapp)
        alice.apply(name=probe_a, port=8080, domain=domain(probe_a), image=stackapp, stack="other")
        passes_until(agent_host, status_is(bob, probe_b, "running"), what="the probes start")
        passes_until(agent_host, status_is(alice, probe_a, "running"), what="the probes start")
        for probe in (probe_b, probe_a):
            for target in (db, address):
                seen = web_get(agent_host, domain(probe), f"/reach?host={target}&port=5432").text
                assert seen.startswith("closed"), (probe, target, seen)
        seen = web_get(agent_host, domain(web), f"/reach?host={db}&port=5432").text
        assert seen.strip() == "open", seen

        # The stack stops bottom-up: its domain answers 503 with Retry-After; then it starts
        # again with its data.
        assert bob.api("POST", "/stacks/shop/stop").status_code == 404
        assert alice.api("POST", "/stacks/shop/stop").status_code in (200, 202)
        passes_until(agent_host, status_is(alice, db, "stopped"), what="the stack stops")
        assert alice.service(web)["status"] == "stopped"
        held = web_get(agent_host, domain(web), "/ids")
        assert held.status_code == 503 and held.headers.get("Retry-After"), held.headers
        assert alice.api("POST", "/stacks/shop/start").status_code in (200, 202)
        passes_until(agent_host, status_is(alice, web, "running"), what="the stack starts")
        assert alice.service(db)["status"] == "running"
        assert stored_ids(agent_host, domain(web)) == before

        # A failed update (the new generation listens on no port it names): the old server
        # starts again on its volume and serves its data.
        alice.apply(**{**db_spec, "port": 5433})
        passes_until(agent_host, status_is(alice, db, "failed"), what="the failed db update")
        assert "serves again" in alice.service(db)["message"], alice.service(db)
        deadline = time.monotonic() + 30
        while web_get(agent_host, domain(web), "/ids").status_code != 200:
            assert time.monotonic() < deadline, "the old database did not come back"
            time.sleep(0.2)
        assert stored_ids(agent_host, domain(web)) == before

    finally:
        for name in (web, db, f"probe-a-{tag}"):
            alice.api("DELETE", f"/services/{name}?purge=true")
        bob.api("DELETE", f"/services/probe-b-{tag}?purge=true")
        agent_host.run_pass(check=False)
        agent_host.settle()
