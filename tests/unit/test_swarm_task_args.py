"""The swarm deploy task's arguments (issue 28), pure: service_container's reading of them
(module_utils/containerargs.py, shared by both executors) and the registry check and
credentials the swarm_generation plugin gives the nodes before anything runs."""

from __future__ import annotations

import base64
import importlib
import json

import pytest

from swsagent import collection

containerargs = collection.module_utils("containerargs")
imagepull = collection.module_utils("imagepull")
swarm_generation = importlib.import_module(
    "ansible_collections.sws.host.plugins.action.swarm_generation"
)

ARGS = dict(
    container="",
    service="web",
    generation="3",
    digest="d1",
    domain="web.test",
    port="8080",
    image="registry.test/web:1",
    owner="alice",
    containment="v2",
    network="unused",
    label_prefix="sws",
    stop_timeout="10",
    ready_timeout="60",
    replicas="2",
    env_from="sws_service_env",
    registry_auth_from="sws_service_registry_auth",
    registries_allowed=["registry.test"],
)
TASK_VARS = {
    "sws_service_env": {"GREETING": "hi", "N": 1},
    "sws_service_registry_auth": {"username": "alice", "password": "s3cret"},
}


def test_env_and_credentials_come_from_the_host_variables_the_task_names():
    spec, options = containerargs.take(dict(ARGS), TASK_VARS)
    assert spec.env == {"GREETING": "hi", "N": "1"} and spec.replicas == 2
    assert options.auth == TASK_VARS["sws_service_registry_auth"]
    assert options.ready_timeout == 60.0 and options.allowed == ["registry.test"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"label_prefix": None}, "missing required options: ['label_prefix']"),
        ({"volume_node": "n1"}, "unknown options: ['volume_node']"),
    ],
)
def test_a_missing_or_unknown_option_is_named(change, message):
    args = {k: v for k, v in {**ARGS, **change}.items() if v is not None}
    with pytest.raises(containerargs.TaskArgsError, match=message.replace("[", r"\[")):
        containerargs.take(args, TASK_VARS)


def test_the_nodes_pull_with_the_owners_credentials_for_the_images_registry():
    _, options = containerargs.take(dict(ARGS), TASK_VARS)
    header = swarm_generation._registry_header("registry.test/web:1", options)
    sent = json.loads(base64.urlsafe_b64decode(header))
    assert sent == {"username": "alice", "password": "s3cret", "serveraddress": "registry.test"}
    assert swarm_generation._registry_header("sws-local/hello:2", options) is None


def test_a_registry_the_operator_does_not_allow_is_refused_before_anything_runs():
    _, options = containerargs.take(dict(ARGS), TASK_VARS)
    with pytest.raises(imagepull.ImageRefused, match="registry other.test is not one"):
        swarm_generation._registry_header("other.test/web:1", options)
