"""Where user text crosses into a config, a template, a command or a file: the audit as tests.

The crossings, and what guards each:
- Ansible variables (every field): a service host's variables are one unsafe mapping, so
  nothing is templated or retyped (tests/unit/test_render_literal.py, and the real-engine
  round trip in tests/integration/test_env_roundtrip.py).
- nginx (domain, name, port): the spec only accepts characters that are inert in nginx's
  syntax; hostile values are refused at the API naming the field (here, by property).
- Shell, raw commands, HAProxy and file templates: no user variable reaches one (here, by
  reading the playbooks and roles).
- Docker: env, image, name, volume and port go to community.docker as module arguments,
  never through a shell; the volume is always `<name>-volume`.
- The runner's extravars carry only the agent's own settings (reconcile._extravars).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from swsagent.plan import Route
from swsagent.render import routes_conf
from swscore.spec import SpecError, load_definition
from tests.fixtures.contract import repo_names

REPO = Path(__file__).resolve().parents[2]
# Characters that mean something to nginx, a shell, Jinja or YAML, mixed with valid ones.
HOSTILE = st.text(
    alphabet=st.sampled_from(list("ab-.0z;{}$\"'`\\ \t\n\r#/:*=()|&<>%~!@") + ["\u00e9", "\x00"]),
    min_size=1,
    max_size=40,
)
USER_VARIABLES = re.compile(
    r"sws_service_(env|image|domain|volume_mount|name|port|container|keep)\b"
)
COMMAND_MODULES = re.compile(
    r"ansible\.builtin\.(shell|command|raw|script|template|copy|lineinfile)\b|\b(shell|raw):"
)


def definition(**overrides):
    spec = {"name": "web", "port": 8080, "domain": "web.example.com", "image": "web:1"}
    return load_definition({"apiVersion": "v1", "spec": {**spec, **overrides}})


@settings(max_examples=400, deadline=None)
@given(domain=HOSTILE, name=HOSTILE)
def test_domain_and_name_reach_nginx_only_as_inert_tokens(domain, name):
    try:
        accepted = definition(domain=domain, name=name)
    except SpecError as err:
        assert set(err.fields) <= {"spec.domain", "spec.name"}, err.fields
        return
    assert re.fullmatch(r"[a-z0-9.-]+", accepted.domain)
    assert re.fullmatch(r"[a-z0-9-]+", accepted.name)
    text = routes_conf([Route(accepted.domain, accepted.name, "10.0.0.2", 8080)], repo_names())
    assert f"server_name {accepted.domain};" in text
    upstream = "sws_svc_" + accepted.name.replace("-", "_")
    assert f"upstream {upstream} {{" in text and f"proxy_pass http://{upstream};" in text


@pytest.mark.parametrize(
    "field, value",
    [
        ("domain", "a.example.com; return 302 http://evil"),
        ("domain", "a.example.com\nserver_name evil"),
        ("domain", "$host"),
        ("domain", "{{ x }}.example.com"),
        ("name", "web;id"),
        ("name", "{{x}}"),
        ("image", "web:1 --privileged"),
        ("image", "$(id)"),
        ("volumeMount", "/data\nx"),
        ("volumeMount", "/data/../../etc"),
        ("volumeMount", "/{{x}}"),
    ],
)
def test_hostile_values_are_refused_naming_their_field(field, value):
    with pytest.raises(SpecError) as refused:
        definition(**{field: value})
    assert list(refused.value.fields) == [f"spec.{field}"]


def ansible_files() -> list[Path]:
    files = [*REPO.glob("playbooks/**/*.yml"), *REPO.glob("roles/**/*.yml")]
    files += [*REPO.glob("roles/**/*.j2")]
    return [f for f in files if "files/build" not in str(f)]


def test_no_user_variable_reaches_a_command_a_shell_or_a_template():
    for path in ansible_files():
        text = path.read_text()
        if path.suffix == ".j2":
            assert not USER_VARIABLES.search(text), f"{path}: a user value in a template"
            continue
        for task in _tasks(yaml.safe_load(text)):
            body = yaml.safe_dump(task)
            if USER_VARIABLES.search(body):
                assert not COMMAND_MODULES.search(body), f"{path}: {task.get('name')}"


def _tasks(node):
    """Every task mapping in a playbook or task file, blocks included."""
    if isinstance(node, list):
        for item in node:
            yield from _tasks(item)
    elif isinstance(node, dict):
        nested = [node.get(k) for k in ("tasks", "block", "rescue", "always", "pre_tasks")]
        if any(n is not None for n in nested):
            for n in nested:
                yield from _tasks(n)
        else:
            yield node
