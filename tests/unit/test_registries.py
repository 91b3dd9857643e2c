"""Which registry an image names (issue 26): the shared floor's rule and the collection's copy
agree, and the operator's list admits what it names."""

import pytest

from swsagent import collection
from swscore import registries

IMAGES = {
    "sws-local/hello:2": None,
    "nginx": None,
    "library/nginx:1": None,
    "registry.example.com/a/app:1": "registry.example.com",
    "10.0.0.5:5000/a/app@sha256:" + "0" * 64: "10.0.0.5:5000",
    "localhost/x": "localhost",
}


@pytest.mark.parametrize(("image", "address"), IMAGES.items())
def test_registry_address_agrees_with_the_collection(image, address):
    assert registries.registry_address(image) == address
    assert collection.module_utils("imagepull").registry_address(image) == address


def test_split_reference():
    split = collection.module_utils("imagepull").split_reference
    assert split("10.0.0.5:5000/a/app") == ("10.0.0.5:5000/a/app", "latest")
    assert split("10.0.0.5:5000/a/app:1") == ("10.0.0.5:5000/a/app", "1")
    assert split("r.io/a@sha256:ab") == ("r.io/a", "sha256:ab")


def test_allowed_list():
    assert registries.allowed("r.io:5000", ())
    assert registries.allowed("r.io:5000", ("r.io",))
    assert not registries.allowed("other.io", ("r.io",))


def test_own_addresses_are_refused_by_the_deploy():
    pull = collection.module_utils("imagepull")
    problem = pull.registry_problem("127.0.0.1:5000", [], own={"127.0.0.1"})
    assert problem and "this host itself" in problem
