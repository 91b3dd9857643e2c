"""Env values as the user wrote them, both ways through swsctl and the live API.

Unquoted YAML scalars (`0755`, `yes`, `1.50`), JSON numbers and hostile text are stored and
shown exactly as written; `swsctl get -o yaml|json --show-secrets` applies back as
`unchanged`; its masked form is refused rather than storing the mask.
"""

from __future__ import annotations

import json

import pytest
import requests
import yaml

from tests.integration import test_cli_commands as cli_tests
from tests.unit.test_render_literal import NASTY

# The CLI tests' live apiserver (one a module) and fresh users, and their helpers.
api, user = cli_tests.api, cli_tests.user
store, swsctl = cli_tests.store, cli_tests.swsctl

AS_WRITTEN = """apiVersion: v1
spec:
  name: {name}
  port: 8080
  domain: {name}.test
  image: registry.example.com/team/web:1.0
  env:
    - {{name: MODE, value: 0755}}
    - {{name: DEBUG, value: yes}}
    - {{name: RATIO, value: 1.50}}
    - {{name: WORKERS, value: 4}}
    - {{name: BIG, value: 1e3}}
    - {{name: HEX, value: 0x1F}}
    - {{name: DAY, value: 2001-01-01}}
    - {{name: QUOTED, value: "true"}}
"""
WRITTEN = {
    "MODE": "0755",
    "DEBUG": "yes",
    "RATIO": "1.50",
    "WORKERS": "4",
    "BIG": "1e3",
    "HEX": "0x1F",
    "DAY": "2001-01-01",
    "QUOTED": "true",
}


def stored_env(user, name: str) -> dict:
    (spec,) = store(user.api, "SELECT spec FROM services WHERE name = %s", name)[0]
    return {e["name"]: e["value"] for e in spec["env"]}


def test_unquoted_yaml_scalars_are_stored_as_written(user, tmp_path):
    name = user.service_name("written")
    (tmp_path / "d.yaml").write_text(AS_WRITTEN.format(name=name))
    result = swsctl(["apply", str(tmp_path / "d.yaml")], user.env)
    assert result.exit_code == 0, result.output
    assert stored_env(user, name) == WRITTEN
    shown = swsctl(["get", name, "-o", "json", "--show-secrets"], user.env)
    assert {e["name"]: e["value"] for e in json.loads(shown.output)["spec"]["env"]} == WRITTEN


def test_json_numbers_are_stored_as_written(user):
    name = user.service_name("jsonnum")
    env = '[{"name": "A", "value": 1.50}, {"name": "B", "value": 1e3}, {"name": "C", "value": 4},'
    env += ' {"name": "D", "value": true}]'
    text = (
        f'{{"apiVersion": "v1", "spec": {{"name": "{name}", "port": 8080,'
        f' "domain": "{name}.test", "image": "web:1", "env": {env}}}}}'
    )
    # Through swsctl (which reads JSON's numbers from the text) ...
    assert swsctl(["apply", "-"], user.env, input=text).exit_code == 0
    assert stored_env(user, name) == {"A": "1.50", "B": "1e3", "C": "4", "D": "true"}
    # ... and straight to the API, which keeps each number's text too.
    answer = requests.put(
        f"{user.url}/v1/services/{name}",
        data=text.replace("1.50", "2.50"),
        headers={"Authorization": f"Bearer {user.token}", "Content-Type": "application/json"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    assert stored_env(user, name)["A"] == "2.50"


@pytest.mark.parametrize("fmt, load", [("yaml", yaml.safe_load), ("json", json.loads)])
def test_get_output_applies_back_unchanged(user, tmp_path, fmt, load):
    name = user.service_name(f"back{fmt}")
    env = [{"name": f"V{i}", "value": value} for i, value in enumerate(NASTY)]
    document = {
        "apiVersion": "v1",
        "spec": {
            "name": name,
            "port": 8080,
            "domain": f"{name}.test",
            "image": "web:1",
            "env": env,
        },
    }
    created = swsctl(["apply", "-"], user.env, input=json.dumps(document))
    assert created.exit_code == 0, created.output

    shown = swsctl(["get", name, "-o", fmt, "--show-secrets"], user.env)
    assert load(shown.output)["spec"]["env"] == env  # each value as it was sent
    again = swsctl(["apply", "-"], user.env, input=shown.output)
    assert again.exit_code == 0, again.output
    assert again.output.strip() == f"service/{name} unchanged (generation 1)"


def test_masked_get_output_is_refused_not_stored(user):
    name = user.service_name("masked")
    document = {
        "apiVersion": "v1",
        "spec": {
            "name": name,
            "port": 8080,
            "domain": f"{name}.test",
            "image": "web:1",
            "env": [{"name": "TOKEN", "value": "s3cret"}],
        },
    }
    assert swsctl(["apply", "-"], user.env, input=json.dumps(document)).exit_code == 0
    masked = swsctl(["get", name, "-o", "yaml"], user.env).output
    assert "s3cret" not in masked
    refused = swsctl(["apply", "-"], user.env, input=masked)
    assert refused.exit_code == 2
    assert "spec.env[0].value" in refused.output and "--show-secrets" in refused.output
    assert stored_env(user, name) == {"TOKEN": "s3cret"}


def test_a_hand_written_definition_still_reports_unknown_top_level_fields(user, tmp_path):
    text = AS_WRITTEN.format(name=user.service_name("typo")) + "statu: running\n"
    refused = swsctl(["apply", "-"], user.env, input=text)
    assert refused.exit_code == 2 and "statu" in refused.output
