"""Private registries (issue 26) through a real agent pass: a real registry with htpasswd and
TLS (tests/fixtures/registry.py), the store, the apiserver's login route and ansible-runner.

Alice pushes a private image and logs in: her service runs, and her password is nowhere in the
agent's state directory. Bob names the same image, which is on the host already: logged out,
or with a wrong password, the registry refuses him and his deploy fails saying so. (This
registry lets every user it knows read every repository: a right password of Bob's would pull.
What only Alice's credentials can pull is tested by Bob having none that work.)
"""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from swsagent import collection
from swsagent.config import config_from_mapping
from tests.fixtures.registry import push, registry_image, running_registry
from tests.fixtures.store import Store
from tests.integration.conftest import migrated_app
from tests.integration.test_agent_pass import (  # noqa: F401  (fixtures)
    LABELS,
    REPO,
    clean_services,
    engine_lock,
    hello_image,
    network,
    one_pass,
    row,
)

ALICE_PASSWORD = "alice-" + uuid.uuid4().hex
USERS = {"alice": ALICE_PASSWORD, "bob": "bob-" + uuid.uuid4().hex}
HOST_KEY = X25519PrivateKey.generate()
PUBLIC = base64.b64encode(
    HOST_KEY.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
).decode()


@pytest.fixture(scope="module")
def registry(engine_lock, tmp_path_factory):  # noqa: F811 (pytest fixture)
    with running_registry(tmp_path_factory.mktemp("registry"), USERS) as running:
        yield running


@pytest.fixture(scope="module")
def private_image(registry, hello_image):  # noqa: F811 (pytest fixture)
    """Alice's private image, pushed with her credentials; the host keeps its copy."""
    engine = collection.engine().Engine()
    reference = push(engine, registry, hello_image, "alice/private:1", "alice")
    yield reference
    engine.call("DELETE", f"/images/{reference}", params={"noprune": 1})


@pytest.fixture
def tls_dir(tmp_path):
    """The host's sealing key, where the agent reads it (certs.SEAL_KEY in tls_dir)."""
    directory = tmp_path / "tls"
    directory.mkdir()
    (directory / "seal.key").write_bytes(
        HOST_KEY.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return directory


@pytest.fixture
def store(database_url):
    app = migrated_app(database_url, SWS_CERT_SEAL_KEY=PUBLIC)
    store = Store(app, database_url, owns_app=True)
    store.tokens = {user: store.create_user(user) for user in USERS}
    yield store
    store.close()


@pytest.fixture
def config(database_url, network, tmp_path, tls_dir):  # noqa: F811
    return config_from_mapping(
        {
            "database_url": database_url,
            "project_dir": str(REPO),
            "state_dir": str(tmp_path / "state"),
            "tls_dir": str(tls_dir),
            "ready_timeout": 4,
            "stop_timeout": 2,
            "names": {"services_network": network, "proxies": [], "label_prefix": LABELS},
        }
    )


def login(store, user, host, password):
    client = store.app.test_client()
    answer = client.put(
        f"/v1/registries/{host}",
        json={"username": user, "password": password},
        headers={"Authorization": f"Bearer {store.tokens[user]}"},
    )
    assert answer.status_code == 200, answer.get_json()
    assert password not in answer.get_data(as_text=True)


def apply(store, owner, name, image):
    spec = {"name": name, "port": 8080, "domain": f"{name}.test", "image": image}
    store.apply(owner, spec)


def leaked(directory: Path, secret: str) -> list[Path]:
    return [
        p for p in directory.rglob("*") if p.is_file() and secret in p.read_text(errors="ignore")
    ]


def test_owner_runs_private_image_others_are_refused(config, store, registry, private_image):
    login(store, "alice", registry.address, ALICE_PASSWORD)
    apply(store, "alice", "regalice", private_image)
    apply(store, "bob", "regbob", private_image)  # Bob never logged in
    report = one_pass(config, store.conn)

    assert report.changed.get("deployed") == ["regalice"], report.summary()
    assert row(store, "regalice")["status"] == "running"
    refused = row(store, "regbob")
    assert refused["status"] == "failed"
    assert (
        f"registry {registry.address} refused the image with no credentials" in (refused["message"])
    )
    assert leaked(Path(config.state_dir), ALICE_PASSWORD) == [], "the password reached a file"

    # Wrong credentials: refused too, though the image is on the host.
    login(store, "bob", registry.address, "not-" + USERS["bob"])
    apply(store, "bob", "regbob2", private_image)
    one_pass(config, store.conn)
    wrong = row(store, "regbob2")
    assert wrong["status"] == "failed"
    assert "refused the image with the owner's credentials" in wrong["message"], wrong
    assert len(wrong["message"]) < 300


def test_changed_digest_is_pulled_again(config, store, registry, hello_image):  # noqa: F811
    """A tag whose registry digest differs from the host's copy is pulled before it runs."""
    login(store, "alice", registry.address, ALICE_PASSWORD)
    engine = collection.engine().Engine()
    moved = push(engine, registry, hello_image, "alice/moving:1", "alice")
    # The host's copy of the tag is now another image (an older build, say).
    repository = moved.rpartition(":")[0]
    engine.call("POST", f"/images/{registry_image()}/tag", params={"repo": repository, "tag": "1"})
    try:
        apply(store, "alice", "regmoved", moved)
        one_pass(config, store.conn)
        assert row(store, "regmoved")["status"] == "running", row(store, "regmoved")
        assert engine.image(moved)["Id"] == engine.image(hello_image)["Id"]
    finally:
        engine.call("DELETE", f"/images/{moved}", params={"noprune": 1})
