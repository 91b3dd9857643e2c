"""Private registries on the bootstrapped host (issue 26): the installed apiserver seals a
login, this session's agent opens it and checks each deploy with the owner's credentials.

A real registry (tests/fixtures/registry.py: Debian's docker-registry, htpasswd, TLS, a
wtreg-* container and network, its CA in /etc/docker/certs.d for the test only). Alice pushes a
private image and logs in with swsctl's API: her service serves through the edge. Bob, logged
out and then with a wrong password, names the same image (on the host already): refused, with
the registry's words. No password in the agent's state directory. Budget about 60 s (the
registry image is built once, ~45 s, and kept under its content tag).
"""

from __future__ import annotations

import dataclasses
import subprocess
import uuid

import pytest
import yaml

from swsagent import collection
from tests.e2e import test_agent
from tests.fixtures.registry import push, running_registry

agent_host = test_agent.agent_host
USERS = {"alice": "alice-" + uuid.uuid4().hex, "bob": "bob-" + uuid.uuid4().hex}


def make_user(bootstrapped_host, prefix: str) -> tuple[str, str]:
    """A user of the installed apiserver and its token (the host's own command)."""
    name = test_agent.unique(prefix)
    container = bootstrapped_host.settings["sws_apiserver_container"]
    out = subprocess.run(
        ["docker", "exec", container, "sws-apiserver", "users", "create", name],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return name, out.strip().split()[-1]


@pytest.fixture(scope="module")
def registry(agent_host, tmp_path_factory):
    with running_registry(tmp_path_factory.mktemp("registry"), USERS) as running:
        yield running


@pytest.fixture(scope="module")
def host(agent_host, bootstrapped_host, tmp_path_factory):
    """The session's agent, with the host's sealing key (tls_dir) to open credentials."""
    installed = bootstrapped_host.agent_config
    settings = yaml.safe_load(agent_host.config.read_text())
    settings["tls_dir"] = installed.get("tls_dir", "/etc/sws/tls")
    config = tmp_path_factory.mktemp("registry-agent") / "agent.yml"
    config.write_text(yaml.safe_dump(settings))
    return dataclasses.replace(agent_host, config=config)


def as_user(host, token):
    return dataclasses.replace(host, token=token)


def test_private_image_runs_for_its_owner_only(host, bootstrapped_host, registry):
    engine = collection.engine().Engine()
    image = push(engine, registry, test_agent.HELLO, "alice/private:1", "alice")
    _, alice_token = make_user(bootstrapped_host, "alice")
    _, bob_token = make_user(bootstrapped_host, "bob")
    alice, bob = as_user(host, alice_token), as_user(host, bob_token)
    mine, theirs, wrong = (test_agent.unique(p) for p in ("regmine", "regbob", "regwrong"))
    try:
        body = {"username": "alice", "password": registry.users["alice"]}
        assert alice.api("PUT", f"/registries/{registry.address}", json=body).status_code == 200
        alice.apply(mine, image=image)
        bob.apply(theirs, image=image)
        host.run_pass(check=False)
        alice.assert_running(mine)
        refused = bob.service(theirs)
        assert refused["status"] == "failed", refused
        assert "refused the image with no credentials" in refused["message"]

        body = {"username": "bob", "password": "not-" + registry.users["bob"]}
        assert bob.api("PUT", f"/registries/{registry.address}", json=body).status_code == 200
        bob.apply(wrong, image=image)
        host.run_pass(check=False)
        assert "with the owner's credentials" in bob.service(wrong)["message"]

        leaked = [
            p
            for p in host.state_dir.rglob("*")
            if p.is_file() and registry.users["alice"] in p.read_text(errors="ignore")
        ]
        assert leaked == [], "a registry password reached the agent's state directory"
    finally:
        alice.delete(mine)
        bob.delete(theirs)
        bob.delete(wrong)
        host.run_pass(check=False)
        engine.call("DELETE", f"/images/{image}", params={"noprune": 1})
