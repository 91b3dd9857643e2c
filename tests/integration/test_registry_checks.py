"""The deploy's image check (module_utils/imagepull.py) against a real registry with htpasswd
and TLS (tests/fixtures/registry.py), on the Engine API, without a pass.

Only wtreg-* images, containers and networks: no SWS name is touched, so this module needs
no engine lock. tests/integration/test_registry_pull.py runs the same rule through a pass.
"""

from __future__ import annotations

import uuid

import pytest

from swsagent import collection
from tests.fixtures.registry import docker, push, registry_image, running_registry

USERS = {"alice": "alice-" + uuid.uuid4().hex, "bob": "bob-" + uuid.uuid4().hex}


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    with running_registry(tmp_path_factory.mktemp("registry"), USERS) as running:
        yield running


@pytest.fixture(scope="module")
def engine():
    return collection.engine().Engine()


@pytest.fixture(scope="module")
def pull():
    return collection.module_utils("imagepull")


@pytest.fixture(scope="module")
def pushed(registry, engine):
    """Alice's private image (the registry image itself: it is here), tagged wtreg-*."""
    reference = push(engine, registry, registry_image(), "alice/private:1", "alice")
    yield reference
    docker("rmi", "--no-prune", reference, check=False)


def alice(registry):
    return {"username": "alice", "password": registry.users["alice"]}


def test_owner_keeps_the_cache(registry, engine, pull, pushed):
    assert pull.prepare(engine, pushed, alice(registry), [], True) == "cached"


def test_no_credentials_are_refused_though_the_image_is_here(registry, engine, pull, pushed):
    assert engine.image(pushed) is not None
    with pytest.raises(pull.ImageRefused, match="refused the image with no credentials"):
        pull.prepare(engine, pushed, None, [], True)


def test_wrong_credentials_are_refused(registry, engine, pull, pushed):
    wrong = {"username": "bob", "password": "not-" + registry.users["bob"]}
    with pytest.raises(pull.ImageRefused, match="with the owner's credentials") as refused:
        pull.prepare(engine, pushed, wrong, [], True)
    assert registry.users["bob"] not in str(refused.value)


def test_a_registry_off_the_operators_list_is_refused(registry, engine, pull, pushed):
    with pytest.raises(pull.ImageRefused, match="sws_registries_allowed"):
        pull.prepare(engine, pushed, alice(registry), ["registry.example.com"], True)
    host = registry.address.rpartition(":")[0]
    assert pull.prepare(engine, pushed, alice(registry), [host], True) == "cached"


def test_a_moved_tag_is_pulled(registry, engine, pull, pushed):
    moving = registry.image("alice/moving:1")
    push(engine, registry, registry_image(), "alice/moving:1", "alice")
    repository = moving.rpartition(":")[0]
    try:
        # The host's copy of the tag becomes another image: not the registry's digest.
        other = docker("images", "-q", "--no-trunc", registry_image() + "-rootfs").strip()
        engine.call("POST", f"/images/{other}/tag", params={"repo": repository, "tag": "1"})
        assert pull.prepare(engine, moving, alice(registry), [], True) == "pulled"
        assert engine.image(moving)["Id"] == engine.image(registry_image())["Id"]
        assert pull.prepare(engine, moving, alice(registry), [], True) == "cached"
    finally:
        docker("rmi", "--no-prune", moving, check=False)


def test_the_hosts_own_address_is_no_registry(pull):
    gateway = sorted(a for a in pull.own_addresses() if "." in a and a != "127.0.0.1")
    assert gateway, "this host has addresses beside loopback"
    problem = pull.registry_problem(f"{gateway[0]}:5000", [])
    assert problem and "this host itself" in problem
