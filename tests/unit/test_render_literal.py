"""What a user sends reaches Ansible literally: every value of a service host loads, through
Ansible's own loaders, as the same string, never trusted as a template and never turned into
a number or a boolean (issue: `WORKERS=4` and `DEBUG=true` failed every deploy).

The loaders are ansible-core's internals (the YAML inventory's AnsibleLoader on a trusted
stream, the script inventory's JSON decoder): the point is to test what Ansible does, not a
stand-in for it. The real-engine round trip is tests/integration/test_env_roundtrip.py.
"""

from __future__ import annotations

import json

import yaml
from ansible.module_utils.common.json import get_decoder
from ansible.parsing.yaml.loader import AnsibleLoader
from ansible.plugins.inventory.script import detect_profile_name
from ansible.template import is_trusted_as_template, trust_as_template
from hypothesis import given, settings
from hypothesis import strategies as st

from swsagent.desired import desired_from_row
from swsagent.render import inventory, inventory_json, inventory_yaml
from swscore.spec import NAME_RE, load_definition
from tests.fixtures.contract import repo_names

NAMES = repo_names()
# Values that YAML 1.1, Jinja, a shell or printf would each read as something else.
NASTY = [
    "4",
    "true",
    "yes",
    "no",
    "on",
    "null",
    "~",
    "",
    "1e3",
    "0755",
    "0x1F",
    "1_000",
    ".inf",
    "2001-01-01",
    " lead",
    "trail ",
    "  both  ",
    "{{ lookup('pipe','id') }}",
    "{% for x in range(3) %}{{ x }}{% endfor %}",
    "{# comment #}",
    "$HOME",
    "${HOME}",
    "`id`",
    "$(id)",
    "a=b=c",
    "grüße ünïcödé 日本語 🚀",
    '{"json": [1, true, null]}',
    "%s %d %%",
    "line1\nline2",
    "tab\there",
    "'single'",
    '"double"',
    "back\\slash",
    "!unsafe",
    "&anchor",
    "*alias",
    "- dash",
    "key: value",
    "# hash",
    "@at",
    "|",
    ">",
    "\u2028\u0085",
    "\r\n",
    "\x7f\x01",
]

env_values = st.one_of(
    st.sampled_from(NASTY),
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")),
)
env_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True)


def ansible_yaml(text: str) -> dict:
    """The YAML inventory plugin loads its file as a trusted template source."""
    return yaml.load(trust_as_template(text), Loader=AnsibleLoader)  # noqa: S506


def ansible_script_json(text: str) -> dict:
    """The script inventory plugin's decoder for our dynamic inventory's output."""
    return json.loads(text, cls=get_decoder(detect_profile_name(text)))


def service_row(name: str, env: dict[str, str], volume: str | None = None):
    spec = {
        "name": name,
        "port": 65535,
        "domain": f"{name}.example.com",
        "image": "registry.example.com:5000/team/app:1.2",
        "env": [{"name": k, "value": v} for k, v in env.items()],
    }
    if volume:
        spec["volumeMount"] = volume
    digest = load_definition({"apiVersion": "v1", "spec": spec}).digest()
    return desired_from_row(name, spec["domain"], spec, digest, 7, 6, "pending")


def assert_literal(loaded, expected) -> None:
    """Same structure, every string the same text and untrusted, every number a number."""
    if isinstance(expected, dict):
        assert isinstance(loaded, dict) and set(loaded) == set(expected)
        for key, value in expected.items():
            assert_literal(loaded[key], value)
    elif isinstance(expected, str):
        assert isinstance(loaded, str), f"{expected!r} loaded as {type(loaded).__name__}"
        assert str(loaded) == expected
        assert not is_trusted_as_template(loaded), f"{expected!r} is trusted as a template"
    else:
        # Ansible tags what it loads (a subclass of int, bool...): compare the kind, not the class.
        assert loaded == expected and isinstance(loaded, type(expected))
        assert isinstance(loaded, bool) == isinstance(expected, bool)


@settings(max_examples=300, deadline=None)
@given(
    name=st.from_regex(NAME_RE, fullmatch=True),
    env=st.dictionaries(env_names, env_values, max_size=12),
    volume=st.sampled_from([None, "/data", "/var/lib/@app+1/x.y-z"]),
)
def test_every_service_value_loads_literally_in_both_inventory_forms(name, env, volume):
    inv = inventory([service_row(name, env, volume)], NAMES)
    expected = inv["_meta"]["hostvars"][f"sws-svc-{name}"]
    assert expected["sws_service_env"] == env

    from_yaml = ansible_yaml(inventory_yaml(inv))
    host = from_yaml["all"]["children"]["services"]["hosts"][f"sws-svc-{name}"]
    assert_literal(host, dict(expected))

    from_json = ansible_script_json(inventory_json(inv))
    assert_literal(from_json["_meta"]["hostvars"][f"sws-svc-{name}"], dict(expected))


def test_names_that_look_like_other_types_stay_strings():
    # A DNS label may be "true", "null" or "1e3": the container, volume and labels use it.
    for name in ("true", "null", "no", "1e3", "0755", "4"):
        inv = inventory([service_row(name, {"DEBUG": "true", "WORKERS": "4"})], NAMES)
        loaded = ansible_yaml(inventory_yaml(inv))
        host = loaded["all"]["children"]["services"]["hosts"][f"sws-svc-{name}"]
        assert host["sws_service_name"] == name and isinstance(host["sws_service_name"], str)
        assert host["sws_service_env"] == {"DEBUG": "true", "WORKERS": "4"}


def test_our_own_settings_stay_trusted():
    # The interpreter is a template of ours: it must still be evaluated.
    loaded = ansible_yaml(inventory_yaml(inventory([], NAMES)))
    interpreter = loaded["all"]["vars"]["ansible_python_interpreter"]
    assert interpreter == "{{ ansible_playbook_python }}" and is_trusted_as_template(interpreter)
