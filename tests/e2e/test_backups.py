"""Backups on the real host (issue 27), with two real users: the project's PostgreSQL as a
service of A's stack, holding real rows on its volume; `swsctl backup`'s API takes a copy
(the recreate service is held for it and serves again after), the copy is downloaded; the
service is deleted with purge (its backups go too) and made again, empty; the download is
restored into it through the API's upload; the rows are back. B can neither list, download
nor restore A's backup. Budget: about 60 s on the bootstrapped host.
"""

from __future__ import annotations

import subprocess
import time
import uuid

import pytest

from tests.e2e import test_agent
from tests.e2e.test_agent import docker
from tests.e2e.test_stacks import PGDATA, Tenant, passes_until, status_is

pytestmark = pytest.mark.e2e

agent_host = test_agent.agent_host


def psql(container: str, sql: str) -> str:
    return docker("exec", container, "psql", "-U", "app", "-d", "app", "-tAc", sql).strip()


def running_container(service: str) -> str:
    names = docker("ps", "--filter", f"label=sws.service={service}", "--format", "{{.Names}}")
    return names.split()[0]


def running_containers(service: str) -> list[str]:
    return docker("ps", "--filter", f"label=sws.service={service}", "-q").split()


def until_psql(service: str, sql: str, seconds: float = 30.0) -> str:
    """The server accepts connections a moment after its container is ready."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return psql(running_container(service), sql)
        except (IndexError, subprocess.CalledProcessError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def state_is(tenant: Tenant, path: str, states: tuple[str, ...]):
    return lambda: tenant.api("GET", path).json().get("state") in states


def test_a_backup_brings_a_purged_database_back_and_stays_its_owners(agent_host, bootstrapped_host):
    tag = uuid.uuid4().hex[:6]
    alice, bob = Tenant(agent_host, f"alice-{tag}"), Tenant(agent_host, f"bob-{tag}")
    db = f"bdb-{tag}"
    spec = {
        "name": db,
        "port": 5432,
        "image": bootstrapped_host.images["postgres"],
        "stack": "shop",
        "volumeMount": PGDATA,
        "env": [
            {"name": "POSTGRES_USER", "value": "app"},
            {"name": "POSTGRES_PASSWORD", "value": "pw-" + tag},
        ],
    }
    alice.apply(**spec)
    try:
        passes_until(agent_host, status_is(alice, db, "running"), what="the database starts")
        until_psql(db, "CREATE TABLE t (id int primary key, note text)")
        psql(
            running_container(db),
            "INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 500) g",
        )

        taken = alice.api("POST", f"/services/{db}/backups")
        assert taken.status_code == 201, taken.text
        path = f"/services/{db}/backups/{taken.json()['id']}"
        passes_until(agent_host, state_is(alice, path, ("kept", "failed")), what="the copy")
        kept = alice.api("GET", path).json()
        assert kept["state"] == "kept" and kept["size_bytes"] > 0, kept
        passes_until(agent_host, status_is(alice, db, "running"), what="serving after the copy")
        download = alice.api("GET", f"{path}/download")
        assert download.status_code == 200 and len(download.content) == kept["size_bytes"]

        # B sees nothing of it, and cannot restore it into A's service.
        for what in ("", f"/{kept['id']}", f"/{kept['id']}/download"):
            assert bob.api("GET", f"/services/{db}/backups{what}").status_code == 404
        body = {"backup": kept["id"]}
        assert bob.api("POST", f"/services/{db}/restores", json=body).status_code == 404

        # A purge takes the volume and its backups; the service made again starts empty.
        assert alice.api("DELETE", f"/services/{db}?purge=true").status_code == 202
        passes_until(
            agent_host,
            lambda: alice.api("GET", f"/services/{db}").status_code == 404,
            what="the purge",
        )
        assert alice.api("GET", f"/services/{db}/backups").status_code == 404
        alice.apply(**spec)
        passes_until(agent_host, status_is(alice, db, "running"), what="the new database")
        assert until_psql(db, "SELECT to_regclass('t') IS NULL") == "t"

        restore = alice.api(
            "POST", f"/services/{db}/restores", data=download.content,
            headers={"Content-Type": "application/x-tar"},
        )  # fmt: skip
        assert restore.status_code == 202, restore.text
        rpath = f"/services/{db}/restores/{restore.json()['id']}"
        passes_until(agent_host, state_is(alice, rpath, ("done", "failed")), what="the restore")
        assert alice.api("GET", rpath).json()["state"] == "done", alice.api("GET", rpath).text
        # Its status stayed `running` while the restore held it: wait for its container.
        passes_until(agent_host, lambda: running_containers(db), what="serving after restore")
        assert until_psql(db, "SELECT count(*), max(note) FROM t") == "500|row 99"
    finally:
        alice.api("DELETE", f"/services/{db}?purge=true")
        agent_host.run_pass(check=False)
        agent_host.settle()
